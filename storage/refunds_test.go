package storage

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// setClock puts the test clock at t.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func collectRefunds(t *testing.T, db *DB, since, until time.Time) []Refund {
	t.Helper()
	var out []Refund
	for r, err := range db.Refunds(since, until) {
		if err != nil {
			t.Fatalf("Refunds(%v, %v): %v", since, until, err)
		}
		out = append(out, r)
	}
	return out
}

// paid stores o as paid and final at the clock's time.
func paid(t *testing.T, db *DB, o *Order) {
	t.Helper()
	o.State, o.Final = "paid", true
	if err := db.PutOrder(o); err != nil {
		t.Fatal(err)
	}
}

func refundTo(t *testing.T, db *DB, o *Order, total int64) {
	t.Helper()
	o.RefundedCents = total
	o.State = "partial_refunded"
	if total == o.AmountCents {
		o.State = "refunded"
	}
	if err := db.PutOrder(o); err != nil {
		t.Fatal(err)
	}
}

// TestRefundLogDay: refunds are listed on the day they were stored, not
// on their order's creation day; a partial then a full refund are two
// entries with their deltas; writes that leave the refunded total alone
// log nothing. The expected entries are written out by hand.
func TestRefundLogDay(t *testing.T) {
	e := newEnv(t)
	cst := time.FixedZone("CST", 8*3600)
	day1 := time.Date(2026, 11, 24, 0, 0, 0, 0, cst)
	day2, day3 := day1.AddDate(0, 0, 1), day1.AddDate(0, 0, 2)
	e.clock.set(day1.Add(15 * time.Hour))
	db := e.open(t)
	defer func() { db.Close() }()

	a := mustCreate(t, db, 1000) // created on day 1
	paid(t, db, &a)
	a.Subject = "changed, not refunded"
	if err := db.PutOrder(&a); err != nil {
		t.Fatal(err)
	}
	// Created already refunded (an import): no refund made now.
	imp := Order{AmountCents: 800, RefundedCents: 800, State: "refunded", Final: true}
	if err := db.CreateOrder(&imp, "IMP-"); err != nil {
		t.Fatal(err)
	}
	if got := collectRefunds(t, db, time.Time{}, time.Time{}); len(got) != 0 {
		t.Fatalf("refund log after a sale, a change and an import: %+v, want nothing", got)
	}

	t1 := day2.Add(10 * time.Hour)
	e.clock.set(t1)
	refundTo(t, db, &a, 300) // partial, on day 2
	t2 := day2.Add(11 * time.Hour)
	e.clock.set(t2)
	a.History = append(a.History, Transition{At: t2, Note: "a note only"})
	if err := db.PutOrder(&a); err != nil { // same refunded total: nothing
		t.Fatal(err)
	}
	refundTo(t, db, &a, 1000) // the rest, same instant: a second entry

	want := []Refund{
		{At: t1.UTC(), ClientSN: a.ClientSN, Cents: 300},
		{At: t2.UTC(), ClientSN: a.ClientSN, Cents: 700},
	}
	if got := collectRefunds(t, db, day2, day3); !reflect.DeepEqual(got, want) {
		t.Errorf("day 2 refunds\n got %+v\nwant %+v", got, want)
	}
	if got := collectRefunds(t, db, day1, day2); len(got) != 0 {
		t.Errorf("day 1 (the sale's day) lists refunds made on day 2: %+v", got)
	}
	// Bounds: since inclusive, until exclusive.
	if got := collectRefunds(t, db, t2, day3); !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("from %v: %+v", t2, got)
	}
	if got := collectRefunds(t, db, day2, t2); !reflect.DeepEqual(got, want[:1]) {
		t.Errorf("until %v: %+v", t2, got)
	}
	// Stopping early is fine.
	for range db.Refunds(time.Time{}, time.Time{}) {
		break
	}
	if err := db.Verify(t.Context()); err != nil {
		t.Fatal(err)
	}

	// Read-only opens read it too.
	db.Close()
	ro, err := OpenReadOnly(e.path, e.opts())
	if err != nil {
		t.Fatal(err)
	}
	db = ro
	if got := collectRefunds(t, db, day2, day3); !reflect.DeepEqual(got, want) {
		t.Errorf("read-only: %+v", got)
	}
}

