package storage

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Archives keep the database small whatever the history. Archive moves
// final orders into one file per UTC month, orders-YYYY-MM.jsonl.gz in the
// archive directory: gzip'd JSON lines (one Order per line, newest first),
// readable with zcat and jq during an incident, and next to it
// orders-YYYY-MM.idx, the month's client_sns sorted, one per line, so that
// GetOrder finds the month of an archived order without reading every
// file. The database keeps nothing per archived order (only a count), so
// its size follows the orders it holds, not the history. Exports merge
// the files in. The database copy of an order always wins over a line in
// an archive file: an archived order that changes again (a refund months
// later) is brought back into the database by PutOrder, and its stale
// line is ignored from then on.

// ArchiveResult tells what Archive did.
type ArchiveResult struct {
	Archived   int      // orders moved from the database to archive files
	Kept       int      // orders before the date left in the database: not final, or a refund not confirmed
	Files      []string // archive files written
	SizeBefore int64    // database file size before
	SizeAfter  int64    // and after compaction
}

// archiveName is the file holding the orders of month m.
func archiveName(dir string, m time.Time) string {
	return filepath.Join(dir, "orders-"+m.Format("2006-01")+".jsonl.gz")
}

// indexName is the sorted client_sn list of an archive file.
func indexName(archive string) string {
	return strings.TrimSuffix(archive, ".jsonl.gz") + ".idx"
}

// Archivable tells whether Archive may move o out of the database: it is
// Settled.
func Archivable(o Order) bool { return Settled(o) }

// Settled tells whether o can no longer change by itself: it is final and
// its last refund request, if any, has an outcome. An order whose refund is
// not yet confirmed is not final to anyone reading it (issue 13: `orders
// show` said final while the engine still had to learn the refund's
// outcome). Refund requests are the engine's history notes
// "refund requested <no> <cents>" and "refund closed <no> ..."
// (agent/refund.go).
func Settled(o Order) bool {
	no, _ := PendingRefund(o)
	return o.Final && no == ""
}

// PendingRefund returns the latest refund request of o that has no outcome
// yet, with its amount, or "" when every request has one. The engine
// writes the requests and their outcomes into the history as
// "refund requested <no> <cents>" and "refund closed <no> ..."
// (agent/refund.go); this is the one reader of those notes.
func PendingRefund(o Order) (requestNo string, amountCents int64) {
	open := map[string]int64{}
	var order []string
	for _, t := range o.History {
		f := strings.Fields(t.Note)
		if len(f) < 3 || f[0] != "refund" {
			continue
		}
		switch f[1] {
		case "requested":
			if len(f) < 4 {
				continue
			}
			amt, err := strconv.ParseInt(f[3], 10, 64)
			if err != nil {
				continue
			}
			open[f[2]] = amt
			order = append(order, f[2])
		case "closed":
			delete(open, f[2])
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		if a, ok := open[order[i]]; ok {
			return order[i], a
		}
	}
	return "", 0
}

// Archive moves the orders created before `before` that are Archivable
// into the month files in dir (created 0700), then compacts the database.
// A month file is written whole to a temporary file, fsynced and renamed
// (with its directory fsynced) before any of its orders is deleted from
// the database; a crash in between leaves the orders in both places,
// and the database copy is the one that counts. Orders are deleted in
// batches of short transactions, each checking that the order did not
// change since it was written out (a sale or refund meanwhile keeps it).
// The refund log entries made before `before` are dropped too (never
// those of the last two days; see dropRefundLog).
//
// Selling goes on during Archive: reads and writes interleave with it,
// except during the compaction at the end (see Compact). The archive
// directory is recorded in the database; later calls must use the same.
func (db *DB) Archive(before time.Time, dir string) (ArchiveResult, error) {
	var res ArchiveResult
	if db.readOnly {
		return res, fmt.Errorf("storage: archive: %s is open read-only", db.path)
	}
	if dir == "" {
		return res, fmt.Errorf("storage: archive: no archive directory given")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return res, fmt.Errorf("storage: archive: %w", err)
	}
	db.archiving.Lock()
	defer db.archiving.Unlock()
	if err := db.setArchiveDir(dir); err != nil {
		return res, err
	}
	if fi, err := os.Stat(db.path); err == nil {
		res.SizeBefore = fi.Size()
	}
	var first []byte
	if err := db.view(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketOrderRecs).Cursor().First()
		first = append(first, k...)
		return nil
	}); err != nil {
		return res, opError("archive", err)
	}
	if first != nil {
		created, _, _ := parseOrderKey(first)
		for m := monthOf(created); m.Before(before); m = m.AddDate(0, 1, 0) {
			until := m.AddDate(0, 1, 0)
			if before.Before(until) {
				until = before
			}
			if err := db.archiveMonth(dir, m, until, &res); err != nil {
				return res, err
			}
			db.dropMapped() // the month's pages, read twice and rewritten
		}
	}
	db.dropMapped() // the pages the passes above touched
	// The refunds made before the date belong to days reported long ago,
	// as their orders do (whether or not those orders could go).
	dropped, err := db.dropRefundLog(before)
	if err != nil {
		return res, err
	}
	if res.Archived > 0 {
		if err := db.Compact(); err != nil {
			return res, err
		}
	}
	if fi, err := os.Stat(db.path); err == nil {
		res.SizeAfter = fi.Size()
	}
	db.log.Info("storage: orders archived", "path", db.path, "dir", dir, "before", before.UTC().Format(time.RFC3339),
		"archived", res.Archived, "kept", res.Kept, "refund_log_dropped", dropped, "size_before", res.SizeBefore, "size_after", res.SizeAfter)
	return res, nil
}

