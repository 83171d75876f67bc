package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesPrivateFileAndDir(t *testing.T) {
	e := newEnv(t)
	e.path = filepath.Join(filepath.Dir(e.path), "var", "lib", "posagent", "posagent.db")
	db := e.open(t)
	defer db.Close()
	if db.Path() != e.path {
		t.Errorf("Path() = %q, want %q", db.Path(), e.path)
	}
	fi, err := os.Stat(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode %v, want 0600", got)
	}
	for _, dir := range []string{filepath.Dir(e.path), filepath.Dir(filepath.Dir(e.path))} {
		di, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := di.Mode().Perm(); got != 0o700 {
			t.Errorf("dir %s mode %v, want 0700", dir, got)
		}
	}
	st, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.SchemaVersion != SchemaVersion() || st.Orders != 0 || st.Provisioned || !st.CreatedAt.Equal(e.clock.Now()) {
		t.Errorf("fresh stats = %+v", st)
	}
	if _, err := db.Credentials(); !errors.Is(err, ErrNotFound) {
		t.Errorf("Credentials on a fresh db: %v, want ErrNotFound", err)
	}
}

func TestOpenTightensLooseFileMode(t *testing.T) {
	e := newEnv(t)
	e.open(t).Close()
	if err := os.Chmod(e.path, 0o644); err != nil {
		t.Fatal(err)
	}
	db := e.open(t)
	defer db.Close()
	fi, _ := os.Stat(e.path)
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode after reopen %v, want 0600", got)
	}
	if !strings.Contains(e.logs.String(), "tightening to 0600") {
		t.Errorf("no warning logged: %s", e.logs)
	}
}

func TestOpenDefaults(t *testing.T) {
	// A nil *Options must work (defaults), on a path given by the caller.
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := Order{AmountCents: 1}
	if err := db.CreateOrder(&o, ""); err != nil {
		t.Fatal(err)
	}
	if o.ClientSN != "0000000001" || o.CreatedAt.IsZero() {
		t.Errorf("order = %+v", o)
	}
}

func TestOpenNotADirectoryOrFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Open(dir) = %v, want 'not a regular file'", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.db"), &Options{ReadOnly: true}); !errors.Is(err, ErrNotFound) {
		t.Errorf("read-only Open of a missing file = %v, want ErrNotFound", err)
	}
}

// TestLockHeldByAnotherProcess holds the lock in a child process (the
// real case: a second posagent) and checks the error names the file.
func TestLockHeldByAnotherProcess(t *testing.T) {
	if isChild() {
		db, err := Open(os.Getenv("DB"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		os.Stdout.WriteString("LOCKED\n")
		io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
		return
	}
	e := newEnv(t)
	e.open(t).Close()
	cmd, stdin, sc, stderr := startChild(t, "TestLockHeldByAnotherProcess", []string{"DB=" + e.path}, nil)
	var out strings.Builder
	if _, ok := waitLine(sc, "LOCKED", &out); !ok {
		t.Fatalf("child never took the lock:\n%s%s", &out, stderr)
	}
	_, err := Open(e.path, e.opts())
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while locked = %v, want ErrLocked", err)
	}
	want := "storage: " + e.path + " is locked by another process (is another posagent running?)"
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	// While the other process holds the file, even a file that looks
	// corrupt to us (it may be mid-write) is never moved from under it.
	overwrite(t, e.path, 16, bytes.Repeat([]byte{0xAB}, 64))
	overwrite(t, e.path, 4096+16, bytes.Repeat([]byte{0xAB}, 64))
	if _, err := Open(e.path, e.opts()); !errors.Is(err, ErrLocked) {
		t.Errorf("Open of a locked, corrupt-looking file = %v, want ErrLocked", err)
	}
	if _, err := os.Stat(e.path); err != nil {
		t.Errorf("file moved while another process held it: %v", err)
	}
	stdin.Close()
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr)
	}
	// Released: now it is ours to move aside.
	expectCorrupt(t, e, "not a bbolt database")
}

func TestSecondHandleInSameProcessTimesOut(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	o := e.opts()
	o.LockTimeout = 50 * time.Millisecond
	if _, err := Open(e.path, o); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	// The first handle still works.
	mustCreate(t, db, 100)
}

// makeHistory creates n orders, some final, and closes the db.
func makeHistory(t *testing.T, e *env, n int) []Order {
	t.Helper()
	db := e.open(t)
	defer db.Close()
	var out []Order
	for i := 0; i < n; i++ {
		o := mustCreate(t, db, int64(100+i))
		if i%3 != 0 {
			o.State, o.Final = "paid", true
			if err := db.PutOrder(&o); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, o)
		e.clock.Advance(time.Minute)
	}
	return out
}

