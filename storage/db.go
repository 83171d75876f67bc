package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultPath is where the agent keeps its database unless configured otherwise.
const DefaultPath = "/var/lib/posagent/posagent.db"

// DefaultLockTimeout is how long Open waits for another process to release the file.
const DefaultLockTimeout = 2 * time.Second

var (
	// ErrNotFound is returned (wrapped) when an order or the credentials do not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrLocked is returned by Open, wrapped with the path, when another
	// process holds the file lock for longer than Options.LockTimeout.
	ErrLocked = errors.New("locked by another process (is another posagent running?)")
	// ErrExists is returned by CreateOrder for a client_sn that is already stored.
	ErrExists = errors.New("storage: order already exists")
)

// CorruptError is returned by Open when the file failed the consistency
// check. The file has been renamed to MovedTo (empty when the rename failed
// or the database was opened read-only) and no new database was created.
type CorruptError struct {
	Path    string
	MovedTo string
	Err     error

	open bool // found on a handle still open read-write; Close moves it aside
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage: %s is corrupt: %v", e.Path, e.Err)
	if e.MovedTo != "" {
		fmt.Fprintf(&b, "; moved aside to %s", e.MovedTo)
	} else if e.open {
		b.WriteString("; it is moved aside when posagent closes it")
	} else {
		b.WriteString("; left in place")
	}
	b.WriteString("; no sales until the terminal is provisioned again or the file is restored")
	return b.String()
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Options tunes Open. A nil *Options means all defaults.
type Options struct {
	// LockTimeout is how long to wait for another process holding the
	// file. Zero or negative means DefaultLockTimeout; bbolt itself would
	// wait forever.
	LockTimeout time.Duration
	// ReadOnly opens the file with a shared lock for reading (e.g. for a
	// CLI); see OpenReadOnly. Nothing is created, migrated, repaired or
	// moved aside.
	ReadOnly bool
	// Check chooses how much of the file Open checks; see CheckMode.
	Check CheckMode
	// Now is the wall clock, for timestamps; nil means time.Now.
	Now func() time.Time
	// Logger receives the loud reports (corruption, repairs); nil means slog.Default().
	Logger *slog.Logger
}

// CheckMode says how much of the file Open checks.
type CheckMode int

const (
	// CheckAuto, the default, keeps Open's cost independent of the
	// history: the two meta pages are checked against the file size (a
	// truncated or overwritten header is found at once), nothing else is
	// read. Whether the previous holder closed the file cleanly is
	// recorded (Unclean); after an unclean shutdown the service runs
	// CheckInBackground, which reads everything without delaying sales.
	CheckAuto CheckMode = iota
	// CheckFull reads and checks everything in Open, as every Open did
	// before schema v3: every page and value, bbolt's Tx.Check, every
	// record and index. A corrupt file is moved aside before Open returns.
	// For `posagent doctor --deep` and tests; its cost grows with the file.
	CheckFull
)

// DB is an open posagent database. It is safe for concurrent use.
type DB struct {
	// mu is held shared by every read and write, exclusively by Close and
	// by Compact while it swaps the file.
	mu       sync.RWMutex
	bolt     *bolt.DB
	closed   bool
	path     string
	readOnly bool
	unclean  bool
	// marked: the clean-close marker is in the file. The first write
	// transaction deletes it (in the same commit), so opening a cleanly
	// closed file writes nothing, and a crash before any write leaves a
	// file that is still exactly as closed.
	marked atomic.Bool
	// owesCheck: the file was not closed cleanly and no Verify passed
	// since; Close then leaves the marker out, so the check is not lost.
	owesCheck atomic.Bool
	now       func() time.Time
	log       *slog.Logger
	commits   atomic.Uint64
	decoded   atomic.Int64 // records decoded by streaming reads, for tests

	// corrupt is set when a check of the open file found it damaged:
	// Close then moves the file aside instead of marking it clean.
	corrupt   atomic.Pointer[CorruptError]
	checking  sync.Mutex // one background check or Verify at a time
	archiving sync.Mutex // one Archive at a time
	bgCancel  atomic.Pointer[context.CancelFunc]
	bgRunning sync.WaitGroup

	lockTimeout time.Duration
}

// Path returns the file name of the database.
func (db *DB) Path() string { return db.path }

// Commits returns the number of write transactions committed through this
// handle. Each costs two fsyncs in bbolt.
func (db *DB) Commits() uint64 { return db.commits.Load() }

// Unclean reports whether the previous holder of the file did not close
// it (power cut, SIGKILL, crash), or the file predates the clean-close
// marker. The caller then runs CheckInBackground.
func (db *DB) Unclean() bool { return db.unclean }

// Close marks the file as closed cleanly (one commit) and releases it and
// its lock. If a check found the file corrupt while it was open, Close
// instead moves it aside (as Open would) and returns the *CorruptError.
func (db *DB) Close() error {
	if c := db.bgCancel.Load(); c != nil {
		(*c)()
	}
	db.bgRunning.Wait()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	ce := db.corrupt.Load()
	var markErr error
	if !db.readOnly && ce == nil && !db.marked.Load() && !db.owesCheck.Load() {
		markErr = db.bolt.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyCleanClose, []byte(db.now().UTC().Format(time.RFC3339)))
		})
		if markErr == nil {
			db.commits.Add(1)
		}
	}
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("storage: close %s: %w", db.path, err)
	}
	if ce != nil && !db.readOnly {
		return db.quarantine(ce.Err)
	}
	if markErr != nil {
		// Not fatal: the next Open sees an unclean shutdown and checks.
		db.log.Warn("storage: could not mark the database closed cleanly; the next start checks it", "path", db.path, "err", hint(markErr))
	}
	return nil
}

