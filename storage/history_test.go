package storage

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// paidSale is an order shaped like a real paid Upay sale: the fields the
// engine fills through precreate and query (../shared/seeds/003 query
// answer: sn, trade_no, payway; design.md lifecycle: submitting →
// awaiting_payment → paid).
func paidSale(i int, at time.Time) Order {
	return Order{
		Gateway: "upay", AmountCents: int64(100 + i%5000), Subject: "大杯拿铁", Operator: "amy",
		State: "paid", Final: true, GatewayStatus: "PAID",
		SN: fmt.Sprintf("78942592440%05d", i%100000), TradeNo: fmt.Sprintf("2025010122001%010d", i),
		QRCode: "https://qr.shouqianba.com/7894259244067349", Channel: "alipay",
		CreatedAt: at, UpdatedAt: at.Add(20 * time.Second), Deadline: at.Add(4 * time.Minute),
		History: []Transition{
			{At: at, To: "submitting"},
			{At: at.Add(time.Second), From: "submitting", To: "awaiting_payment"},
			{At: at.Add(20 * time.Second), From: "awaiting_payment", To: "paid", Note: "query PAID"},
		},
	}
}

// fillSales stores n paid sales, one every step from start, in batches.
func fillSales(t testing.TB, db *DB, n int, start time.Time, step time.Duration) []Order {
	t.Helper()
	var out []Order
	for done := 0; done < n; {
		batch := make([]Order, 0, min(5000, n-done))
		for len(batch) < cap(batch) {
			batch = append(batch, paidSale(done+len(batch), start.Add(time.Duration(done+len(batch))*step)))
		}
		if err := db.CreateOrders(batch, "T1-", func(_ int, o Order) { out = append(out, o) }); err != nil {
			t.Fatal(err)
		}
		done += len(batch)
	}
	return out
}

// A cleanly closed file opens without reading its history: a damaged
// order page goes unnoticed by Open (and Open writes nothing), and is
// found by Verify, which makes Close move the file aside.
func TestOpenAfterCleanCloseReadsNoHistory(t *testing.T) {
	e := newEnv(t)
	makeHistory(t, e, 300)
	id := findPage(t, e.path, "leaf")
	overwrite(t, e.path, id*4096, make([]byte, 4096))
	db := e.open(t)
	if db.Unclean() {
		t.Error("a cleanly closed file reported as unclean")
	}
	if err := <-db.CheckInBackground(t.Context()); err != nil {
		t.Errorf("background check ran after a clean close: %v", err)
	}
	if db.Commits() != 0 {
		t.Errorf("Open of a clean file committed %d times", db.Commits())
	}
	err := db.Verify(t.Context())
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "moved aside when posagent closes it") {
		t.Fatalf("Verify = %v, want a CorruptError for an open file", err)
	}
	err = db.Close()
	if !errors.As(err, &ce) || ce.MovedTo == "" {
		t.Fatalf("Close = %v, want the file moved aside", err)
	}
	if _, err := os.Stat(e.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still at %s: %v", e.path, err)
	}
	db = e.open(t)
	defer db.Close()
	if st, _ := db.Stats(); st.Orders != 0 || len(st.MovedAside) != 1 || st.MovedAside[0] != ce.MovedTo {
		t.Errorf("after Close moved it aside: %+v", st)
	}
}

