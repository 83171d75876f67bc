package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Checking a whole file costs time in proportion to its size (seconds at
// a million orders on a Pi), so Open does not do it by default (see
// CheckMode). It is done where it pays:
//
//   - after an unclean shutdown, by CheckInBackground, while the terminal
//     sells: every page, key, value and record is read in read
//     transactions, and it can be cancelled. A read transaction does not
//     block commits; only a commit that makes bbolt grow its mapping waits
//     for it, and bbolt maps twice the file (up to 1 GB), so a sale does
//     not meet that during a check. bbolt's own Tx.Check (freelist and
//     page accounting) is left out there: it is not safe beside commits;
//   - on demand, by Verify (`posagent doctor --deep`), with Tx.Check in a
//     write transaction: sales wait while it runs;
//   - in Open with CheckFull.
//
// A damaged file found on an open handle cannot be moved aside under the
// running service: it is logged loudly, reported, and moved aside by Close
// (so the next start begins with an empty database, as after Open found it
// corrupt). It is never silently reset.

// Verify checks the whole file now: every page and value is read (a
// damaged page faults here, under protection, not in a sale), bbolt's
// Tx.Check, every record's checksum and fields, the client_sn and open
// order indexes and the counters. Wrong derived data (indexes, counters)
// is rebuilt in one logged transaction; damage is returned as
// *CorruptError. ctx cancels it between records.
//
// bbolt's Tx.Check is exact only with no commit running beside it, so
// Verify holds sales back while it runs (seconds at a million orders on a
// Pi): it is for `posagent doctor --deep`. The check owed after an
// unclean shutdown (CheckInBackground) reads everything but leaves that
// one out, so the terminal sells meanwhile.
func (db *DB) Verify(ctx context.Context) error { return db.verify(ctx, true) }

func (db *DB) verify(ctx context.Context, structural bool) error {
	db.checking.Lock()
	defer db.checking.Unlock()
	err := db.checkPages(ctx, structural)
	if err == nil {
		err = db.checkRecords(ctx)
	}
	if err == nil {
		db.owesCheck.Store(false)
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err
	}
	var ce *CorruptError
	var fe *faultError
	if !errors.As(err, &ce) && !errors.As(err, &fe) && !isCheckError(err) {
		return err
	}
	if ce == nil {
		ce = &CorruptError{Err: err}
	}
	ce = &CorruptError{Path: db.path, Err: ce.Err, open: !db.readOnly}
	db.corrupt.CompareAndSwap(nil, ce)
	db.log.Error("storage: DATABASE FILE IS CORRUPT; it is moved aside when posagent stops, and a new empty database will need provisioning",
		"path", db.path, "err", ce.Err)
	return ce
}

// checkError marks the findings of bbolt's Tx.Check.
type checkError struct{ error }

func isCheckError(err error) bool {
	var c checkError
	return errors.As(err, &c)
}

// CheckInBackground runs Verify's check, less bbolt's Tx.Check (see
// Verify), in its own goroutine when the previous
// shutdown was unclean (Unclean) and no check passed since (Open with
// CheckFull, Verify), and does nothing otherwise. The channel
// yields the result (nil when there was nothing to check or the file is
// sound) and is closed. Close cancels a check still running.
func (db *DB) CheckInBackground(ctx context.Context) <-chan error {
	ch := make(chan error, 1)
	if !db.owesCheck.Load() {
		ch <- nil
		close(ch)
		return ch
	}
	ctx, cancel := context.WithCancel(ctx)
	db.bgCancel.Store(&cancel)
	db.bgRunning.Add(1)
	go func() {
		defer db.bgRunning.Done()
		defer cancel()
		defer close(ch)
		err := db.verify(ctx, false)
		if err == nil {
			db.log.Info("storage: background check after an unclean shutdown found the database sound", "path", db.path)
		}
		ch <- err
	}()
	return ch
}

// checkPages walks every bucket, key and value (touching every byte, so a
// fault happens here, under protect, rather than in bbolt's Check
// goroutine), then, when structural, runs bbolt's Tx.Check (see below why
// that one holds writers back).
func (db *DB) checkPages(ctx context.Context, structural bool) error {
	err := protect(func() error {
		return db.view(func(tx *bolt.Tx) error {
			var sum byte
			n := 0
			var walk func(b *bolt.Bucket) error
			walk = func(b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					if n++; n%4096 == 0 {
						if ctx.Err() != nil {
							return ctx.Err()
						}
						dropPages(tx) // keep the resident set small (dropMapped)
					}
					for _, c := range k {
						sum += c
					}
					if v == nil {
						if child := b.Bucket(k); child != nil {
							return walk(child)
						}
						return nil
					}
					for _, c := range v {
						sum += c
					}
					return nil
				})
			}
			if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b) }); err != nil {
				return err
			}
			_ = sum
			return nil
		})
	})
	if err != nil {
		return err
	}
	if !structural {
		return nil
	}
	// bbolt's Tx.Check compares the pages with the live freelist: in a
	// read transaction "it is not safe to execute other writer
	// transactions at the same time" (bbolt tx_check.go, Tx.Check): the
	// race detector sees the freelist map read and written at once, and
	// commits made meanwhile are reported as "reachable freed". So it runs
	// in a write transaction that is rolled back (exact; writers wait for
	// it), or in a read transaction on a read-only handle, which no writer
	// shares (bbolt's file lock).
	check := func(tx *bolt.Tx) error {
		// bbolt's checker walks every page in its own goroutine, with no
		// progress to hook into: drop its pages on a timer meanwhile.
		// The dropper ends before the transaction does: after that the
		// mapping may be gone, and its address reused.
		done := make(chan struct{})
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(done)
		drop := pageDropper(tx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					drop()
				}
			}
		}()
		errs := checkTx(tx)
		dropPages(tx)
		if len(errs) > 0 {
			return checkError{errors.Join(errs...)}
		}
		return nil
	}
	if db.readOnly {
		return db.view(check)
	}
	errRollback := errors.New("storage: check only, nothing to commit")
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		if err := check(tx); err != nil {
			return err
		}
		return errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// checkTx runs bbolt's Tx.Check, drained to the end (the checker cannot