// expectCorrupt opens e.path with the full check (what `doctor --deep`
// and a start after an unclean shutdown run) and checks the whole
// corrupt-file contract.
func expectCorrupt(t *testing.T, e *env, wantInErr string) {
	t.Helper()
	before := fileHash(t, e.path)
	full := e.opts()
	full.Check = CheckFull
	db, err := Open(e.path, full)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a corrupt file")
	}
	t.Logf("Open: %v", err)
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Open = %v (%T), want *CorruptError", err, err)
	}
	if !strings.Contains(err.Error(), wantInErr) {
		t.Errorf("error %q does not mention %q", err, wantInErr)
	}
	wantName := e.path + ".corrupt-" + e.clock.Now().UTC().Format("20060102T150405Z")
	if ce.Path != e.path || ce.MovedTo != wantName {
		t.Errorf("CorruptError{Path:%q MovedTo:%q}, want MovedTo %q", ce.Path, ce.MovedTo, wantName)
	}
	if _, err := os.Stat(e.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open left or created a file at %s: %v", e.path, err)
	}
	if got := fileHash(t, ce.MovedTo); got != before {
		t.Error("moved file's bytes differ from the original")
	}
	if !strings.Contains(e.logs.String(), "level=ERROR") || !strings.Contains(e.logs.String(), "CORRUPT") {
		t.Errorf("corruption not logged loudly:\n%s", e.logs)
	}
	// A later Open starts an empty, unprovisioned database and says where the old one is.
	db, err = Open(e.path, e.opts())
	if err != nil {
		t.Fatalf("Open after moving aside: %v", err)
	}
	defer db.Close()
	if _, err := db.Credentials(); !errors.Is(err, ErrNotFound) {
		t.Errorf("new db has credentials: %v", err)
	}
	st, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Orders != 0 || len(st.MovedAside) != 1 || st.MovedAside[0] != wantName {
		t.Errorf("stats after reset = %+v", st)
	}
}

func TestCorruptTruncated(t *testing.T) {
	for _, tc := range []struct {
		name string
		size func(int64) int64
		want string
	}{
		{"half", func(n int64) int64 { return n / 2 }, "truncated"},
		{"last used page gone", nil, "truncated"},
		{"header only", func(int64) int64 { return 100 }, ""},
		{"tiny", func(int64) int64 { return 10 }, "too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			makeHistory(t, e, 300)
			fi, _ := os.Stat(e.path)
			size := fi.Size()
			if tc.size != nil {
				size = tc.size(size)
			} else {
				// bbolt grows the file ahead of use; cut exactly the
				// highest page in use, which the meta page points below.
				raw, _ := os.ReadFile(e.path)
				m0, m1 := parseMeta(raw[:80]), parseMeta(raw[4096:4096+80])
				size = int64(max(m0.pgid, m1.pgid)-1) * 4096
			}
			if err := os.Truncate(e.path, size); err != nil {
				t.Fatal(err)
			}
			expectCorrupt(t, e, tc.want)
		})
	}
}

func TestCorruptGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	t.Run("whole file", func(t *testing.T) {
		e := newEnv(t)
		makeHistory(t, e, 50)
		fi, _ := os.Stat(e.path)
		if err := os.WriteFile(e.path, garbage(int(fi.Size())), 0o600); err != nil {
			t.Fatal(err)
		}
		expectCorrupt(t, e, "not a bbolt database")
	})
	t.Run("both meta pages", func(t *testing.T) {
		e := newEnv(t)
		makeHistory(t, e, 50)
		overwrite(t, e.path, 16, garbage(64))
		overwrite(t, e.path, 4096+16, garbage(64))
		expectCorrupt(t, e, "not a bbolt database")
	})
	t.Run("every data page", func(t *testing.T) {
		e := newEnv(t)
		makeHistory(t, e, 300)
		fi, _ := os.Stat(e.path)
		overwrite(t, e.path, 2*4096, garbage(int(fi.Size())-2*4096))
		expectCorrupt(t, e, "")
	})
	for _, kind := range []string{"leaf", "branch"} {
		t.Run("one "+kind+" page", func(t *testing.T) {
			e := newEnv(t)
			makeHistory(t, e, 300)
			id := findPage(t, e.path, kind)
			overwrite(t, e.path, id*4096, garbage(4096))
			expectCorrupt(t, e, "")
		})
	}
	t.Run("page header of a leaf", func(t *testing.T) {
		// Only the 16-byte page header: the page id no longer matches.
		e := newEnv(t)
		makeHistory(t, e, 300)
		id := findPage(t, e.path, "leaf")
		overwrite(t, e.path, id*4096, garbage(16))
		expectCorrupt(t, e, "")
	})
	t.Run("bit rot inside a stored order", func(t *testing.T) {
		// The page structure is intact (Tx.Check passes) but one byte of
		// a record changed: the record's checksum catches it. The
		// record starts with its client_sn field: tag 1<<1|1, length
		// 2×13 (record.go).
		e := newEnv(t)
		orders := makeHistory(t, e, 20)
		raw, _ := os.ReadFile(e.path)
		needle := append([]byte{3, 26}, orders[7].ClientSN...)
		i := bytes.Index(raw, needle)
		if i < 0 || bytes.Index(raw[i+1:], needle) >= 0 {
			t.Fatal("order record not found once in the file")
		}
		overwrite(t, e.path, int64(i+len(needle)-1), []byte{'X'})
		expectCorrupt(t, e, "fails its checksum")
	})
}

