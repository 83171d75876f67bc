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
	bucketOrders   = []byte("orders")         // client_sn → Order JSON
	bucketPending  = []byte("pending")        // big-endian Seq → client_sn, non-final orders only
	bucketByTime   = []byte("orders_by_time") // timeKey(CreatedAt)+Seq → client_sn, every order
	bucketCreds    = []byte("credentials")    // "current" → credentials JSON
	bucketCounters = []byte("counters")       // "client_sn" → last allocated Seq (JSON number)
	bucketCheckins = []byte("checkins")       // big-endian bucket sequence → CheckinRecord JSON

	keySchemaVersion = []byte("schema_version")
	keyCreatedAt     = []byte("created_at")
	keyClientSNSeq   = []byte("client_sn")
	keyCredsCurrent  = []byte("current")
)

// migrations[i] moves the schema from version i to i+1. Append only: a
// released migration is never edited, because files in the field already
// ran it.
var migrations = []func(tx *bolt.Tx, now time.Time) error{
	// v1: the buckets of the first release.
	func(tx *bolt.Tx, now time.Time) error {
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
	},
	// v2: an index by creation time, so that listing and end-of-day export
	// read only the orders of the asked period instead of the whole history.
	func(tx *bolt.Tx, _ time.Time) error {
		if _, err := tx.CreateBucketIfNotExists(bucketByTime); err != nil {
			return err
		}
		return rebuildIndexes(tx)
	},
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

// migrate brings the file to SchemaVersion in one transaction.
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
	err := db.update("migrate schema", func(tx *bolt.Tx) error {
		v, err := readSchemaVersion(tx)
		if err != nil {
			return err
		}
		for ; v < want; v++ {
			if err := migrations[v](tx, now); err != nil {
				return fmt.Errorf("storage: migration to schema version %d: %w", v+1, err)
			}
		}
		return putJSON(tx.Bucket(bucketMeta), keySchemaVersion, want)
	})
	if err != nil {
		return err
	}
	db.log.Info("storage: schema migrated", "path", db.path, "from", have, "to", want)
	return nil
}

// orderHead is the part of an order the index check needs. Decoding into
// it still validates the whole JSON value.
type orderHead struct {
	ClientSN  string    `json:"client_sn"`
	Seq       uint64    `json:"seq"`
	Final     bool      `json:"final"`
	CreatedAt time.Time `json:"created_at"`
}

// indexState is what the derived buckets should contain, computed from the orders.
type indexState struct {
	pending map[uint64]string
	byTime  map[string]string
	maxSeq  uint64
}

func expectedIndexes(tx *bolt.Tx) (*indexState, error) {
	st := &indexState{pending: map[uint64]string{}, byTime: map[string]string{}}
	seen := map[uint64]string{}
	err := tx.Bucket(bucketOrders).ForEach(func(k, v []byte) error {
		var h orderHead
		if err := json.Unmarshal(v, &h); err != nil {
			return &CorruptError{Err: fmt.Errorf("orders/%q is not valid JSON: %v", k, err)}
		}
		if h.ClientSN != string(k) {
			return &CorruptError{Err: fmt.Errorf("orders/%q holds client_sn %q", k, h.ClientSN)}
		}
		if other, dup := seen[h.Seq]; dup {
			return &CorruptError{Err: fmt.Errorf("orders %q and %q share seq %d", other, k, h.Seq)}
		}
		seen[h.Seq] = h.ClientSN
		st.maxSeq = max(st.maxSeq, h.Seq)
		if !h.Final {
			st.pending[h.Seq] = h.ClientSN
		}
		st.byTime[string(timeKey(h.CreatedAt, h.Seq))] = h.ClientSN
		return nil
	})
	return st, err
}

// indexProblems lists how the stored indexes differ from st.
func indexProblems(tx *bolt.Tx, st *indexState) ([]string, error) {
	var problems []string
	n := 0
	err := tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
		n++
		if len(k) != 8 {
			problems = append(problems, fmt.Sprintf("pending key %x is not a seq", k))
			return nil
		}
		seq := binary.BigEndian.Uint64(k)
		if want, ok := st.pending[seq]; !ok || want != string(v) {
			problems = append(problems, fmt.Sprintf("pending seq %d → %q points to no non-final order", seq, v))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n != len(st.pending) || len(problems) > 0 {
		for seq, sn := range st.pending {
			if string(tx.Bucket(bucketPending).Get(seqKey(seq))) != sn {
				problems = append(problems, fmt.Sprintf("non-final order %q (seq %d) missing from the pending index", sn, seq))
			}
		}
	}
	n = 0
	err = tx.Bucket(bucketByTime).ForEach(func(k, v []byte) error {
		n++
		if want, ok := st.byTime[string(k)]; !ok || want != string(v) {
			problems = append(problems, fmt.Sprintf("time index entry %x → %q matches no order", k, v))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n != len(st.byTime) {
		problems = append(problems, fmt.Sprintf("time index has %d entries for %d orders", n, len(st.byTime)))
	}
	last, err := lastSeq(tx)
	if err != nil {
		return nil, err
	}
	if last < st.maxSeq {
		problems = append(problems, fmt.Sprintf("client_sn counter %d is behind the highest order seq %d", last, st.maxSeq))
	}
	return problems, nil
}

// rebuildIndexes recomputes the derived buckets from the orders and raises
// the counter to the highest seq in use, so a client_sn is never reused.
func rebuildIndexes(tx *bolt.Tx) error {
	st, err := expectedIndexes(tx)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketPending, bucketByTime} {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	pending := tx.Bucket(bucketPending)
	for seq, sn := range st.pending {
		if err := pending.Put(seqKey(seq), []byte(sn)); err != nil {
			return err
		}
	}
	byTime := tx.Bucket(bucketByTime)
	for k, sn := range st.byTime {
		if err := byTime.Put([]byte(k), []byte(sn)); err != nil {
			return err
		}
	}
	last, err := lastSeq(tx)
	if err != nil {
		return err
	}
	if last < st.maxSeq {
		return putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, st.maxSeq)
	}
	return nil
}

// checkIndexes verifies the derived data and repairs it in one logged
// transaction. Undecodable records are reported as corruption.
func (db *DB) checkIndexes() error {
	var problems []string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		st, err := expectedIndexes(tx)
		if err != nil {
			return err
		}
		problems, err = indexProblems(tx, st)
		return err
	})
	if err != nil || len(problems) == 0 {
		return err
	}
	shown := problems
	if len(shown) > 10 {
		shown = shown[:10]
	}
	if db.readOnly {
		db.log.Warn("storage: index inconsistent; not repaired because the database is open read-only",
			"path", db.path, "problems", len(problems), "first", shown)
		return nil
	}
	if err := db.update("repair indexes", rebuildIndexes); err != nil {
		return err
	}
	db.log.Warn("storage: index was inconsistent with the orders; rebuilt it (derived data, no order changed)",
		"path", db.path, "problems", len(problems), "first", shown)
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

// timeKey orders by creation time, then seq. The sign bit is flipped so
// that times before 1970 (a Pi without RTC) still sort first.
func timeKey(t time.Time, seq uint64) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(clampNanos(t))^(1<<63))
	return binary.BigEndian.AppendUint64(k, seq)
}

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
