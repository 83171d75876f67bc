package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. Changing one needs a migration.
var (
	bucketMeta     = []byte("meta")
	bucketCreds    = []byte("credentials") // "current" → credentials JSON
	bucketCounters = []byte("counters")    // "client_sn" → last allocated Seq (JSON number)
	bucketCheckins = []byte("checkins")    // big-endian bucket sequence → CheckinRecord JSON

	// Schema v3: the orders keyed by creation time (orderKey), so that the
	// bucket is its own time index and a day is one cursor seek; an index
	// by client_sn; the non-final orders; and counters kept in the same
	// transactions as the orders.
	bucketOrderRecs = []byte("o")     // orderKey → record (record.go)
	bucketBySN      = []byte("sn")    // client_sn → orderKey
	bucketOpen      = []byte("p")     // big-endian Seq → orderKey, non-final orders only
	bucketStats     = []byte("stats") // "s"+state → uvarint count, zig-zag amount, zig-zag refunded; "a" → archived count

	// Schema v4: the refunds made, keyed by when they were made (refunds.go).
	bucketRefundLog = []byte("r") // orderKey(time, seq)+big-endian number → CRC, zig-zag delta cents, client_sn

	// Schema v1–v2, kept for the migrations.
	bucketOrders  = []byte("orders")         // client_sn → Order JSON
	bucketPending = []byte("pending")        // big-endian Seq → client_sn
	bucketByTime  = []byte("orders_by_time") // timeKey(CreatedAt)+Seq → client_sn

	keySchemaVersion = []byte("schema_version")
	keyCreatedAt     = []byte("created_at")
	keyClientSNSeq   = []byte("client_sn")
	keyCredsCurrent  = []byte("current")
	keyCleanClose    = []byte("clean_close") // present only while the file is closed cleanly
	keyArchiveDir    = []byte("archive_dir")
)

// A migration moves the schema from one version to the next. Append only:
// a released migration is never edited, because files in the field already
// ran it.
type migration struct {
	// apply runs in one transaction with the version bump.
	apply func(tx *bolt.Tx, now time.Time) error
	// step, for migrations that rewrite every order (a transaction over a
	// million orders would not fit in a Pi's memory), is called in
	// transactions of its own until it reports done; each step leaves the
	// file consistent, so an interrupted migration resumes.
	step func(tx *bolt.Tx) (done bool, err error)
}

var migrations = []migration{
	// v1: the buckets of the first release.
	{apply: func(tx *bolt.Tx, now time.Time) error {
		for _, name := range [][]byte{bucketMeta, bucketOrders, bucketPending, bucketCreds, bucketCounters, bucketCheckins} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyCreatedAt) == nil {
			return putJSON(meta, keyCreatedAt, utc(now))
		}
		return nil
	}},
	// v2: an index by creation time. (It used to be filled here from the
	// orders; v3 replaces it and derives everything from the orders
	// itself, so filling it first would be wasted work.)
	{apply: func(tx *bolt.Tx, _ time.Time) error {
		_, err := tx.CreateBucketIfNotExists(bucketByTime)
		return err
	}},
	// v3: compact records keyed by time, client_sn and pending indexes,
	// counters (issue 14). Orders move over in batches.
	{step: migrateV3Step},
	// v4: the refund log, for reports that count a refund on the day it
	// was made (refunds.go). Only the bucket: there is nothing to fill it
	// from (an order does not say when each of its refunds was made), and
	// the reports read at most one day back.
	{apply: func(tx *bolt.Tx, _ time.Time) error {
		_, err := tx.CreateBucketIfNotExists(bucketRefundLog)
		return err
	}},
}

// SchemaVersion is the version this build writes.
func SchemaVersion() int { return len(migrations) }

func readSchemaVersion(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	raw := meta.Get(keySchemaVersion)
	if raw == nil {
		return 0, nil
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil || v < 0 {
		return 0, &CorruptError{Err: fmt.Errorf("meta/schema_version %q is not a version number", raw)}
	}
	return v, nil
}

// migrate brings the file to SchemaVersion, one committed step per
// version (several for a batched one).
func (db *DB) migrate() error {
	var have int
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		have, err = readSchemaVersion(tx)
		return err
	}); err != nil {
		return err
	}
	want := SchemaVersion()
	switch {
	case have == want:
		return nil
	case have > want:
		return fmt.Errorf("storage: %s has schema version %d, newer than this posagent understands (%d): upgrade posagent or restore a matching file", db.path, have, want)
	case db.readOnly:
		return fmt.Errorf("storage: %s has schema version %d and needs migrating to %d: open it read-write once (start the agent)", db.path, have, want)
	}
	now := db.now()
	for v := have; v < want; v++ {
		m := migrations[v]
		for m.step != nil {
			var done bool
			if err := db.update("migrate schema", func(tx *bolt.Tx) error {
				var err error
				done, err = m.step(tx)
				return err
			}); err != nil {
				return wrapMigration(v+1, err)
			}
			if done {
				break
			}
		}
		err := db.update("migrate schema", func(tx *bolt.Tx) error {
			if m.apply != nil {
				if err := m.apply(tx, now); err != nil {
					return err
				}
			}
			return putJSON(tx.Bucket(bucketMeta), keySchemaVersion, v+1)
		})
		if err != nil {
			return wrapMigration(v+1, err)
		}
	}
	db.log.Info("storage: schema migrated", "path", db.path, "from", have, "to", want)
	return nil
}

func wrapMigration(v int, err error) error {
	var ce *CorruptError
	if errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("storage: migration to schema version %d: %w", v, err)
}