// TestUncleanShutdownCheck kills a process holding the database (SIGKILL:
// no Close), damages an order page, and checks that the next Open knows
// the shutdown was unclean and that the background check finds the damage.
func TestUncleanShutdownCheck(t *testing.T) {
	if isChild() {
		db, err := Open(os.Getenv("DB"), nil)
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, db, 1)
		os.Stdout.WriteString("SOLD\n")
		select {} // killed here
	}
	for _, damage := range []bool{false, true} {
		t.Run(fmt.Sprintf("damaged=%t", damage), func(t *testing.T) {
			e := newEnv(t)
			makeHistory(t, e, 300)
			cmd, _, sc, stderr := startChild(t, "TestUncleanShutdownCheck", []string{"DB=" + e.path}, nil)
			var out strings.Builder
			if _, ok := waitLine(sc, "SOLD", &out); !ok {
				t.Fatalf("child did not sell:\n%s%s", &out, stderr)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if damage {
				id := findPage(t, e.path, "leaf")
				overwrite(t, e.path, id*4096, make([]byte, 4096))
			}
			db := e.open(t)
			if !db.Unclean() {
				t.Fatal("Open after SIGKILL did not report an unclean shutdown")
			}
			if !strings.Contains(e.logs.String(), "not closed cleanly") {
				t.Errorf("unclean shutdown not logged:\n%s", e.logs)
			}
			// Selling goes on while the check runs.
			mustCreate(t, db, 2)
			err := <-db.CheckInBackground(t.Context())
			if !damage {
				if err != nil {
					t.Fatalf("background check of a sound file: %v", err)
				}
				db.Close()
				db = e.open(t)
				defer db.Close()
				if db.Unclean() {
					t.Error("still unclean after a passed check and a clean close")
				}
				if st, _ := db.Stats(); st.Orders != 302 {
					t.Errorf("%d orders, want 302", st.Orders)
				}
				return
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("background check = %v, want *CorruptError", err)
			}
			if !strings.Contains(e.logs.String(), "CORRUPT") {
				t.Errorf("not logged loudly:\n%s", e.logs)
			}
			if err := db.Close(); !errors.As(err, &ce) || ce.MovedTo == "" {
				t.Errorf("Close = %v, want the file moved aside", err)
			}
		})
	}
}

// A check cancelled by Close is owed: the next Open is unclean again.
func TestCancelledCheckIsOwed(t *testing.T) {
	e := newEnv(t)
	makeHistory(t, e, 5)
	bdb, err := bolt.Open(e.path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyCleanClose) }) // as after a crash
	bdb.Close()
	db := e.open(t)
	if !db.Unclean() {
		t.Fatal("no marker, yet not unclean")
	}
	db.Close() // no check ran
	db = e.open(t)
	defer db.Close()
	if !db.Unclean() {
		t.Error("the check owed was forgotten by Close")
	}
}

func TestStatsCountersFollowEveryChange(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	model := map[string]*Order{}
	var first, last time.Time
	for i := range 30 {
		o := mustCreate(t, db, int64(100*(i+1)))
		if i == 0 {
			first = o.CreatedAt
		}
		last = o.CreatedAt
		switch i % 4 {
		case 1:
			o.State, o.Final = "paid", true
		case 2:
			o.State, o.Final = "paid", true
			db.PutOrder(&o)
			o.State, o.RefundedCents = "partial_refunded", 50
		case 3:
			o.State, o.Final = "canceled", true
		}
		if err := db.PutOrder(&o); err != nil {
			t.Fatal(err)
		}
		model[o.ClientSN] = &o
		e.clock.Advance(time.Minute)
	}
	check := func(db *DB) {
		t.Helper()
		want := map[string]StateTotal{}
		for _, o := range model {
			w := want[o.State]
			w.Count++
			w.AmountCents += o.AmountCents
			w.RefundedCents += o.RefundedCents
			w.Amount, w.Refunded = Yuan(w.AmountCents), Yuan(w.RefundedCents)
			want[o.State] = w
		}
		st, err := db.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(st.Totals, want) || st.Orders != len(model) || !st.FirstOrder.Equal(first) || !st.LastOrder.Equal(last) {
			t.Errorf("stats %+v\nwant totals %+v, %d orders, %v..%v", st, want, len(model), first, last)
		}
	}
	check(db)
	db.Close()
	db = e.open(t)
	defer db.Close()
	check(db)
}

// TestMigrateFromV2JSON writes a file as schema v2 did (JSON records by
// client_sn, a pending index and a time index; the encoder is
// encoding/json on Order, as v2's putJSON) and opens it. Batches are
// made small so that the migration resumes across transactions; with
// interrupted, the first batch is committed by a process that then
// "crashes" (the file is left half migrated) before the Open.
func TestMigrateFromV2JSON(t *testing.T) {
	for _, interrupted := range []bool{false, true} {
		t.Run(fmt.Sprintf("interrupted=%t", interrupted), func(t *testing.T) { migrateFromV2(t, interrupted) })
	}
}