func (db *DB) setArchiveDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("storage: archive directory %s: %w", dir, hint(err))
	}
	have, err := db.archiveDir()
	if err != nil {
		return err
	}
	if have == dir {
		return nil
	}
	if have != "" {
		return fmt.Errorf("storage: archive: this database's archives are in %s, not %s (move them there or use that directory)", have, dir)
	}
	return db.update("archive", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyArchiveDir, []byte(dir))
	})
}

// archiveDir is where Archive wrote, or "" when it never ran.
func (db *DB) archiveDir() (string, error) {
	var dir string
	err := db.view(func(tx *bolt.Tx) error {
		dir = string(tx.Bucket(bucketMeta).Get(keyArchiveDir))
		return nil
	})
	if err != nil {
		return "", opError("archive", err)
	}
	return dir, nil
}

// recordCRC identifies one version of a stored record (its checksum).
func recordCRC(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (db *DB) archiveMonth(dir string, m, until time.Time, res *ArchiveResult) error {
	// Which orders go: their keys and record checksums.
	pick := map[string]uint32{}
	f := Filter{Since: m, Until: until}
	src := db.liveSource(f)
	for {
		k, err := src.peek()
		if err != nil {
			return opError("archive", err)
		}
		if k == nil {
			break
		}
		o := src.pop()
		if !Archivable(o) {
			res.Kept++
			continue
		}
		pick[string(k)] = 0
	}
	if len(pick) == 0 {
		return nil
	}
	if err := db.view(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketOrderRecs)
		for k := range pick {
			pick[k] = recordCRC(recs.Get([]byte(k)))
		}
		return nil
	}); err != nil {
		return opError("archive", err)
	}
	name := archiveName(dir, m)
	if err := db.writeMonth(name, f, pick); err != nil {
		return err
	}
	res.Files = append(res.Files, name)

	// Delete what was written, in short transactions.
	keys := make([]string, 0, len(pick))
	for k := range pick {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for len(keys) > 0 {
		n := min(len(keys), 2000)
		batch := keys[:n]
		keys = keys[n:]
		err := db.update("archive", func(tx *bolt.Tx) error {
			var moved int64
			recs, bySN := tx.Bucket(bucketOrderRecs), tx.Bucket(bucketBySN)
			for _, k := range batch {
				v := recs.Get([]byte(k))
				if v == nil || recordCRC(v) != pick[k] {
					continue // changed since it was written out: stays here
				}
				var o Order
				if err := decodeOrder([]byte(k), v, &o); err != nil {
					return &CorruptError{Err: err}
				}
				if !Archivable(o) {
					continue
				}
				if err := recs.Delete([]byte(k)); err != nil {
					return err
				}
				if err := bySN.Delete([]byte(o.ClientSN)); err != nil {
					return err
				}
				if err := count(tx, &o, -1); err != nil {
					return err
				}
				res.Archived++
				moved++
			}
			return setArchivedCount(tx, archivedCount(tx)+moved)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// writeMonth writes the month file anew: the orders already in it (except
// those being written again) merged with the picked ones, newest first.
func (db *DB) writeMonth(name string, f Filter, pick map[string]uint32) (err error) {
	tmp := name + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("storage: archive: %w", hint(err))
	}
	defer func() {
		if err != nil {
			_ = out.Close()
			_ = os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(out, 64<<10)
	// BestSpeed: a Pi archives a month of orders in a few seconds; the
	// stronger levels save little on repetitive JSON for several times
	// the CPU.
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	enc := json.NewEncoder(zw)

	var old *fileSource
	if _, err := os.Stat(name); err == nil {
		old, err = openFileSource(name, Filter{})
		if err != nil {
			return err
		}
		defer old.close()
	}
	live := db.liveSource(f)
	var sns []string
	for {
		lk, err := live.peek()
		if err != nil {
			return opError("archive", err)
		}
		if lk != nil {
			if _, ok := pick[string(lk)]; !ok {
				live.pop()
				continue
			}
		}
		var ok []byte
		if old != nil {
			if ok, err = old.peek(); err != nil {
				return err
			}
			if ok != nil {
				if _, again := pick[string(ok)]; again {
					old.pop()
					continue
				}
			}
		}
		var o Order
		switch {
		case lk == nil && ok == nil:
			if err := zw.Close(); err != nil {
				return fmt.Errorf("storage: archive %s: %w", name, hint(err))
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("storage: archive %s: %w", name, hint(err))
			}
			if err := out.Sync(); err != nil {
				return fmt.Errorf("storage: archive %s: %w", name, hint(err))
			}
			if err := out.Close(); err != nil {
				return fmt.Errorf("storage: archive %s: %w", name, hint(err))
			}
			// The index first: until the orders are deleted from the
			// database, their database copies win whichever file is new.
			slices.Sort(sns)
			if err := writeFileSync(indexName(name), []byte(strings.Join(sns, "\n")+"\n")); err != nil {
				return err
			}
			if err := os.Rename(tmp, name); err != nil {
				return fmt.Errorf("storage: archive %s: %w", name, hint(err))
			}
			syncDir(filepath.Dir(name))
			return nil
		case ok == nil || lk != nil && bytes.Compare(lk, ok) > 0:
			o = live.pop()
		default:
			o = old.pop()
		}
		if err := enc.Encode(o); err != nil {
			return fmt.Errorf("storage: archive %s: %w", name, hint(err))
		}
		sns = append(sns, o.ClientSN)
	}
}

// writeFileSync replaces name atomically: a temporary file, fsynced, renamed.
func writeFileSync(name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("storage: archive: %w", hint(err))
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: archive %s: %w", name, hint(err))
	}
	return nil
}

// fileSource reads one month file, newest first, keeping the orders in
// the filter's range.
type fileSource struct {
	name   string
	f      *os.File
	zr     *gzip.Reader
	dec    *json.Decoder
	lo, hi []byte
	state  string
	next   *Order
	key    []byte
	done   bool
}

func openFileSource(name string, flt Filter) (*fileSource, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("storage: archive %s: %w", name, hint(err))
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: archive %s is damaged: %w", name, err)
	}
	lo, hi := rangeKeys(flt)
	return &fileSource{name: name, f: f, zr: zr, dec: json.NewDecoder(zr), lo: lo, hi: hi, state: flt.State}, nil
}

func (s *fileSource) close() { s.f.Close() }

func (s *fileSource) peek() ([]byte, error) {
	for s.next == nil && !s.done {
		var o Order
		err := s.dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			s.done = true
			s.close()
			break
		}
		if err != nil {
			s.done = true
			s.close()
			return nil, fmt.Errorf("storage: archive %s is damaged: %w", s.name, err)
		}
		o.normalise()
		k := orderKey(o.CreatedAt, o.Seq)
		if s.hi != nil && bytes.Compare(k, s.hi) >= 0 {
			continue
		}
		if s.lo != nil && bytes.Compare(k, s.lo) < 0 {
			s.done = true // newest first: the rest is older still
			s.close()
			break
		}
		s.next, s.key = &o, k
	}
	if s.next == nil {
		return nil, nil
	}
	return s.key, nil
}

func (s *fileSource) pop() Order {
	o := *s.next
	s.next = nil
	return o
}

// archiveSource streams the archive files overlapping f, newest month
// first, keeping only the lines the database's archived index points to
// (not those of orders brought back). nil when nothing was ever archived.
func (db *DB) archiveSource(f Filter) *archiveSource {
	dir, err := db.archiveDir()
	if err != nil || dir == "" {
		return nil
	}
	names, _ := filepath.Glob(filepath.Join(globEscape(dir), "orders-*.jsonl.gz"))
	slices.Sort(names)
	slices.Reverse(names)
	var keep []string
	for _, n := range names {
		m, err := time.Parse("2006-01", strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "orders-"), ".jsonl.gz"))
		if err != nil {
			continue
		}
		if !f.Until.IsZero() && !m.Before(f.Until) || !f.Since.IsZero() && !m.AddDate(0, 1, 0).After(f.Since) {
			continue
		}
		keep = append(keep, n)
	}
	if len(keep) == 0 {
		return nil
	}
	return &archiveSource{db: db, names: keep, flt: f}
}