// migrateBatch is how many orders one v3 migration transaction moves
// (a variable for the test that makes the migration resume).
var migrateBatch = 5_000

// migrateV3Step moves up to migrateBatch JSON orders to the v3 buckets,
// deleting them from the old one in the same transaction, and drops the
// old buckets when none is left.
func migrateV3Step(tx *bolt.Tx) (bool, error) {
	if err := createV3Buckets(tx); err != nil {
		return false, err
	}
	old := tx.Bucket(bucketOrders)
	if old == nil {
		return true, nil
	}
	var keys [][]byte
	var batch []Order
	c := old.Cursor()
	for k, v := c.First(); k != nil && len(keys) < migrateBatch; k, v = c.Next() {
		var o Order
		if err := json.Unmarshal(v, &o); err != nil {
			return false, &CorruptError{Err: fmt.Errorf("orders/%q is not valid JSON: %v", k, err)}
		}
		if o.ClientSN != string(k) {
			return false, &CorruptError{Err: fmt.Errorf("orders/%q holds client_sn %q", k, o.ClientSN)}
		}
		o.normalise()
		keys = append(keys, append([]byte(nil), k...))
		batch = append(batch, o)
	}
	var maxSeq uint64
	for i := range batch {
		o := &batch[i]
		if !o.Final && tx.Bucket(bucketOpen).Get(seqKey(o.Seq)) != nil {
			return false, &CorruptError{Err: fmt.Errorf("two open orders share seq %d (one is %q)", o.Seq, o.ClientSN)}
		}
		if err := putOrder(tx, o, nil); err != nil {
			return false, err
		}
		maxSeq = max(maxSeq, o.Seq)
		if err := old.Delete(keys[i]); err != nil {
			return false, err
		}
	}
	if err := raiseCounter(tx, maxSeq); err != nil {
		return false, err
	}
	if len(keys) < migrateBatch {
		for _, name := range [][]byte{bucketOrders, bucketPending, bucketByTime} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return false, err
			}
		}
		return true, nil
	}
	return false, nil
}

func createV3Buckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketOrderRecs, bucketBySN, bucketOpen, bucketStats} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// raiseCounter makes sure no client_sn up to seq is allocated again.
func raiseCounter(tx *bolt.Tx, seq uint64) error {
	last, err := lastSeq(tx)
	if err != nil {
		return err
	}
	if last < seq {
		return putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, seq)
	}
	return nil
}

func lastSeq(tx *bolt.Tx) (uint64, error) {
	raw := tx.Bucket(bucketCounters).Get(keyClientSNSeq)
	if raw == nil {
		return 0, nil
	}
	var n uint64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, &CorruptError{Err: fmt.Errorf("counters/client_sn %q is not a number", raw)}
	}
	return n, nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// timeKey is the v2 time-index key, the same bytes as orderKey.
func timeKey(t time.Time, seq uint64) []byte { return orderKey(t, seq) }

// clampNanos is t.UnixNano() without its undefined overflow outside 1678..2262.
func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, -1<<63)):
		return -1 << 63
	case t.After(time.Unix(0, 1<<63-1)):
		return 1<<63 - 1
	}
	return t.UnixNano()
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// stateTotals are the counters kept per state.
type stateTotals struct {
	count, amount, refunded int64
}

// statsKey prefixes the state: an order may have an empty state, and
// bbolt keys cannot be empty.
func statsKey(state string) []byte { return append([]byte{'s'}, state...) }

func getTotals(b *bolt.Bucket, state string) (stateTotals, error) {
	raw := b.Get(statsKey(state))
	if raw == nil {
		return stateTotals{}, nil
	}
	return parseTotals(state, raw)
}

func parseTotals(state string, raw []byte) (stateTotals, error) {
	r := &reader{b: raw}
	t := stateTotals{int64(r.uvarint()), unzigzag(r.uvarint()), unzigzag(r.uvarint())}
	if r.err != nil {
		return t, &CorruptError{Err: fmt.Errorf("stats/%q is unreadable: %v", state, r.err)}
	}
	return t, nil
}

func putTotals(b *bolt.Bucket, state string, t stateTotals) error {
	if t.count == 0 && t.amount == 0 && t.refunded == 0 {
		return b.Delete(statsKey(state))
	}
	v := appendUvarint(nil, uint64(t.count))
	v = appendUvarint(v, zigzag(t.amount))
	v = appendUvarint(v, zigzag(t.refunded))
	return b.Put(statsKey(state), v)
}

var keyArchivedCount = []byte("a")

func archivedCount(tx *bolt.Tx) int64 {
	r := &reader{b: tx.Bucket(bucketStats).Get(keyArchivedCount)}
	if len(r.b) == 0 {
		return 0
	}
	return int64(r.uvarint())
}

func setArchivedCount(tx *bolt.Tx, n int64) error {
	if n <= 0 {
		return tx.Bucket(bucketStats).Delete(keyArchivedCount)
	}
	return tx.Bucket(bucketStats).Put(keyArchivedCount, appendUvarint(nil, uint64(n)))
}

// count adds (sign +1) or removes (-1) o from the counters.
func count(tx *bolt.Tx, o *Order, sign int64) error {
	b := tx.Bucket(bucketStats)
	t, err := getTotals(b, o.State)
	if err != nil {
		return err
	}
	t.count += sign
	t.amount += sign * o.AmountCents
	t.refunded += sign * o.RefundedCents
	return putTotals(b, o.State, t)
}