func migrateFromV2(t *testing.T, interrupted bool) {
	defer func(n int) { migrateBatch = n }(migrateBatch)
	migrateBatch = 7
	e := newEnv(t)
	bdb, err := bolt.Open(e.path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var want []Order
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, m := range migrations[:2] {
			if err := m.apply(tx, e.clock.Now()); err != nil {
				return err
			}
		}
		for i := uint64(1); i <= 40; i++ {
			o := randomOrder(rng, i)
			o.ClientSN = fmt.Sprintf("OLD%04d", i)
			o.CreatedAt = o.CreatedAt.Add(time.Duration(i) * time.Minute)
			o.normalise()
			if err := putJSON(tx.Bucket(bucketOrders), []byte(o.ClientSN), o); err != nil {
				return err
			}
			if !o.Final {
				tx.Bucket(bucketPending).Put(seqKey(i), []byte(o.ClientSN))
			}
			tx.Bucket(bucketByTime).Put(timeKey(o.CreatedAt, i), []byte(o.ClientSN))
			want = append(want, o)
		}
		if err := putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, 30); err != nil { // behind: raised by the migration
			return err
		}
		return putJSON(tx.Bucket(bucketMeta), keySchemaVersion, 2)
	})
	if err == nil && interrupted {
		err = bdb.Update(func(tx *bolt.Tx) error {
			done, err := migrateV3Step(tx)
			if done {
				t.Error("one step migrated everything; the test needs more orders")
			}
			return err
		})
	}
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	db := e.open(t)
	defer db.Close()
	for _, o := range want {
		got, err := db.GetOrder(o.ClientSN)
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Fatalf("after migration\n got %+v %v\nwant %+v", got, err, o)
		}
	}
	st, _ := db.Stats()
	pending := 0
	for _, o := range want {
		if !o.Final {
			pending++
		}
	}
	if st.SchemaVersion != SchemaVersion() || st.Orders != 40 || st.Pending != pending || st.LastSeq != 40 {
		t.Errorf("stats after migration %+v (want 40 orders, %d pending, last seq 40)", st, pending)
	}
	if err := db.Verify(t.Context()); err != nil || strings.Contains(e.logs.String(), "rebuilt") {
		t.Errorf("migrated file fails its check (%v):\n%s", err, e.logs)
	}
	bdb = db.bolt
	bdb.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketOrders, bucketPending, bucketByTime} {
			if tx.Bucket(name) != nil {
				t.Errorf("old bucket %s left behind", name)
			}
		}
		return nil
	})
}

