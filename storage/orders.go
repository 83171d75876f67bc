package storage

import (
	"bytes"
	"encoding/json"
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

	appendFill = 0.9
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
	if o.AmountCents < 0 || o.RefundedCents < 0 {
		return fmt.Errorf("storage: create order: negative amount (%d cents, refunded %d)", o.AmountCents, o.RefundedCents)
	}
	if o.ClientSN != "" {
		if err := validClientSN(o.ClientSN); err != nil {
			return err
		}
	} else if prefix != "" {
		if err := validClientSN(prefix); err != nil {
			return fmt.Errorf("storage: client_sn prefix: %w", err)
		}
	}
	n := *o
	n.History = append([]Transition(nil), o.History...)
	now := db.now()
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	if n.UpdatedAt.IsZero() {
		n.UpdatedAt = n.CreatedAt
	}
	n.normalise()
	err := db.update("create order", func(tx *bolt.Tx) error {
		last, err := lastSeq(tx)
		if err != nil {
			return err
		}
		n.Seq = last + 1
		if n.ClientSN == "" {
			n.ClientSN = fmt.Sprintf("%s%0*d", prefix, SeqWidth, n.Seq)
			if err := validClientSN(n.ClientSN); err != nil {
				return err
			}
		}
		orders := tx.Bucket(bucketOrders)
		if orders.Get([]byte(n.ClientSN)) != nil {
			return fmt.Errorf("storage: create order %q: %w", n.ClientSN, ErrExists)
		}
		if err := putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, n.Seq); err != nil {
			return err
		}
		return putOrder(tx, &n, nil)
	})
	if err != nil {
		return err
	}
	*o = n
	return nil
}

// putOrder writes o and keeps both indexes in step; old is the stored
// version (nil for a new order).
func putOrder(tx *bolt.Tx, o, old *Order) error {
	raw, err := json.Marshal(o)
	if err != nil {
		return err
	}
	orders, pending, byTime := tx.Bucket(bucketOrders), tx.Bucket(bucketPending), tx.Bucket(bucketByTime)
	// Keys mostly arrive in ascending order (a counter, the clock): split
	// pages nearly full instead of bbolt's default half, which halves the
	// file size and the time Open spends checking it.
	orders.FillPercent, pending.FillPercent, byTime.FillPercent = appendFill, appendFill, appendFill
	if err := orders.Put([]byte(o.ClientSN), raw); err != nil {
		return err
	}
	if o.Final {
		if err := pending.Delete(seqKey(o.Seq)); err != nil {
			return err
		}
	} else if err := pending.Put(seqKey(o.Seq), []byte(o.ClientSN)); err != nil {
		return err
	}
	if old == nil {
		return byTime.Put(timeKey(o.CreatedAt, o.Seq), []byte(o.ClientSN))
	}
	return nil
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

func getOrder(tx *bolt.Tx, clientSN string) (Order, error) {
	raw := tx.Bucket(bucketOrders).Get([]byte(clientSN))
	if raw == nil {
		return Order{}, fmt.Errorf("storage: order %q: %w", clientSN, ErrNotFound)
	}
	var o Order
	if err := json.Unmarshal(raw, &o); err != nil {
		return Order{}, fmt.Errorf("storage: order %q is unreadable: %w", clientSN, err)
	}
	return o, nil
}

// GetOrder returns the order with the given client_sn, or ErrNotFound.
func (db *DB) GetOrder(clientSN string) (Order, error) {
	var o Order
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		o, err = getOrder(tx, clientSN)
		return err
	})
	if err != nil {
		return Order{}, opError("get order", err)
	}
	return o, nil
}

// PendingOrders returns every non-final order in Seq (creation) order: the
// work list for start-up reconciliation and the offline queue.
func (db *DB) PendingOrders() ([]Order, error) {
	var out []Order
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(_, sn []byte) error {
			o, err := getOrder(tx, string(sn))
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

// ListOrders returns the matching orders, newest first.
func (db *DB) ListOrders(f Filter) ([]Order, error) {
	var out []Order
	err := db.scan(f, func(o Order) error {
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scan calls fn for each order matching f, newest first, reading only the
// time range asked for through the time index.
func (db *DB) scan(f Filter, fn func(Order) error) error {
	var lo, hi []byte
	if !f.Since.IsZero() {
		lo = timeKey(f.Since, 0)
	}
	if !f.Until.IsZero() {
		hi = timeKey(f.Until, 0)
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketByTime).Cursor()
		var k, sn []byte
		if hi != nil {
			k, sn = c.Seek(hi)
			if k == nil {
				k, sn = c.Last()
			}
			for k != nil && bytes.Compare(k, hi) >= 0 {
				k, sn = c.Prev()
			}
		} else {
			k, sn = c.Last()
		}
		n := 0
		for ; k != nil && (lo == nil || bytes.Compare(k, lo) >= 0); k, sn = c.Prev() {
			o, err := getOrder(tx, string(sn))
			if err != nil {
				return err
			}
			if f.State != "" && o.State != f.State {
				continue
			}
			if err := fn(o); err != nil {
				return err
			}
			if n++; f.Limit > 0 && n >= f.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return opError("list orders", err)
	}
	return nil
}