// OpenReadOnly opens an existing database for reading, for the CLI's
// read-only commands. It never creates a file or a directory (an error
// naming the path when the file does not exist), never writes, and takes
// bbolt's shared lock: any number of readers at once. While the service
// holds the file (its exclusive lock), OpenReadOnly waits up to
// Options.LockTimeout and fails with ErrLocked naming the file: the CLI
// asks the running service through its control socket instead. A file at
// an older schema version is refused (the service migrates it at start).
func OpenReadOnly(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.ReadOnly = true
	return Open(path, &o)
}

// Open opens (or creates, mode 0600) the database at path, migrates it to
// the current schema and checks it: its header by default, everything
// with Options.Check = CheckFull (see CheckMode). See the package
// documentation for what happens to a corrupt file.
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if path == "" {
		path = DefaultPath
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	path = filepath.Clean(path)
	db := &DB{path: path, readOnly: o.ReadOnly, now: o.Now, log: o.Logger, lockTimeout: o.LockTimeout}

	if err := prepareFile(path, o.ReadOnly, o.Logger); err != nil {
		return nil, err
	}

	// Cheap checks first: a truncated file would make bbolt read beyond the
	// end of its memory map (SIGBUS) before Tx.Check gets a chance.
	warn, err := checkMetaPages(path)
	if err != nil && isCorruption(err) && !o.ReadOnly {
		// Another posagent may be writing the file this very moment: look
		// again holding the lock before acting on what we saw.
		unlock, lerr := lockFile(path, o.LockTimeout)
		if lerr != nil {
			return nil, lerr
		}
		warn, err = checkMetaPages(path)
		if err != nil && isCorruption(err) {
			err = db.moveAside(err)
			unlock()
			return nil, err
		}
		unlock()
	}
	if err != nil {
		if isCorruption(err) {
			return nil, db.moveAside(err) // read-only: reported, left in place
		}
		return nil, err
	}
	if warn != "" {
		db.log.Warn("storage: one bbolt meta page is invalid; using the other one (the last transaction may have been rolled back)",
			"path", path, "detail", warn)
	}

	_, statErr := os.Stat(path)
	existed := statErr == nil
	if err := db.openBolt(o.LockTimeout); err != nil {
		return nil, err
	}

	if o.Check == CheckFull {
		if err := db.checkPages(context.Background(), true); err != nil {
			_ = db.bolt.Close()
			return nil, db.quarantine(err)
		}
	}

	if err := db.migrate(); err != nil {
		_ = db.bolt.Close()
		var ce *CorruptError
		if errors.As(err, &ce) {
			return nil, db.quarantine(ce.Err)
		}
		return nil, err
	}

	if o.Check == CheckFull {
		if err := db.checkRecords(context.Background()); err != nil {
			_ = db.bolt.Close()
			var ce *CorruptError
			if errors.As(err, &ce) {
				return nil, db.quarantine(ce.Err)
			}
			return nil, err
		}
	}

	if err := db.takeCleanMark(existed, o.Check == CheckFull); err != nil {
		_ = db.bolt.Close()
		return nil, err
	}
	return db, nil
}

