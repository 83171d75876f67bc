package storage

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// MaxClientSNLen is the gateway's limit on client_sn (Upay: ≤32).
	MaxClientSNLen = 32
	// SeqWidth is the zero-padded width of the sequence in a generated client_sn.
	SeqWidth = 10
	// MaxHistory bounds Order.History; the oldest transitions are dropped.
	MaxHistory = 64

	appendFill = 1.0
)

// Transition is one state change of an order, recorded by the engine.
type Transition struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	To   string    `json:"to"`
	Note string    `json:"note,omitempty"`
}

// Order is one sale as the engine sees it. Storage interprets only
// ClientSN, Seq, Final and CreatedAt (for its indexes).
type Order struct {
	ClientSN      string       `json:"client_sn"` // assigned by CreateOrder when empty
	Seq           uint64       `json:"seq"`
	Gateway       string       `json:"gateway,omitempty"`
	AmountCents   int64        `json:"amount_cents"`
	Subject       string       `json:"subject,omitempty"`
	Operator      string       `json:"operator,omitempty"`
	State         string       `json:"state"`
	Final         bool         `json:"final"`
	GatewayStatus string       `json:"gateway_status,omitempty"`
	SN            string       `json:"sn,omitempty"`
	TradeNo       string       `json:"trade_no,omitempty"`
	QRCode        string       `json:"qr_code,omitempty"`
	Channel       string       `json:"channel,omitempty"`
	RefundedCents int64        `json:"refunded_cents,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
	Deadline      time.Time    `json:"deadline,omitzero"`
	NextAttemptAt time.Time    `json:"next_attempt_at,omitzero"`
	Attempts      int          `json:"attempts,omitempty"`
	LastError     string       `json:"last_error,omitempty"`
	History       []Transition `json:"history,omitempty"`
}

// validClientSN accepts what every supported gateway takes in an order
// number: 1..32 of [A-Za-z0-9_.-].
func validClientSN(sn string) error {
	if sn == "" || len(sn) > MaxClientSNLen {
		return fmt.Errorf("storage: client_sn %q must be 1..%d characters", sn, MaxClientSNLen)
	}
	for i := 0; i < len(sn); i++ {
		c := sn[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("storage: client_sn %q: character %q not allowed (use A-Z a-z 0-9 _ - .)", sn, c)
		}
	}
	return nil
}

// utc is how times are stored: UTC without the monotonic reading, so the
// caller's copy equals what a later read returns (a zone name would not
// survive JSON). Exports show local time.
func utc(t time.Time) time.Time { return t.UTC().Round(0) }

// normalise puts the times in stored form and bounds the history.
func (o *Order) normalise() {
	o.CreatedAt = utc(o.CreatedAt)
	o.UpdatedAt = utc(o.UpdatedAt)
	o.Deadline = utc(o.Deadline)
	o.NextAttemptAt = utc(o.NextAttemptAt)
	if n := len(o.History); n > MaxHistory {
		o.History = append([]Transition(nil), o.History[n-MaxHistory:]...)
	}
	for i := range o.History {
		o.History[i].At = utc(o.History[i].At)
	}
}

// CreateOrder stores a new order in one transaction: it allocates Seq from
// the device counter, sets ClientSN to prefix+zero-padded Seq when empty,
// fills CreatedAt/UpdatedAt when zero and indexes the order. o is updated
// in place only when the commit succeeded.
func (db *DB) CreateOrder(o *Order, prefix string) error {
	if o == nil {
		return fmt.Errorf("storage: create order: nil order")
	}
	return db.CreateOrders([]Order{*o}, prefix, func(i int, n Order) { *o = n })
}

// CreateOrders stores many new orders in one transaction (one commit), as
// CreateOrder does for one: for imports and for filling test and benchmark
// databases with a history. done, when not nil, is called with each
// stored order after the commit succeeded. Either all are stored or none.
func (db *DB) CreateOrders(orders []Order, prefix string, done func(i int, o Order)) error {
	if prefix != "" {
		if err := validClientSN(prefix); err != nil {
			return fmt.Errorf("storage: client_sn prefix: %w", err)
		}
	}
	// A client_sn given by the caller must not be one archived earlier
	// (a generated one cannot be: the counter never goes back).
	for _, o := range orders {
		if o.ClientSN == "" {
			continue
		}
		if name, err := db.archiveOf(o.ClientSN); err != nil {
			return err
		} else if name != "" {
			return fmt.Errorf("storage: create order %q (archived in %s): %w", o.ClientSN, name, ErrExists)
		}
	}
	now := db.now()
	batch := make([]Order, len(orders))
	for i := range orders {
		o := &orders[i]
		if o.AmountCents < 0 || o.RefundedCents < 0 {
			return fmt.Errorf("storage: create order: negative amount (%d cents, refunded %d)", o.AmountCents, o.RefundedCents)
		}
		if o.ClientSN != "" {
			if err := validClientSN(o.ClientSN); err != nil {
				return err
			}
		}
		n := *o
		n.History = append([]Transition(nil), o.History...)
		if n.CreatedAt.IsZero() {
			n.CreatedAt = now
		}
		if n.UpdatedAt.IsZero() {
			n.UpdatedAt = n.CreatedAt
		}
		n.normalise()
		batch[i] = n
	}
	err := db.update("create order", func(tx *bolt.Tx) error {
		last, err := lastSeq(tx)
		if err != nil {
			return err
		}
		for i := range batch {
			n := &batch[i]
			last++
			n.Seq = last
			if orders[i].ClientSN == "" {
				n.ClientSN = fmt.Sprintf("%s%0*d", prefix, SeqWidth, n.Seq)
				if err := validClientSN(n.ClientSN); err != nil {
					return err
				}
			}
			if tx.Bucket(bucketBySN).Get([]byte(n.ClientSN)) != nil {
				return fmt.Errorf("storage: create order %q: %w", n.ClientSN, ErrExists)
			}
			if err := putOrder(tx, n, nil); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, last)
	})
	if err != nil {
		return err
	}
	if done != nil {
		for i, n := range batch {
			done(i, n)
		}
	}
	return nil
}

// putOrder writes o and keeps the indexes, counters and refund log in
// step; old is the stored version (nil for a new order).
func putOrder(tx *bolt.Tx, o, old *Order) error {
	recs, bySN, open := tx.Bucket(bucketOrderRecs), tx.Bucket(bucketBySN), tx.Bucket(bucketOpen)
	// Keys mostly arrive in ascending order (the clock, a counter): split
	// pages nearly full instead of bbolt's default half, which halves the
	// file size.
	recs.FillPercent, bySN.FillPercent, open.FillPercent = appendFill, appendFill, appendFill
	key := orderKey(o.CreatedAt, o.Seq)
	if err := recs.Put(key, encodeOrder(nil, o)); err != nil {
		return err
	}
	if old == nil {
		if err := bySN.Put([]byte(o.ClientSN), key); err != nil {
			return err
		}
	} else if err := count(tx, old, -1); err != nil {
		return err
	}
	// A stored change of the refunded total is a refund made now: logged
	// in this same commit, so the reports never see one without the
	// other. A new order (old == nil: created, migrated or restored from
	// an archive) logs nothing, already refunded or not: no refund was
	// made at this moment (refunds.go).
	if old != nil && o.RefundedCents != old.RefundedCents {
		if err := logRefund(tx, o.UpdatedAt, o, o.RefundedCents-old.RefundedCents); err != nil {
			return err
		}
	}
	if err := count(tx, o, +1); err != nil {
		return err
	}
	if o.Final {
		return open.Delete(seqKey(o.Seq))
	}
	return open.Put(seqKey(o.Seq), key)
}

// PutOrder stores a changed order in one transaction. The order must
// exist; ClientSN, Seq, CreatedAt and AmountCents are fixed at creation and
// kept from the stored copy; UpdatedAt is set; a final order cannot become
// non-final again. o is updated in place when the commit succeeded.
func (db *DB) PutOrder(o *Order) error {
	if o == nil {
		return fmt.Errorf("storage: put order: nil order")
	}
	if err := validClientSN(o.ClientSN); err != nil {
		return err
	}
	if o.RefundedCents < 0 {
		return fmt.Errorf("storage: put order %q: negative refunded amount %d", o.ClientSN, o.RefundedCents)
	}
	n := *o
	n.History = append([]Transition(nil), o.History...)
	n.UpdatedAt = db.now()
	// An archived order changes (a refund months later): it comes back
	// into the database first, in its own transaction.
	if err := db.restoreIfArchived(n.ClientSN); err != nil {
		return err
	}
	err := db.update("put order", func(tx *bolt.Tx) error {
		old, err := getOrder(tx, n.ClientSN)
		if err != nil {
			return err
		}
		if old.Final && !n.Final {
			return fmt.Errorf("storage: put order %q: it is final (state %q) and cannot become non-final (state %q)", n.ClientSN, old.State, n.State)
		}
		if n.AmountCents != old.AmountCents {
			return fmt.Errorf("storage: put order %q: amount is fixed at creation (%d cents), got %d", n.ClientSN, old.AmountCents, n.AmountCents)
		}
		n.Seq, n.CreatedAt = old.Seq, old.CreatedAt
		n.normalise()
		return putOrder(tx, &n, &old)
	})
	if err != nil {
		return err
	}
	*o = n
	return nil
}

// getOrder reads an order of the database (not the archives).
func getOrder(tx *bolt.Tx, clientSN string) (Order, error) {
	key := tx.Bucket(bucketBySN).Get([]byte(clientSN))
	if key == nil {
		return Order{}, fmt.Errorf("storage: order %q: %w", clientSN, ErrNotFound)
	}
	return orderAt(tx, key)
}

func orderAt(tx *bolt.Tx, key []byte) (Order, error) {
	var o Order
	raw := tx.Bucket(bucketOrderRecs).Get(key)
	if raw == nil {
		return o, &CorruptError{Err: fmt.Errorf("index points to order %x, which is missing", key)}
	}
	if err := decodeOrder(key, raw, &o); err != nil {
		return o, &CorruptError{Err: err}
	}
	return o, nil
}

// GetOrder returns the order with the given client_sn, or ErrNotFound.
// It looks in the database (O(log n) through the client_sn index), then in
// the archive files for an archived order.
func (db *DB) GetOrder(clientSN string) (Order, error) {
	var o Order
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		o, err = getOrder(tx, clientSN)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		if a, found, aerr := db.archivedOrder(clientSN); aerr != nil || found {
			return a, aerr
		}
	}
	if err != nil {
		return Order{}, opError("get order", err)
	}
	return o, nil
}

// PendingOrders returns every non-final order in Seq (creation) order: the
// work list for start-up reconciliation and the offline queue. It reads
// only the non-final orders, whatever the history.
func (db *DB) PendingOrders() ([]Order, error) {
	var out []Order
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOpen).ForEach(func(_, key []byte) error {
			o, err := orderAt(tx, key)
			if err != nil {
				return err
			}
			out = append(out, o)
			return nil
		})
	})
	if err != nil {
		return nil, opError("pending orders", err)
	}
	return out, nil
}

// Filter selects orders by creation time (Since inclusive, Until
// exclusive; zero means unbounded), exact State, and at most Limit
// results (0 means all).
type Filter struct {
	Since, Until time.Time
	State        string
	Limit        int
}

// ListOrders returns the matching orders, newest first. With a Limit it
// reads only what it returns (plus the orders of other states it skips);
// for whole histories use Orders or the exports, which stream.
func (db *DB) ListOrders(f Filter) ([]Order, error) {
	var out []Order
	for o, err := range db.Orders(f) {
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}