// be stopped), keeping the first few findings.
func checkTx(tx *bolt.Tx) []error {
	var errs []error
	for err := range tx.Check() {
		if len(errs) < 8 {
			errs = append(errs, err)
		}
	}
	return errs
}

// derived is what the indexes and counters should hold, computed from the records.
type derived struct {
	orders, open int
	totals       map[string]stateTotals
	maxSeq       uint64
}

// checkRecords decodes every record and compares the indexes and
// counters with them, in one read transaction; problems in derived data
// are repaired (read-write) or logged (read-only).
func (db *DB) checkRecords(ctx context.Context) error {
	var problems []string
	err := protect(func() error {
		return db.view(func(tx *bolt.Tx) error {
			var err error
			problems, err = recordProblems(ctx, tx)
			return err
		})
	})
	if err != nil || len(problems) == 0 {
		return err
	}
	shown := problems[:min(len(problems), 10)]
	if db.readOnly {
		db.log.Warn("storage: indexes or counters inconsistent with the orders; not repaired because the database is open read-only",
			"path", db.path, "problems", len(problems), "first", shown)
		return nil
	}
	if err := db.update("repair indexes", rebuildDerived); err != nil {
		return err
	}
	db.log.Warn("storage: indexes or counters were inconsistent with the orders; rebuilt them (derived data, no order changed)",
		"path", db.path, "problems", len(problems), "first", shown)
	return nil
}

// checkHook, when set by a test, is called once the record check holds
// its read transaction and has read its first record.
var checkHook func()