// takeCleanMark reads the clean-close marker. It stays in the file until
// the first write (see update).
func (db *DB) takeCleanMark(existed, checked bool) error {
	var clean bool
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		clean = tx.Bucket(bucketMeta).Get(keyCleanClose) != nil
		return nil
	}); err != nil {
		return opError("open", err)
	}
	db.marked.Store(clean)
	db.unclean = existed && !clean
	db.owesCheck.Store(db.unclean && !checked)
	if db.owesCheck.Load() && !db.readOnly {
		db.log.Warn("storage: the database was not closed cleanly (power cut, crash or kill); it will be checked in the background", "path", db.path)
	}
	return nil
}

// prepareFile creates the directory (0700) when it is missing and checks
// that an existing file is a regular file readable only by its owner,
// tightening it when it is not (it holds the terminal key).
func prepareFile(path string, readOnly bool, log *slog.Logger) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) && !readOnly {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("storage: create directory %s for the database: %w", dir, hint(err))
		}
		// MkdirAll honours the umask; be explicit about the mode we promise.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("storage: chmod directory %s: %w", dir, err)
		}
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if readOnly {
			return fmt.Errorf("storage: %s does not exist (read-only open creates nothing): %w", path, ErrNotFound)
		}
		return nil
	case err != nil:
		return fmt.Errorf("storage: stat %s: %w", path, hint(err))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("storage: %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && !readOnly {
		log.Warn("storage: database file was readable by others; tightening to 0600", "path", path, "mode", perm.String())
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("storage: chmod 0600 %s: %w", path, hint(err))
		}
	}
	return nil
}

// openBolt opens the bbolt file with a lock timeout, protected against
// faults on a damaged file.
func (db *DB) openBolt(timeout time.Duration) error {
	var f *os.File // captured so a panic inside bolt.Open does not leak the lock
	bo := &bolt.Options{
		Timeout:  timeout,
		ReadOnly: db.readOnly,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			var err error
			f, err = os.OpenFile(name, flag, perm)
			return f, err
		},
	}
	var bdb *bolt.DB
	err := protect(func() error {
		var err error
		bdb, err = bolt.Open(db.path, 0o600, bo)
		return err
	})
	var pe *faultError
	switch {
	case err == nil:
		db.bolt = bdb
		return nil
	case errors.As(err, &pe):
		if f != nil {
			// bbolt's mapping of the file keeps it referenced, and with it
			// the flock: release the lock explicitly, then the descriptor.
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			_ = f.Close()
		}
		return db.quarantine(err)
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("storage: %s is %w", db.path, ErrLocked)
	case isCorruption(err):
		return db.quarantine(err)
	default:
		return fmt.Errorf("storage: open %s: %w", db.path, hint(err))
	}
}

// isCorruption tells whether an error from opening the file means its
// content is damaged (as opposed to permissions, locks or I/O trouble).
func isCorruption(err error) bool {
	var me *metaError
	return errors.As(err, &me) ||
		errors.Is(err, berrors.ErrInvalid) ||
		errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrVersionMismatch) ||
		strings.Contains(err.Error(), "file size too small")
}