type archiveSource struct {
	db    *DB
	names []string
	flt   Filter
	cur   *fileSource
	buf   []Order
	keys  [][]byte
	i     int
}

func (s *archiveSource) close() {
	if s.cur != nil {
		s.cur.close()
		s.cur = nil
	}
}

func (s *archiveSource) peek() ([]byte, error) {
	for s.i >= len(s.buf) {
		if err := s.fill(); err != nil {
			return nil, err
		}
		if len(s.buf) == 0 {
			return nil, nil
		}
	}
	return s.keys[s.i], nil
}

func (s *archiveSource) pop() Order {
	o := s.buf[s.i]
	s.buf[s.i] = Order{}
	s.i++
	return o
}

// fill reads chunks until one holds an order still archived, or the
// files end.
func (s *archiveSource) fill() error {
	for {
		read, err := s.fillOnce()
		if err != nil || len(s.buf) > 0 || read == 0 {
			return err
		}
	}
}

// fillOnce reads up to chunkSize lines and keeps those still archived,
// checked in one read transaction.
func (s *archiveSource) fillOnce() (read int, err error) {
	s.buf, s.keys, s.i = s.buf[:0], s.keys[:0], 0
	for len(s.buf) < chunkSize {
		if s.cur == nil {
			if len(s.names) == 0 {
				break
			}
			src, err := openFileSource(s.names[0], s.flt)
			if err != nil {
				return 0, err
			}
			s.cur, s.names = src, s.names[1:]
		}
		k, err := s.cur.peek()
		if err != nil {
			return 0, err
		}
		if k == nil {
			s.cur = nil
			continue
		}
		s.keys = append(s.keys, k)
		s.buf = append(s.buf, s.cur.pop())
	}
	read = len(s.buf)
	if read == 0 {
		return 0, nil
	}
	var keep []bool
	err = s.db.view(func(tx *bolt.Tx) error {
		bySN := tx.Bucket(bucketBySN)
		for _, o := range s.buf {
			keep = append(keep, bySN.Get([]byte(o.ClientSN)) == nil) // the database copy wins
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	j := 0
	for i := range s.buf {
		if keep[i] {
			s.buf[j], s.keys[j] = s.buf[i], s.keys[i]
			j++
		}
	}
	s.buf, s.keys = s.buf[:j], s.keys[:j]
	return read, nil
}

// archivedOrder finds an order in the archive files: the month through
// the index files (newest first, skipping those whose first and last
// client_sn do not bracket it), then its line in the month file.
func (db *DB) archivedOrder(clientSN string) (Order, bool, error) {
	name, err := db.archiveOf(clientSN)
	if name == "" || err != nil {
		return Order{}, false, err
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return Order{}, false, fmt.Errorf("storage: order %q was archived to %s, which is missing: restore the archive files", clientSN, name)
	}
	if err != nil {
		return Order{}, false, fmt.Errorf("storage: archive %s: %w", name, hint(err))
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return Order{}, false, fmt.Errorf("storage: archive %s is damaged: %w", name, err)
	}
	// Lines are Order JSON as encoding/json writes it, client_sn first:
	// only the line that starts with this one is decoded.
	prefix := append(appendJSONString([]byte(`{"client_sn":`), clientSN), ',')
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if line := sc.Bytes(); bytes.HasPrefix(line, prefix) {
			var o Order
			if err := json.Unmarshal(line, &o); err != nil {
				return Order{}, false, fmt.Errorf("storage: archive %s is damaged: %w", name, err)
			}
			o.normalise()
			return o, true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return Order{}, false, fmt.Errorf("storage: archive %s is damaged: %w", name, err)
	}
	return Order{}, false, fmt.Errorf("storage: order %q is in the index of %s but not in the file", clientSN, name)
}

// archiveOf returns the archive file whose index lists clientSN, or "".
func (db *DB) archiveOf(clientSN string) (string, error) {
	dir, err := db.archiveDir()
	if err != nil || dir == "" {
		return "", err
	}
	idxs, _ := filepath.Glob(filepath.Join(globEscape(dir), "orders-*.idx"))
	slices.Sort(idxs)
	slices.Reverse(idxs)
	for _, idx := range idxs {
		found, err := inIndex(idx, clientSN)
		if err != nil {
			return "", err
		}
		if found {
			return strings.TrimSuffix(idx, ".idx") + ".jsonl.gz", nil
		}
	}
	return "", nil
}

// inIndex tells whether sn is a line of the sorted index file: its first
// and last lines are read first, and only a file that brackets sn is read
// whole (a month is a few hundred KB).
func inIndex(name, sn string) (bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return false, fmt.Errorf("storage: archive index %s: %w", name, hint(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return false, err
	}
	head := make([]byte, min(fi.Size(), MaxClientSNLen+1))
	if _, err := f.ReadAt(head, 0); err != nil {
		return false, fmt.Errorf("storage: archive index %s: %w", name, err)
	}
	first, _, _ := bytes.Cut(head, []byte{'\n'})
	tail := make([]byte, min(fi.Size(), MaxClientSNLen+2))
	if _, err := f.ReadAt(tail, fi.Size()-int64(len(tail))); err != nil {
		return false, fmt.Errorf("storage: archive index %s: %w", name, err)
	}
	tail = bytes.TrimSuffix(tail, []byte{'\n'})
	last := tail[bytes.LastIndexByte(tail, '\n')+1:]
	if sn < string(first) || sn > string(last) {
		return false, nil
	}
	all, err := io.ReadAll(f)
	if err != nil {
		return false, fmt.Errorf("storage: archive index %s: %w", name, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	_, found := slices.BinarySearch(lines, sn)
	return found, nil
}

// restoreIfArchived brings an archived order back into the database, so
// that it can change again (a refund).
func (db *DB) restoreIfArchived(clientSN string) error {
	var inDB bool
	if err := db.view(func(tx *bolt.Tx) error {
		inDB = tx.Bucket(bucketBySN).Get([]byte(clientSN)) != nil
		return nil
	}); err != nil {
		return opError("put order", err)
	}
	if inDB {
		return nil
	}
	o, found, err := db.archivedOrder(clientSN)
	if err != nil || !found {
		return err
	}
	err = db.update("restore archived order", func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBySN).Get([]byte(clientSN)) != nil {
			return nil // restored meanwhile
		}
		if err := putOrder(tx, &o, nil); err != nil {
			return err
		}
		return setArchivedCount(tx, archivedCount(tx)-1)
	})
	if err == nil {
		db.log.Info("storage: archived order brought back into the database", "client_sn", clientSN)
	}
	return err
}

// Compact rewrites the database into a new file with bbolt's Compact
// (full pages, no free space), renames it over the old one and reopens
// it. It needs the file to itself: every read and write of this handle
// waits meanwhile (a sale's commit waits, it is not lost), which takes in
// proportion to what the database still holds — after Archive, the
// recent orders only. A running Verify is waited for first, without
// holding up sales. Other processes keep out through the file lock.
func (db *DB) Compact() error {
	if db.readOnly {
		return fmt.Errorf("storage: compact: %s is open read-only", db.path)
	}
	db.checking.Lock() // Verify holds a long read; sales must not queue behind both
	defer db.checking.Unlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return fmt.Errorf("storage: compact: %s is closed", db.path)
	}
	tmp := db.path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: db.lockTimeout})
	if err != nil {
		return fmt.Errorf("storage: compact: %w", hint(err))
	}
	// Small transactions: the copy's memory stays at a few MB (a Pi).
	if err := bolt.Compact(dst, db.bolt, 512<<10); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("storage: compact: %w", hint(err))
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: compact: %w", hint(err))
	}
	if err := os.Rename(tmp, db.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: compact: %w", hint(err))
	}
	syncDir(filepath.Dir(db.path))
	if err := db.bolt.Close(); err != nil {
		db.log.Warn("storage: compact: closing the old file", "err", err)
	}
	if err := db.openBolt(db.lockTimeout); err != nil {
		db.closed = true
		return fmt.Errorf("storage: compact: reopening %s: %w", db.path, err)
	}
	return nil
}