// TestStreamingIsFlat counts decoded records: a list of 50 decodes 50, a
// day's export decodes that day, and a full walk never holds more than
// one chunk decoded ahead of the caller.
func TestStreamingIsFlat(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	start := time.Date(2025, 1, 1, 0, 2, 30, 0, time.UTC)
	orders := fillSales(t, db, 3000, start, 5*time.Minute) // 288 a day, ~10 days
	db.decoded.Store(0)
	list, err := db.ListOrders(Filter{Limit: 50})
	if err != nil || len(list) != 50 || list[0].ClientSN != orders[len(orders)-1].ClientSN {
		t.Fatalf("list 50: %d orders, %v", len(list), err)
	}
	if n := db.decoded.Load(); n != 50 {
		t.Errorf("list of 50 decoded %d records", n)
	}
	day := start.Truncate(24*time.Hour).AddDate(0, 0, 3)
	db.decoded.Store(0)
	var csv strings.Builder
	if err := db.ExportCSV(&csv, Filter{Since: day, Until: day.AddDate(0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(csv.String(), "\n") - 1; rows != 288 || db.decoded.Load() != 288 {
		t.Errorf("one day: %d rows, %d decoded; want 288 and 288", rows, db.decoded.Load())
	}
	db.decoded.Store(0)
	seen, ahead := 0, int64(0)
	var prev Order
	for o, err := range db.Orders(Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if seen > 0 && !o.CreatedAt.Before(prev.CreatedAt) {
			t.Fatalf("not newest first at %d", seen)
		}
		prev = o
		seen++
		ahead = max(ahead, db.decoded.Load()-int64(seen))
	}
	if seen != len(orders) || ahead >= chunkSize {
		t.Errorf("walked %d of %d; up to %d decoded ahead (chunk %d)", seen, len(orders), ahead, chunkSize)
	}
	// Breaking out early stops reading.
	db.decoded.Store(0)
	for range db.Orders(Filter{}) {
		break
	}
	if n := db.decoded.Load(); n > chunkSize {
		t.Errorf("an abandoned walk decoded %d", n)
	}
}

func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "posagent.db")
	_, err := OpenReadOnly(missing, nil)
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenReadOnly of a missing file = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "no")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly created a directory: %v", err)
	}
	e := newEnv(t)
	orders := makeHistory(t, e, 20)
	before := fileHash(t, e.path)
	db, err := OpenReadOnly(e.path, e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetOrder(orders[3].ClientSN); err != nil || got.ClientSN != orders[3].ClientSN {
		t.Errorf("GetOrder = %v", err)
	}
	if st, err := db.Stats(); err != nil || st.Orders != 20 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	if err := db.ExportJSON(&strings.Builder{}, Filter{}); err != nil {
		t.Error(err)
	}
	if err := db.Verify(t.Context()); err != nil {
		t.Error(err)
	}
	if _, err := db.Archive(time.Now(), t.TempDir()); err == nil {
		t.Error("Archive on a read-only handle")
	}
	db.Close()
	if fileHash(t, e.path) != before {
		t.Error("a read-only open changed the file")
	}
	// While the service holds the file (bbolt's exclusive flock), a
	// read-only open waits for the lock and then says who holds it.
	rw := e.open(t)
	defer rw.Close()
	o := e.opts()
	o.LockTimeout = 20 * time.Millisecond
	if _, err := OpenReadOnly(e.path, o); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), e.path) {
		t.Errorf("OpenReadOnly while held = %v, want ErrLocked naming the file", err)
	}
}

// archiveFixture: orders over three months, of every kind Archive must
// tell apart (agent/refund.go writes the refund notes).
func archiveFixture(t *testing.T, e *env, db *DB) (all []Order, want map[string]bool) {
	t.Helper()
	want = map[string]bool{}
	start := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	for i := range 60 {
		at := start.Add(time.Duration(i) * 36 * time.Hour) // spans March..May
		o := paidSale(i, at)
		switch i % 6 {
		case 1:
			o.State, o.Final, o.GatewayStatus = "awaiting_payment", false, "CREATED"
		case 2:
			o.History = append(o.History, Transition{At: at.Add(time.Hour), From: "paid", To: "paid", Note: "refund requested R1 50"})
		case 3:
			o.History = append(o.History,
				Transition{At: at.Add(time.Hour), From: "paid", To: "paid", Note: "refund requested R1 50"},
				Transition{At: at.Add(time.Hour), From: "paid", To: "partial_refunded", Note: "refund closed R1 done"})
			o.State, o.RefundedCents = "partial_refunded", 50
		case 4:
			o.History = append(o.History,
				Transition{At: at.Add(time.Hour), Note: "refund requested R1 50"},
				Transition{At: at.Add(time.Hour), Note: "refund closed R1 refused: no"},
				Transition{At: at.Add(2 * time.Hour), Note: "refund requested R2 50"})
		}
		if err := db.CreateOrder(&o, "A-"); err != nil {
			t.Fatal(err)
		}
		all = append(all, o)
	}
	return all, want
}

func readArchive(t *testing.T, name string) []Order {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []Order
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o Order
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, o)
	}
	return out
}