// quarantine moves the file aside, holding its lock so that no other process
// is using it meanwhile, and reports it loudly. The bbolt handle must be
// closed (or never opened).
func (db *DB) quarantine(cause error) error {
	if db.readOnly {
		return db.moveAside(cause)
	}
	unlock, err := lockFile(db.path, db.lockTimeout)
	if err != nil {
		db.log.Error("storage: database file looks corrupt but could not be locked to move it aside",
			"path", db.path, "err", cause, "lock_err", err)
		return fmt.Errorf("%w (it also failed the consistency check: %v)", err, cause)
	}
	defer unlock()
	return db.moveAside(cause)
}

// moveAside renames the file to <path>.corrupt-<UTC time> and reports it
// loudly. It never creates a new database: the caller decides (a later
// Open does). Read-only handles leave the file in place.
func (db *DB) moveAside(cause error) error {
	ce := &CorruptError{Path: db.path, Err: cause}
	if db.readOnly {
		db.log.Error("storage: database file is corrupt; opened read-only, so it is left in place",
			"path", db.path, "err", cause)
		return ce
	}
	stamp := db.now().UTC().Format("20060102T150405Z")
	target := db.path + ".corrupt-" + stamp
	for i := 1; ; i++ {
		if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
			break
		}
		target = fmt.Sprintf("%s.corrupt-%s-%d", db.path, stamp, i)
	}
	if err := os.Rename(db.path, target); err != nil {
		ce.Err = fmt.Errorf("%w; could not move it aside: %w", cause, hint(err))
		db.log.Error("storage: DATABASE FILE IS CORRUPT and could not be moved aside; refusing to use it",
			"path", db.path, "err", ce.Err)
		return ce
	}
	syncDir(filepath.Dir(db.path))
	ce.MovedTo = target
	db.log.Error("storage: DATABASE FILE IS CORRUPT; moved aside, a new empty database will need provisioning",
		"path", db.path, "moved_to", target, "err", cause)
	return ce
}

// lockFile takes the same exclusive flock bbolt uses, waiting up to
// timeout, and returns its release.
func lockFile(path string, timeout time.Duration) (unlock func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s to lock it: %w", path, hint(err))
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("storage: %s is %w", path, ErrLocked)
			}
			return nil, fmt.Errorf("storage: lock %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond) // bbolt polls its flock the same way
	}
}

// syncDir makes a rename durable; errors are not fatal (the rename happened).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// faultError is a panic or memory fault inside bbolt while reading a damaged file.
type faultError struct{ v any }

func (e *faultError) Error() string { return fmt.Sprintf("reading the file faulted: %v", e.v) }

// protect runs fn with memory faults turned into panics and panics into
// errors. bbolt reads pages through mmap; on a damaged file a bad page id
// points outside the mapping and would otherwise crash the process.
func protect(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &faultError{r}
		}
	}()
	return fn()
}

// update runs fn in one read-write transaction (one commit, two fsyncs)
// and counts it.
func (db *DB) update(op string, fn func(tx *bolt.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("storage: %s: %s is open read-only", op, db.path)
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	var unmarked bool
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if unmarked = db.marked.Load(); unmarked {
			return tx.Bucket(bucketMeta).Delete(keyCleanClose)
		}
		return nil
	})
	if err != nil {
		return opError(op, err)
	}
	if unmarked {
		db.marked.Store(false)
	}
	db.commits.Add(1)
	return nil
}

// view runs fn in a read transaction.
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.bolt.View(fn)
}

// opError prefixes err with the operation, keeping our own messages as they are.
func opError(op string, err error) error {
	if strings.HasPrefix(err.Error(), "storage: ") {
		return err
	}
	return fmt.Errorf("storage: %s: %w", op, hint(err))
}

// hint adds a human-readable diagnosis to the I/O errors a terminal meets
// in the field. bbolt formats some of them with %s, so the text is matched
// too.
func hint(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) ||
		strings.Contains(msg, "no space left") || strings.Contains(msg, "file too large") || strings.Contains(msg, "quota exceeded"):
		return fmt.Errorf("disk full or file size limit reached; this change was not saved, earlier ones are intact: %w", err)
	case errors.Is(err, syscall.EROFS) || strings.Contains(msg, "read-only file system"):
		return fmt.Errorf("filesystem is read-only (SD card remounted after errors?): %w", err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("permission denied (run as the posagent service user, who must be able to write the file and its directory): %w", err)
	}
	return err
}