// One bad meta page is bbolt's normal torn-write protection: it falls back
// to the other meta. That must open (with a warning), not be moved aside.
func TestOneBadMetaPageFallsBack(t *testing.T) {
	e := newEnv(t)
	makeHistory(t, e, 10)
	// Find which meta is newer and damage the older one; the newer one holds all commits.
	raw, _ := os.ReadFile(e.path)
	m0, m1 := parseMeta(raw[:80]), parseMeta(raw[4096:4096+80])
	older := int64(0)
	if m1.txid < m0.txid {
		older = 4096
	}
	overwrite(t, e.path, older+16, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	db := e.open(t)
	defer db.Close()
	st, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Orders != 10 {
		t.Errorf("orders = %d, want 10", st.Orders)
	}
	if !strings.Contains(e.logs.String(), "one bbolt meta page is invalid") {
		t.Errorf("no warning about the damaged meta page:\n%s", e.logs)
	}
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// findPage returns the id of a reachable page of the given type ("leaf",
// "branch"), found with bbolt's own page inspector.
func findPage(t *testing.T, path, kind string) int64 {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var found int64 = -1
	bdb.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return nil
			}
			if p.Type == kind {
				found = int64(id)
				return nil
			}
		}
	})
	if found < 0 {
		t.Fatalf("no %s page in %s", kind, path)
	}
	return found
}