// TestRefundLogChunks: more entries than one read chunk come out once
// each, in time order.
func TestRefundLogChunks(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	n := chunkSize + 7
	err := db.update("test", func(tx *bolt.Tx) error {
		for i := range n {
			o := Order{ClientSN: "X", Seq: uint64(i + 1)}
			if err := logRefund(tx, e.clock.Now().Add(time.Duration(i)*time.Second), &o, int64(i+1)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := collectRefunds(t, db, time.Time{}, time.Time{})
	if len(got) != n {
		t.Fatalf("%d entries, want %d", len(got), n)
	}
	for i, r := range got {
		if r.Cents != int64(i+1) {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
}

// TestMigrateV3ToV4 opens a schema v3 file (built with the released
// migrations) holding a paid order: the log bucket appears, the order's
// refund is logged, and the file checks clean.
func TestMigrateV3ToV4(t *testing.T) {
	e := newEnv(t)
	bdb, err := bolt.Open(e.path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o := Order{ClientSN: "OLD1", Seq: 1, AmountCents: 900, State: "paid", Final: true,
		CreatedAt: e.clock.Now().Add(-24 * time.Hour)}
	o.normalise()
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, m := range migrations[:3] {
			if m.apply != nil {
				if err := m.apply(tx, e.clock.Now()); err != nil {
					return err
				}
			}
			if m.step != nil {
				if _, err := m.step(tx); err != nil {
					return err
				}
			}
		}
		if err := putOrder(tx, &o, nil); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, 1); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketMeta), keySchemaVersion, 3)
	})
	if err == nil {
		err = bdb.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketRefundLog) != nil {
				t.Error("the v3 file already has the refund log")
			}
			return nil
		})
	}
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A read-only open refuses it until the service migrated it.
	if _, err := OpenReadOnly(e.path, e.opts()); err == nil {
		t.Fatal("read-only open of a v3 file")
	}
	db := e.open(t)
	defer db.Close()
	if st, _ := db.Stats(); st.SchemaVersion != 4 || st.Orders != 1 {
		t.Fatalf("after migration: %+v", st)
	}
	if got := collectRefunds(t, db, time.Time{}, time.Time{}); len(got) != 0 {
		t.Fatalf("migration backfilled %+v", got)
	}
	o.RefundedCents, o.State = 400, "partial_refunded"
	if err := db.PutOrder(&o); err != nil {
		t.Fatal(err)
	}
	want := []Refund{{At: e.clock.Now().UTC(), ClientSN: "OLD1", Cents: 400}}
	if got := collectRefunds(t, db, time.Time{}, time.Time{}); !reflect.DeepEqual(got, want) {
		t.Errorf("refunds %+v, want %+v", got, want)
	}
	if err := db.Verify(t.Context()); err != nil {
		t.Error(err)
	}
}

// TestArchiveDropsOldRefunds: Archive drops the refund log before its
// date and keeps what follows, and never the last two days whatever date
// it is given; a refund of an archived order logs its delta only.
func TestArchiveDropsOldRefunds(t *testing.T) {
	e := newEnv(t)
	jan10 := time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)
	feb26 := time.Date(2026, 2, 26, 9, 0, 0, 0, time.UTC)
	mar1 := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	e.clock.set(jan10)
	db := e.open(t)
	defer db.Close()
	a, b := mustCreate(t, db, 1000), mustCreate(t, db, 2000)
	paid(t, db, &a)
	paid(t, db, &b)
	refundTo(t, db, &a, 100) // e1: Jan 10
	e.clock.set(feb26)
	refundTo(t, db, &b, 200) // e2: Feb 26
	e.clock.set(mar1)
	refundTo(t, db, &b, 500) // e3: Mar 1, 300
	e.clock.set(mar1.Add(30 * time.Minute))
	e2 := Refund{At: feb26, ClientSN: b.ClientSN, Cents: 200}
	e3 := Refund{At: mar1, ClientSN: b.ClientSN, Cents: 300}

	dir := filepath.Join(t.TempDir(), "archive")
	res, err := db.Archive(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Archived != 2 {
		t.Fatalf("archived %d orders, want both January ones", res.Archived)
	}
	if got := collectRefunds(t, db, time.Time{}, time.Time{}); !reflect.DeepEqual(got, []Refund{e2, e3}) {
		t.Errorf("after Archive(Feb 1): %+v\nwant %+v", got, []Refund{e2, e3})
	}
	// A date in the future: everything older than two days goes, the
	// rest stays.
	if _, err := db.Archive(mar1.AddDate(0, 0, 5), dir); err != nil {
		t.Fatal(err)
	}
	if got := collectRefunds(t, db, time.Time{}, time.Time{}); !reflect.DeepEqual(got, []Refund{e3}) {
		t.Errorf("after Archive(Mar 6): %+v\nwant %+v", got, []Refund{e3})
	}
	// a was archived with 100 refunded; a refund now logs the 250 more.
	a.RefundedCents = 0 // the caller's copy does not matter: the stored one does
	got, err := db.GetOrder(a.ClientSN)
	if err != nil {
		t.Fatal(err)
	}
	refundTo(t, db, &got, 350)
	now := mar1.Add(30 * time.Minute)
	want := []Refund{e3, {At: now, ClientSN: a.ClientSN, Cents: 250}}
	if got := collectRefunds(t, db, time.Time{}, time.Time{}); !reflect.DeepEqual(got, want) {
		t.Errorf("after refunding an archived order: %+v\nwant %+v", got, want)
	}
	if err := db.Verify(t.Context()); err != nil {
		t.Error(err)
	}
}

// TestRefundLogDamageFound: Verify reads the log, so a damaged entry is
// reported by the check rather than first met by a report.
func TestRefundLogDamageFound(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	o := mustCreate(t, db, 500)
	paid(t, db, &o)
	refundTo(t, db, &o, 500)
	err := db.update("test", func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketRefundLog).Cursor().First()
		bad := append([]byte(nil), v...)
		bad[len(bad)-1] ^= 1
		return tx.Bucket(bucketRefundLog).Put(append([]byte(nil), k...), bad)
	})
	if err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	for _, err := range db.Refunds(time.Time{}, time.Time{}) {
		if !errors.As(err, &ce) {
			t.Errorf("Refunds over a damaged entry: %v, want a CorruptError", err)
		}
	}
	if err := db.Verify(t.Context()); !errors.As(err, &ce) {
		t.Errorf("Verify = %v, want a CorruptError", err)
	}
	db.Close() // moves the file aside, as for any damage
}
