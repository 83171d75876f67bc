package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The refund log (schema v4). A shop, and the gateways' settlement
// statements (Alipay's, Upay's), count a refund on the day it was made,
// not on the day of the sale it refunds; an order only knows its refunded
// total and its last change (UpdatedAt), which is neither. So PutOrder,
// in the transaction that stores an order whose RefundedCents changed,
// appends one entry with the change and the time it was stored: the
// X/Z reports then read the refunds made in their period with one seek,
// whatever day the orders were created.
//
//	key:   orderKey(time, seq) (16 bytes) + big-endian bucket sequence (8 bytes)
//	value: CRC-32C of the rest (4 bytes), uvarint zig-zag delta in cents, client_sn
//
// The time comes first so that a period is one cursor range; the
// bucket's sequence keeps two entries of one order in the same
// nanosecond (a fake clock, a coarse one) apart. The CRC is there for the
// reason the order records have one (record.go): bbolt has no page
// checksums, and a flipped bit here would change a day's money silently.
//
// Only PutOrder writes it. An order that arrives already refunded
// (CreateOrder/CreateOrders for imports and fills, the v3 migration, an
// archived order brought back by restoreIfArchived) logs nothing: no
// refund was made at that moment, and restoring only moves the order. The
// log is not derived from the orders (the orders do not say when each
// refund happened), so Verify's repair does not rebuild it and the
// v4 migration does not backfill it: reports cover at most one day, so
// only refunds confirmed before the upgrade on the upgrade day itself are
// missing from that day's report. Archive drops the entries of days long
// reported (dropRefundLog).

// Refund is one refund made: the change of an order's refunded total at
// the time it was stored. Cents is negative only when a gateway answer
// lowered the total (a correction); the engine never does that itself.
type Refund struct {
	At       time.Time // when the refunded total was stored (the order's UpdatedAt), UTC
	ClientSN string
	Cents    int64
}

func refundLogKey(at time.Time, seq, n uint64) []byte {
	return binary.BigEndian.AppendUint64(orderKey(at, seq), n)
}

// logRefund appends one entry to the refund log in tx.
func logRefund(tx *bolt.Tx, at time.Time, o *Order, delta int64) error {
	b := tx.Bucket(bucketRefundLog)
	if b == nil {
		return fmt.Errorf("storage: refund log bucket missing (schema older than v4)")
	}
	b.FillPercent = appendFill // keys follow the clock
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	v := make([]byte, 4, 4+binary.MaxVarintLen64+len(o.ClientSN))
	v = appendUvarint(v, zigzag(delta))
	v = append(v, o.ClientSN...)
	seal(v, 0)
	return b.Put(refundLogKey(at, o.Seq, n), v)
}

func decodeRefund(k, v []byte) (Refund, error) {
	if len(k) != 24 {
		return Refund{}, fmt.Errorf("refund log key %x is not a time, seq and number", k)
	}
	at, _, _ := parseOrderKey(k[:16])
	body, ok := unseal(v)
	if !ok {
		return Refund{}, fmt.Errorf("refund log entry %x fails its checksum (damaged on disk)", k)
	}
	r := &reader{b: body}
	cents := unzigzag(r.uvarint())
	if r.err != nil {
		return Refund{}, fmt.Errorf("refund log entry %x is unreadable: %v", k, r.err)
	}
	return Refund{At: at, ClientSN: string(r.b), Cents: cents}, nil
}

// Refunds streams the refunds made in [since, until) (a zero time is
// unbounded), oldest first, whatever day their orders were created. It
// reads in chunks of short read transactions, as Orders does, each one
// seek into the time-ordered log: memory stays at one chunk, and the
// caller may use the database between entries. Works on read-only opens.
func (db *DB) Refunds(since, until time.Time) iter.Seq2[Refund, error] {
	return func(yield func(Refund, error) bool) {
		var from, hi []byte // from: the next key to read (inclusive)
		if !since.IsZero() {
			from = orderKey(since, 0)
		}
		if !until.IsZero() {
			hi = orderKey(until, 0) // a 24-byte key at until sorts after it
		}
		buf := make([]Refund, 0, chunkSize)
		for {
			buf = buf[:0]
			done := true
			err := db.view(func(tx *bolt.Tx) error {
				c := tx.Bucket(bucketRefundLog).Cursor()
				var k, v []byte
				if from == nil {
					k, v = c.First()
				} else {
					k, v = c.Seek(from)
				}
				for ; k != nil && (hi == nil || bytes.Compare(k, hi) < 0); k, v = c.Next() {
					if len(buf) == chunkSize {
						from = append(from[:0], k...)
						done = false
						return nil
					}
					r, err := decodeRefund(k, v)
					if err != nil {
						return &CorruptError{Err: err}
					}
					buf = append(buf, r)
				}
				return nil
			})
			if err != nil {
				yield(Refund{}, opError("refunds", err))
				return
			}
			for _, r := range buf {
				if !yield(r, nil) {
					return
				}
			}
			if done {
				return
			}
		}
	}
}

// refundLogKeep is how much of the log Archive keeps whatever date it is
// given: the reports read at most since the local midnight (or the last
// Z report, later still), and two days cover that in any time zone, plus
// a report of yesterday made today.
const refundLogKeep = 48 * time.Hour

// dropRefundLog deletes the refund log entries made before `before` (but
// none of the last refundLogKeep), oldest first, in short transactions
// like the rest of Archive. Each committed batch leaves a consistent
// file (entries refer to nothing), so a crash in between only leaves
// older entries for the next Archive to drop.
func (db *DB) dropRefundLog(before time.Time) (int, error) {
	if keep := db.now().Add(-refundLogKeep); keep.Before(before) {
		before = keep
	}
	hi := orderKey(before, 0)
	var stale bool
	if err := db.view(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketRefundLog).Cursor().First()
		stale = k != nil && bytes.Compare(k, hi) < 0
		return nil
	}); err != nil || !stale {
		return 0, err // nothing to drop: no commit
	}
	dropped := 0
	for {
		n := 0
		err := db.update("archive", func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketRefundLog).Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k, hi) < 0 && n < 2000; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return dropped, err
		}
		dropped += n
		if n < 2000 {
			return dropped, nil
		}
	}
}