// metaError describes a damaged bbolt header found by checkMetaPages.
type metaError struct{ msg string }

func (e *metaError) Error() string { return e.msg }

// bbolt's on-disk meta page (go.etcd.io/bbolt internal/common/meta.go and
// page.go): a 16-byte page header, then magic, version, pageSize, flags
// (uint32 each), root bucket {pgid, sequence}, freelist pgid, high-water
// pgid, txid and an FNV-64a checksum of everything before it, in the
// machine's byte order.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	noFreelist     = ^uint64(0)
)

type boltMeta struct {
	pageSize               uint32
	root, freelist, pgid   uint64
	txid                   uint64
	magicOK, versionOK, ok bool
}

func parseMeta(b []byte) boltMeta {
	e := binary.NativeEndian
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	var bm boltMeta
	bm.magicOK = e.Uint32(m[0:]) == boltMagic
	bm.versionOK = e.Uint32(m[4:]) == boltVersion
	bm.pageSize = e.Uint32(m[8:])
	bm.root = e.Uint64(m[16:])
	bm.freelist = e.Uint64(m[32:])
	bm.pgid = e.Uint64(m[40:])
	bm.txid = e.Uint64(m[48:])
	h := fnv.New64a()
	h.Write(m[:56])
	bm.ok = bm.magicOK && bm.versionOK && h.Sum64() == e.Uint64(m[56:])
	return bm
}

// checkMetaPages reads the two meta pages and checks that the one bbolt
// will use fits in the file. A missing or empty file passes (bbolt creates
// it). warn is set when one meta page is bad and bbolt will use the other.
func checkMetaPages(path string) (warn string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("storage: open %s: %w", path, hint(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("storage: stat %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return "", nil
	}
	read := func(off int64) ([]byte, error) {
		b := make([]byte, pageHeaderSize+metaSize)
		_, err := f.ReadAt(b, off)
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return b, err
	}
	b0, err := read(0)
	if err != nil {
		return "", fmt.Errorf("storage: read %s: %w", path, err)
	}
	if b0 == nil {
		return "", &metaError{fmt.Sprintf("file is only %d bytes, too short for a bbolt header", size)}
	}
	m0 := parseMeta(b0)
	pageSize := int64(m0.pageSize)
	if !m0.ok {
		pageSize = int64(os.Getpagesize())
	}
	var m1 boltMeta
	if pageSize > 0 && pageSize <= 1<<20 {
		b1, err := read(pageSize)
		if err != nil {
			return "", fmt.Errorf("storage: read %s: %w", path, err)
		}
		if b1 != nil {
			m1 = parseMeta(b1)
		}
	}
	// Same choice as bbolt's DB.meta: the valid meta with the highest txid.
	var m boltMeta
	switch {
	case m0.ok && m1.ok && m1.txid > m0.txid:
		m = m1
	case m0.ok:
		m = m0
		if !m1.ok {
			warn = "meta page 1 fails its checksum"
		}
	case m1.ok:
		m = m1
		warn = "meta page 0 fails its checksum"
	case !m0.magicOK && !m1.magicOK:
		return "", &metaError{"not a bbolt database (no valid header magic)"}
	default:
		return "", &metaError{"both bbolt meta pages fail their checksum"}
	}
	ps := uint64(m.pageSize)
	if ps < 512 || ps > 1<<20 || ps&(ps-1) != 0 {
		return "", &metaError{fmt.Sprintf("implausible page size %d", ps)}
	}
	if m.pgid < 2 || m.root >= m.pgid || (m.freelist != noFreelist && m.freelist >= m.pgid) {
		return "", &metaError{fmt.Sprintf("meta page is inconsistent (root %d, freelist %d, high-water mark %d)", m.root, m.freelist, m.pgid)}
	}
	if m.pgid > uint64(size)/ps {
		return "", &metaError{fmt.Sprintf("file is truncated: %d bytes, but its meta page says %d pages of %d bytes", size, m.pgid, ps)}
	}
	return warn, nil
}