func TestIndexRepairedNotReset(t *testing.T) {
	e := newEnv(t)
	orders := makeHistory(t, e, 12)
	// Damage only derived data: drop a pending entry, add a stale one,
	// drop a client_sn index entry, skew a counter and set the client_sn
	// counter back.
	bdb, err := bolt.Open(e.path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		p := tx.Bucket(bucketOpen)
		if err := p.Delete(seqKey(orders[0].Seq)); err != nil {
			return err
		}
		if err := p.Put(seqKey(orders[1].Seq), orderKey(orders[1].CreatedAt, orders[1].Seq)); err != nil { // orders[1] is final
			return err
		}
		if err := tx.Bucket(bucketBySN).Delete([]byte(orders[5].ClientSN)); err != nil {
			return err
		}
		if err := putTotals(tx.Bucket(bucketStats), "paid", stateTotals{1, 2, 3}); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, 3)
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	db := e.open(t)
	defer db.Close()
	if err := db.Verify(t.Context()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !strings.Contains(e.logs.String(), "rebuilt them") {
		t.Errorf("repair not logged:\n%s", e.logs)
	}
	pend, err := db.PendingOrders()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range pend {
		got = append(got, o.ClientSN)
	}
	var want []string
	paid := 0
	for i, o := range orders {
		if i%3 == 0 {
			want = append(want, o.ClientSN)
		} else {
			paid++
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pending after repair = %v, want %v", got, want)
	}
	if _, err := db.GetOrder(orders[5].ClientSN); err != nil {
		t.Errorf("order whose index entry was lost: %v", err)
	}
	if st, _ := db.Stats(); st.Orders != len(orders) || st.ByState["paid"] != paid {
		t.Errorf("stats after repair %+v, want %d orders, %d paid", st, len(orders), paid)
	}
	// The counter was raised: the next client_sn is new.
	n := mustCreate(t, db, 1)
	if n.Seq != uint64(len(orders)+1) {
		t.Errorf("next seq %d, want %d", n.Seq, len(orders)+1)
	}
	// A second check has nothing to repair.
	e.logs = &syncBuffer{}
	db.log = slog.New(slog.NewTextHandler(e.logs, nil))
	if err := db.Verify(t.Context()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.logs.String(), "rebuilt") {
		t.Errorf("second check repaired again:\n%s", e.logs)
	}
}

// TestMigrateFromV1 builds a file with only the first migration (the first
// release's layout, with orders in it) and opens it with this build.
func TestMigrateFromV1(t *testing.T) {
	e := newEnv(t)
	bdb, err := bolt.Open(e.path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	created := e.clock.Now()
	err = bdb.Update(func(tx *bolt.Tx) error {
		if err := migrations[0].apply(tx, created); err != nil {
			return err
		}
		for i := uint64(1); i <= 3; i++ {
			o := Order{ClientSN: "OLD" + string(rune('0'+i)), Seq: i, AmountCents: 500, State: "paid", Final: i != 2,
				CreatedAt: created.Add(time.Duration(i) * time.Minute)}
			if err := putJSON(tx.Bucket(bucketOrders), []byte(o.ClientSN), o); err != nil {
				return err
			}
			if !o.Final {
				tx.Bucket(bucketPending).Put(seqKey(i), []byte(o.ClientSN))
			}
		}
		if err := putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, 3); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketMeta), keySchemaVersion, 1)
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	db := e.open(t)
	defer db.Close()
	st, _ := db.Stats()
	if st.SchemaVersion != SchemaVersion() || st.Orders != 3 || st.Pending != 1 {
		t.Errorf("after migration: %+v", st)
	}
	list, err := db.ListOrders(Filter{})
	if err != nil || len(list) != 3 || list[0].ClientSN != "OLD3" {
		t.Errorf("ListOrders after migration = %v, %v", list, err)
	}
	if !strings.Contains(e.logs.String(), "schema migrated") || !strings.Contains(e.logs.String(), "from=1") {
		t.Errorf("migration not logged:\n%s", e.logs)
	}
	if err := db.Verify(t.Context()); err != nil || strings.Contains(e.logs.String(), "rebuilt") {
		t.Errorf("migration left indexes needing a repair (%v):\n%s", err, e.logs)
	}
}

func TestRefuseNewerSchema(t *testing.T) {
	e := newEnv(t)
	e.open(t).Close()
	bdb, _ := bolt.Open(e.path, 0o600, &bolt.Options{Timeout: time.Second})
	bdb.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketMeta), keySchemaVersion, SchemaVersion()+1)
	})
	bdb.Close()
	before := fileHash(t, e.path)
	_, err := Open(e.path, e.opts())
	if err == nil || !strings.Contains(err.Error(), "newer than this posagent") {
		t.Fatalf("Open of a newer schema = %v", err)
	}
	var ce *CorruptError
	if errors.As(err, &ce) {
		t.Error("a newer schema is not corruption")
	}
	if fileHash(t, e.path) != before {
		t.Error("file changed")
	}
}

func TestReadOnlyOpen(t *testing.T) {
	e := newEnv(t)
	orders := makeHistory(t, e, 5)
	o := e.opts()
	o.ReadOnly = true
	db, err := Open(e.path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.GetOrder(orders[2].ClientSN)
	if err != nil || got.AmountCents != orders[2].AmountCents {
		t.Errorf("GetOrder = %+v, %v", got, err)
	}
	x := Order{AmountCents: 1}
	if err := db.CreateOrder(&x, ""); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("CreateOrder on read-only = %v", err)
	}
	// Two readers share the lock.
	db2, err := Open(e.path, o)
	if err != nil {
		t.Fatalf("second read-only Open: %v", err)
	}
	db2.Close()
}

// TestCheckFindsUnreachablePage damages only the page accounting (the meta
// page's high-water mark, with a valid checksum), which no read faults on:
// bbolt's Tx.Check must find it.
func TestCheckFindsUnreachablePage(t *testing.T) {
	e := newEnv(t)
	makeHistory(t, e, 30)
	raw, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	if parseMeta(raw[4096:4096+80]).txid > parseMeta(raw[:80]).txid {
		off = 4096
	}
	m := raw[off+16 : off+16+64]
	m0 := parseMeta(raw[off : off+80])
	if int64(m0.pgid+1)*4096 > int64(len(raw)) {
		t.Fatalf("no slack in file to raise the high-water mark")
	}
	binary.NativeEndian.PutUint64(m[40:], m0.pgid+1)
	h := fnv.New64a()
	h.Write(m[:56])
	binary.NativeEndian.PutUint64(m[56:], h.Sum64())
	overwrite(t, e.path, off+16, m)
	expectCorrupt(t, e, "unreachable unfreed")
}
