package storage

import (
	"bytes"
	"iter"
	"time"

	bolt "go.etcd.io/bbolt"
)

// chunkSize is how many orders a streaming read decodes per read
// transaction. Each chunk is a short transaction: a long export neither
// holds back a sale's commit nor keeps freed pages from being reused,
// and memory stays at one chunk whatever the history.
const chunkSize = 256

// Orders streams the orders matching f, newest first: the database's
// (seeking to f.Until through the time-ordered keys), merged with those
// in the archive files. Memory stays flat whatever the history. Stop
// early by breaking out of the loop. An error ends the stream.
//
// The stream is not one snapshot but chunks of short read transactions:
// an order created meanwhile may or may not appear, none appears twice,
// and one archived by a concurrent Archive may be missed.
func (db *DB) Orders(f Filter) iter.Seq2[Order, error] {
	return func(yield func(Order, error) bool) {
		srcs := []source{db.liveSource(f)}
		if as := db.archiveSource(f); as != nil {
			srcs = append(srcs, as)
			defer as.close() // a walk abandoned halfway leaves a file open
		}
		n := 0
		var last []byte
		for {
			var best source
			var bestKey []byte
			for _, s := range srcs {
				k, err := s.peek()
				if err != nil {
					yield(Order{}, opError("list orders", err))
					return
				}
				if k != nil && (bestKey == nil || bytes.Compare(k, bestKey) > 0) {
					best, bestKey = s, k
				}
			}
			if best == nil {
				return
			}
			o := best.pop()
			if bytes.Equal(bestKey, last) {
				continue // both sources had it: archived during the walk
			}
			last = append(last[:0], bestKey...)
			if f.State != "" && o.State != f.State {
				continue
			}
			if !yield(o, nil) {
				return
			}
			if n++; f.Limit > 0 && n >= f.Limit {
				return
			}
		}
	}
}

// EachOrder calls fn for each order matching f, newest first, streaming
// as Orders does; an error from fn stops it and is returned.
func (db *DB) EachOrder(f Filter, fn func(Order) error) error {
	for o, err := range db.Orders(f) {
		if err != nil {
			return err
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// source yields orders newest first: peek returns the next one's key (nil
// at the end), pop returns the order and moves on.
type source interface {
	peek() ([]byte, error)
	pop() Order
}

func rangeKeys(f Filter) (lo, hi []byte) {
	if !f.Since.IsZero() {
		lo = orderKey(f.Since, 0)
	}
	if !f.Until.IsZero() {
		hi = orderKey(f.Until, 0)
	}
	return lo, hi
}

// liveSource reads the database in chunks of short read transactions,
// each resuming below the last key read.
type liveSource struct {
	db      *DB
	state   string
	lo, hi  []byte // hi exclusive; nil means from the newest
	started bool
	done    bool
	buf     []Order
	keys    [][]byte
	i       int
	limit   int
	chunks  int
}

func (db *DB) liveSource(f Filter) *liveSource {
	lo, hi := rangeKeys(f)
	return &liveSource{db: db, state: f.State, lo: lo, hi: hi, limit: f.Limit}
}

func (s *liveSource) peek() ([]byte, error) {
	if s.i < len(s.buf) {
		return s.keys[s.i], nil
	}
	if s.done {
		return nil, nil
	}
	if err := s.fill(); err != nil {
		return nil, err
	}
	if s.i < len(s.buf) {
		return s.keys[s.i], nil
	}
	return nil, nil
}

func (s *liveSource) pop() Order {
	o := s.buf[s.i]
	s.buf[s.i] = Order{}
	s.i++
	return o
}

func (s *liveSource) fill() error {
	s.buf, s.keys, s.i = s.buf[:0], s.keys[:0], 0
	n := chunkSize
	if s.limit > 0 && s.state == "" && !s.started {
		n = min(n, s.limit) // a short list reads only what it shows
	}
	err := s.db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOrderRecs).Cursor()
		var k, v []byte
		if s.hi != nil {
			k, v = c.Seek(s.hi)
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && bytes.Compare(k, s.hi) >= 0 {
				k, v = c.Prev()
			}
		} else {
			k, v = c.Last()
		}
		for ; k != nil && (s.lo == nil || bytes.Compare(k, s.lo) >= 0); k, v = c.Prev() {
			if len(s.buf) >= n {
				return nil
			}
			if s.state != "" && !recordHasState(v, s.state) {
				s.hi = append(s.hi[:0], k...)
				continue
			}
			var o Order
			if err := decodeOrder(k, v, &o); err != nil {
				return &CorruptError{Err: err}
			}
			s.db.decoded.Add(1)
			s.buf = append(s.buf, o)
			s.keys = append(s.keys, append([]byte(nil), k...))
			s.hi = append(s.hi[:0], k...)
		}
		s.done = true
		return nil
	})
	s.started = true
	if s.chunks++; s.chunks%16 == 0 {
		s.db.dropMapped()
	}
	return err
}

// recordHasState tells whether a record's state is s without decoding
// the rest (the state is written early in the record; a damaged record
// answers true so that decoding reports it).
func recordHasState(v []byte, s string) bool {
	if len(v) < 4 {
		return true
	}
	r := &reader{b: v[4:]}
	for len(r.b) > 0 && r.err == nil {
		tag := r.uvarint()
		f, kind := tag>>1, tag&1
		if kind == kindUint {
			r.uvarint()
			continue
		}
		lit, w := r.textBytes()
		if f == fState {
			if lit != nil {
				return string(lit) == s
			}
			return w == s
		}
	}
	return r.err != nil || s == ""
}

// monthOf is the UTC month an order belongs to in the archives.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