func TestArchive(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer func() { db.Close() }()
	all, _ := archiveFixture(t, e, db)
	before := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "archive")
	// What may go, decided here from the fixture's construction.
	var gone, kept []Order
	for i, o := range all {
		if o.CreatedAt.Before(before) && (i%6 == 0 || i%6 == 3 || i%6 == 5) {
			gone = append(gone, o)
		} else {
			kept = append(kept, o)
		}
	}
	res, err := db.Archive(before, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Archived != len(gone) || len(res.Files) != 2 {
		t.Fatalf("archived %d in %v, want %d in March and April files", res.Archived, res.Files, len(gone))
	}
	var inFiles []string
	for _, name := range res.Files {
		if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", name, fi.Mode())
		}
		for _, o := range readArchive(t, name) {
			inFiles = append(inFiles, o.ClientSN)
		}
	}
	var goneSN []string
	for _, o := range gone {
		goneSN = append(goneSN, o.ClientSN)
	}
	slices.Sort(inFiles)
	slices.Sort(goneSN)
	if !slices.Equal(inFiles, goneSN) {
		t.Errorf("archive files hold %v\nwant %v", inFiles, goneSN)
	}
	var indexed []string
	for _, name := range res.Files {
		raw, err := os.ReadFile(strings.TrimSuffix(name, ".jsonl.gz") + ".idx")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Fields(string(raw))
		if !slices.IsSorted(lines) {
			t.Errorf("index of %s not sorted: %v", name, lines)
		}
		indexed = append(indexed, lines...)
	}
	slices.Sort(indexed)
	if !slices.Equal(indexed, goneSN) {
		t.Errorf("indexes hold %v\nwant %v", indexed, goneSN)
	}
	if _, err := db.GetOrder("A-9999999999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetOrder of an unknown client_sn = %v, want ErrNotFound", err)
	}
	dup := Order{ClientSN: gone[1].ClientSN, AmountCents: 1}
	if err := db.CreateOrder(&dup, ""); !errors.Is(err, ErrExists) {
		t.Errorf("CreateOrder with an archived client_sn = %v, want ErrExists", err)
	}
	st, _ := db.Stats()
	if st.Orders != len(kept) || st.Archived != len(gone) {
		t.Errorf("stats after archive: %d orders, %d archived; want %d, %d", st.Orders, st.Archived, len(kept), len(gone))
	}
	for _, o := range kept {
		if err := db.view(func(tx *bolt.Tx) error { _, err := getOrder(tx, o.ClientSN); return err }); err != nil {
			t.Errorf("kept order %s (%s) not in the database: %v", o.ClientSN, o.State, err)
		}
	}
	// Archived orders still answer, exports merge them in, in order.
	for _, o := range all {
		got, err := db.GetOrder(o.ClientSN)
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Fatalf("GetOrder(%s) after archive = %+v, %v\nwant %+v", o.ClientSN, got, err, o)
		}
	}
	list, err := db.ListOrders(Filter{})
	if err != nil || len(list) != len(all) {
		t.Fatalf("list after archive: %d, %v", len(list), err)
	}
	for i, o := range list {
		if o.ClientSN != all[len(all)-1-i].ClientSN {
			t.Fatalf("list[%d] = %s, want %s", i, o.ClientSN, all[len(all)-1-i].ClientSN)
		}
	}
	april := Filter{Since: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), Until: before}
	n := 0
	for _, o := range all {
		if !o.CreatedAt.Before(april.Since) && o.CreatedAt.Before(april.Until) {
			n++
		}
	}
	var csv strings.Builder
	if err := db.ExportCSV(&csv, april); err != nil || strings.Count(csv.String(), "\n")-1 != n {
		t.Errorf("April export: %d rows, %v; want %d", strings.Count(csv.String(), "\n")-1, err, n)
	}

	// A refund months later brings the order back.
	back := gone[0]
	back.State, back.RefundedCents = "partial_refunded", 10
	back.History = append(back.History, Transition{At: e.clock.Now(), From: "paid", To: "partial_refunded", Note: "refund closed R1 done"})
	if err := db.PutOrder(&back); err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetOrder(back.ClientSN); err != nil || got.State != "partial_refunded" || got.RefundedCents != 10 {
		t.Errorf("restored order = %+v, %v", got, err)
	}
	list, _ = db.ListOrders(Filter{})
	if len(list) != len(all) {
		t.Errorf("%d orders listed after a restore, want %d (no duplicate)", len(list), len(all))
	}
	if st, _ := db.Stats(); st.Archived != len(gone)-1 || st.Orders != len(kept)+1 {
		t.Errorf("stats after restore: %+v", st)
	}
	// Archiving again rewrites the month with the newer copy, once.
	if _, err := db.Archive(before, dir); err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, o := range readArchive(t, archiveName(dir, monthOf(back.CreatedAt))) {
		if o.ClientSN == back.ClientSN {
			count++
			if o.State != "partial_refunded" {
				t.Errorf("month file holds the old copy: %+v", o)
			}
		}
	}
	if count != 1 {
		t.Errorf("%s is %d times in its month file", back.ClientSN, count)
	}
	// Everything survives a reopen; the directory is remembered.
	db.Close()
	db = e.open(t)
	for _, o := range all {
		if _, err := db.GetOrder(o.ClientSN); err != nil {
			t.Errorf("after reopen: %v", err)
		}
	}
	if _, err := db.Archive(before, t.TempDir()); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Archive into another directory = %v, want an error naming %s", err, dir)
	}
	if err := db.Verify(t.Context()); err != nil {
		t.Error(err)
	}
}