func recordProblems(ctx context.Context, tx *bolt.Tx) ([]string, error) {
	recs, bySN, open := tx.Bucket(bucketOrderRecs), tx.Bucket(bucketBySN), tx.Bucket(bucketOpen)
	d := derived{totals: map[string]stateTotals{}}
	var problems []string
	note := func(format string, args ...any) {
		if len(problems) < 100 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	var seq [8]byte
	c := recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if d.orders++; d.orders%1024 == 0 {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			dropPages(tx)
		}
		h, err := scanRecord(k, v)
		if err != nil {
			return nil, &CorruptError{Err: err}
		}
		if d.orders == 1 && checkHook != nil {
			checkHook()
		}
		if got := bySN.Get(h.clientSN); !bytes.Equal(got, k) {
			note("client_sn index: %q → %x, want %x", h.clientSN, got, k)
		}
		if !h.final {
			d.open++
			binary.BigEndian.PutUint64(seq[:], h.seq)
			if got := open.Get(seq[:]); !bytes.Equal(got, k) {
				note("open order %q (seq %d) missing from the pending index", h.clientSN, h.seq)
			}
		}
		state := h.state
		if h.stateLit != nil {
			state = h.stateString()
		}
		t := d.totals[state]
		t.count++
		t.amount += h.amount
		t.refunded += h.refunded
		d.totals[state] = t
		d.maxSeq = max(d.maxSeq, h.seq)
	}
	if n := countKeys(tx, bySN); n != d.orders {
		note("client_sn index has %d entries for %d orders", n, d.orders)
	}
	if n := countKeys(tx, open); n != d.open {
		note("pending index has %d entries for %d open orders", n, d.open)
	}
	stored := map[string]stateTotals{}
	err := tx.Bucket(bucketStats).ForEach(func(k, v []byte) error {
		if k[0] != 's' {
			return nil
		}
		t, err := parseTotals(string(k), v)
		stored[string(k[1:])] = t
		return err
	})
	if err != nil {
		note("counters unreadable: %v", err)
	} else if !maps.Equal(stored, d.totals) {
		states := slices.Sorted(maps.Keys(d.totals))
		note("counters %v differ from the orders %v (states %v)", stored, d.totals, states)
	}
	// The refund log is not derived from the orders (they do not say when
	// each refund was made), so nothing rebuilds it: its entries are only
	// read here, so that damage is found by the check, not by a report.
	if b := tx.Bucket(bucketRefundLog); b != nil {
		n := 0
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%4096 == 0 {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				dropPages(tx)
			}
			if _, err := decodeRefund(k, v); err != nil {
				return nil, &CorruptError{Err: err}
			}
		}
	}
	last, err := lastSeq(tx)
	if err != nil {
		return nil, err
	}
	if last < d.maxSeq {
		note("client_sn counter %d is behind the highest order seq %d", last, d.maxSeq)
	}
	return problems, nil
}

// countKeys counts a bucket's keys, dropping the pages it walked as it
// goes (Bucket.Stats would keep the whole index resident).
func countKeys(tx *bolt.Tx, b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if n++; n%4096 == 0 {
			dropPages(tx)
		}
	}
	dropPages(tx)
	return n
}

// rebuildDerived recomputes the client_sn and pending indexes and the
// counters from the records, and raises the client_sn counter to the
// highest seq in use so that a client_sn is never reused. The refund log
// is not derived data and is left as it is.
func rebuildDerived(tx *bolt.Tx) error {
	archived := archivedCount(tx) // not derived from the records: kept
	for _, name := range [][]byte{bucketBySN, bucketOpen, bucketStats} {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	var o Order
	var maxSeq uint64
	c := tx.Bucket(bucketOrderRecs).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := decodeOrder(k, v, &o); err != nil {
			return &CorruptError{Err: err}
		}
		bySN := tx.Bucket(bucketBySN)
		bySN.FillPercent = appendFill
		if err := bySN.Put([]byte(o.ClientSN), k); err != nil {
			return err
		}
		if !o.Final {
			if err := tx.Bucket(bucketOpen).Put(seqKey(o.Seq), k); err != nil {
				return err
			}
		}
		if err := count(tx, &o, +1); err != nil {
			return err
		}
		maxSeq = max(maxSeq, o.Seq)
	}
	if err := setArchivedCount(tx, archived); err != nil {
		return err
	}
	return raiseCounter(tx, maxSeq)
}