// TestArchiveWhileSelling archives and compacts a history while another
// goroutine keeps selling: no committed sale is lost, none is archived
// while open, and the file is sound afterwards.
func TestArchiveWhileSelling(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	start := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	fillSales(t, db, 3000, start, 20*time.Minute)
	sizeBefore := fileSize(t, e.path)
	stop := make(chan struct{})
	sold := make(chan []Order)
	go func() {
		var mine []Order
		for {
			select {
			case <-stop:
				sold <- mine
				return
			default:
			}
			o := Order{AmountCents: 990, State: "submitting", CreatedAt: start.AddDate(0, 0, 1)} // inside the archived range, but open
			if err := db.CreateOrder(&o, "S-"); err != nil {
				t.Error(err)
				sold <- mine
				return
			}
			mine = append(mine, o)
		}
	}()
	res, err := db.Archive(start.AddDate(0, 1, 0), t.TempDir())
	close(stop)
	mine := <-sold
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("archived %d, sold %d meanwhile, file %d → %d bytes", res.Archived, len(mine), sizeBefore, fileSize(t, e.path))
	if res.Archived == 0 || fileSize(t, e.path) >= sizeBefore {
		t.Errorf("archive %+v did not shrink the file (%d bytes before)", res, sizeBefore)
	}
	for _, o := range mine {
		got, err := db.GetOrder(o.ClientSN)
		if err != nil || got.State != "submitting" {
			t.Fatalf("sale %s made during Archive: %+v, %v", o.ClientSN, got, err)
		}
	}
	pend, _ := db.PendingOrders()
	if len(pend) != len(mine) {
		t.Errorf("%d pending, want %d", len(pend), len(mine))
	}
	if err := db.Verify(t.Context()); err != nil {
		t.Error(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestArchivable(t *testing.T) {
	// The refund notes as agent/refund.go writes them.
	for _, tc := range []struct {
		notes []string
		final bool
		want  bool
	}{
		{nil, true, true},
		{nil, false, false},
		{[]string{"refund requested R1 100"}, true, false},
		{[]string{"refund requested R1 100", "refund closed R1 done"}, true, true},
		{[]string{"refund requested R1 100", "refund closed R1 refused: gateway said no"}, true, true},
		{[]string{"refund requested R1 100", "refund closed R1 done", "refund requested R2 5"}, true, false},
	} {
		o := Order{Final: tc.final}
		for _, n := range tc.notes {
			o.History = append(o.History, Transition{Note: n})
		}
		if got := Archivable(o); got != tc.want {
			t.Errorf("Archivable(final=%t, %q) = %t", tc.final, tc.notes, got)
		}
	}
}

// A walk that spans a compaction (the file is swapped under it) still
// sees every order exactly once.
func TestWalkAcrossCompaction(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	orders := fillSales(t, db, 3*chunkSize+7, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute)
	seen := map[string]int{}
	i := 0
	for o, err := range db.Orders(Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if i++; i == chunkSize/2 {
			if err := db.Compact(); err != nil {
				t.Fatal(err)
			}
		}
		seen[o.ClientSN]++
	}
	if len(seen) != len(orders) {
		t.Errorf("saw %d distinct orders of %d", len(seen), len(orders))
	}
	for sn, n := range seen {
		if n != 1 {
			t.Errorf("%s seen %d times", sn, n)
		}
	}
}

// Sales commit while the background check holds its read transaction:
// the check never makes a sale wait for it (bbolt readers do not block
// the writer). The sale is made from inside the check, so if it had to
// wait for the check to end, the test would deadlock instead of passing.
func TestSalesCommitDuringCheck(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	fillSales(t, db, 500, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute)
	var sold []Order
	checkHook = func() {
		for range 3 {
			sold = append(sold, mustCreate(t, db, 123))
		}
	}
	defer func() { checkHook = nil }()
	if err := db.Verify(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(sold) != 3 {
		t.Fatalf("hook made %d sales", len(sold))
	}
	for _, o := range sold {
		if _, err := db.GetOrder(o.ClientSN); err != nil {
			t.Error(err)
		}
	}
	// The check saw its snapshot: the sales made during it are not
	// reported as index problems.
	if strings.Contains(e.logs.String(), "rebuilt") {
		t.Errorf("a sale during the check looked like damage:\n%s", e.logs)
	}
}

// Damage to the header is still found by the default, constant-cost
// Open (the meta pages are read every time), and moved aside.
func TestDefaultOpenStillFindsHeaderDamage(t *testing.T) {
	e := newEnv(t)
	makeHistory(t, e, 50)
	if err := os.Truncate(e.path, fileSize(t, e.path)/2); err != nil {
		t.Fatal(err)
	}
	_, err := Open(e.path, e.opts())
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.MovedTo == "" || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("default Open of a truncated file = %v", err)
	}
}

// A crash after a month file was written but before its orders were
// deleted from the database leaves them in both places: the database
// copy counts, nothing is listed twice, and a later Archive finishes.
func TestArchiveInterruptedBeforeDelete(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	all, _ := archiveFixture(t, e, db)
	dir := t.TempDir()
	if err := db.setArchiveDir(dir); err != nil {
		t.Fatal(err)
	}
	march := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	f := Filter{Since: march, Until: march.AddDate(0, 1, 0)}
	pick := map[string]uint32{}
	for o, err := range db.Orders(f) {
		if err != nil {
			t.Fatal(err)
		}
		if Archivable(o) {
			pick[string(orderKey(o.CreatedAt, o.Seq))] = 0
		}
	}
	if err := db.writeMonth(archiveName(dir, march), f, pick); err != nil { // ... and the process dies here
		t.Fatal(err)
	}
	list, err := db.ListOrders(Filter{})
	if err != nil || len(list) != len(all) {
		t.Fatalf("listed %d orders (%v), want %d, each once", len(list), err, len(all))
	}
	res, err := db.Archive(march.AddDate(0, 1, 0), dir)
	if err != nil || res.Archived != len(pick) {
		t.Fatalf("Archive after the crash: %+v, %v; want %d archived", res, err, len(pick))
	}
	if list, _ := db.ListOrders(Filter{}); len(list) != len(all) {
		t.Errorf("listed %d after, want %d", len(list), len(all))
	}
	if got := readArchive(t, archiveName(dir, march)); len(got) != len(pick) {
		t.Errorf("month file holds %d orders, want %d (no duplicate lines)", len(got), len(pick))
	}
}
