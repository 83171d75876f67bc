package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MaxCheckinHistory bounds the check-in history; the oldest records go first.
const MaxCheckinHistory = 1000

// Credentials are the terminal's identity at the gateway. TerminalKey and
// PrevKey are secrets: String, GoString, MarshalJSON and LogValue mask them,
// so printing or logging Credentials by accident does not leak them.
type Credentials struct {
	Gateway      string
	TerminalSN   string
	TerminalKey  string
	PrevKey      string
	DeviceID     string
	MerchantName string
	ActivatedAt  time.Time
	LastCheckin  time.Time
}

// credRecord is the stored form; unlike Credentials it carries the keys.
type credRecord struct {
	Gateway      string    `json:"gateway"`
	TerminalSN   string    `json:"terminal_sn"`
	TerminalKey  string    `json:"terminal_key"`
	PrevKey      string    `json:"prev_key,omitempty"`
	DeviceID     string    `json:"device_id,omitempty"`
	MerchantName string    `json:"merchant_name,omitempty"`
	ActivatedAt  time.Time `json:"activated_at"`
	LastCheckin  time.Time `json:"last_checkin,omitzero"`
}

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "<redacted>"
}

// masked is Credentials without secrets, for every human-facing form.
type maskedCredentials struct {
	Gateway      string    `json:"gateway"`
	TerminalSN   string    `json:"terminal_sn"`
	TerminalKey  string    `json:"terminal_key"`
	PrevKey      string    `json:"prev_key,omitempty"`
	DeviceID     string    `json:"device_id,omitempty"`
	MerchantName string    `json:"merchant_name,omitempty"`
	ActivatedAt  time.Time `json:"activated_at"`
	LastCheckin  time.Time `json:"last_checkin,omitzero"`
}

func (c Credentials) masked() maskedCredentials {
	return maskedCredentials{c.Gateway, c.TerminalSN, mask(c.TerminalKey), mask(c.PrevKey), c.DeviceID, c.MerchantName, c.ActivatedAt, c.LastCheckin}
}

// String shows the credentials with the keys masked.
func (c Credentials) String() string {
	return fmt.Sprintf("{Gateway:%s TerminalSN:%s TerminalKey:%s PrevKey:%s DeviceID:%s MerchantName:%s ActivatedAt:%s LastCheckin:%s}",
		c.Gateway, c.TerminalSN, mask(c.TerminalKey), mask(c.PrevKey), c.DeviceID, c.MerchantName,
		c.ActivatedAt.Format(time.RFC3339), c.LastCheckin.Format(time.RFC3339))
}

// GoString is String for %#v.
func (c Credentials) GoString() string { return "storage.Credentials" + c.String() }

// MarshalJSON writes the credentials with the keys masked (for status output).
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.masked()) }

// LogValue makes slog print the credentials with the keys masked.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("gateway", c.Gateway),
		slog.String("terminal_sn", c.TerminalSN),
		slog.String("terminal_key", mask(c.TerminalKey)),
		slog.String("device_id", c.DeviceID),
		slog.Time("activated_at", c.ActivatedAt),
	)
}

func getCreds(tx *bolt.Tx) (credRecord, error) {
	raw := tx.Bucket(bucketCreds).Get(keyCredsCurrent)
	if raw == nil {
		return credRecord{}, fmt.Errorf("storage: credentials: terminal not provisioned: %w", ErrNotFound)
	}
	var r credRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return credRecord{}, fmt.Errorf("storage: credentials record is unreadable: %v", err) // %v: never echo a key from the raw bytes
	}
	return r, nil
}

// Credentials returns the stored credentials, or ErrNotFound when the
// terminal is not provisioned (a new or replaced database).
func (db *DB) Credentials() (Credentials, error) {
	var r credRecord
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		r, err = getCreds(tx)
		return err
	})
	if err != nil {
		return Credentials{}, opError("credentials", err)
	}
	return Credentials(r), nil
}

// SaveCredentials stores the result of provisioning, replacing any
// previous credentials. Orders, counter and history are kept.
func (db *DB) SaveCredentials(c Credentials) error {
	if c.TerminalSN == "" || c.TerminalKey == "" {
		return fmt.Errorf("storage: save credentials: terminal_sn and terminal_key are required")
	}
	if c.ActivatedAt.IsZero() {
		c.ActivatedAt = db.now()
	}
	c.ActivatedAt, c.LastCheckin = utc(c.ActivatedAt), utc(c.LastCheckin)
	return db.update("save credentials", func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketCreds), keyCredsCurrent, credRecord(c))
	})
}

// RotateKey stores a key received at check-in, in one transaction with its
// history record: the current key becomes PrevKey (the gateway accepts
// both until the new one is used), LastCheckin becomes at.
func (db *DB) RotateKey(newKey string, at time.Time) error {
	if newKey == "" {
		return fmt.Errorf("storage: rotate key: empty key")
	}
	at = utc(at)
	return db.update("rotate key", func(tx *bolt.Tx) error {
		r, err := getCreds(tx)
		if err != nil {
			return err
		}
		note := "key rotated"
		if r.TerminalKey != newKey {
			r.PrevKey, r.TerminalKey = r.TerminalKey, newKey
		} else {
			note = "key unchanged"
		}
		r.LastCheckin = at
		if err := putJSON(tx.Bucket(bucketCreds), keyCredsCurrent, r); err != nil {
			return err
		}
		return appendCheckin(tx, CheckinRecord{At: at, OK: true, Note: note})
	})
}

// CheckinRecord is one check-in attempt.
type CheckinRecord struct {
	At   time.Time `json:"at"`
	OK   bool      `json:"ok"`
	Note string    `json:"note,omitempty"`
}

func appendCheckin(tx *bolt.Tx, r CheckinRecord) error {
	b := tx.Bucket(bucketCheckins)
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := putJSON(b, binary.BigEndian.AppendUint64(nil, id), r); err != nil {
		return err
	}
	// Keys are consecutive sequence numbers, so everything at or below
	// id-MaxCheckinHistory is beyond the bound. Deleting while iterating a
	// cursor skips keys in bbolt, so collect first.
	if id > MaxCheckinHistory {
		cutoff := binary.BigEndian.AppendUint64(nil, id-MaxCheckinHistory)
		var old [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, cutoff) <= 0; k, _ = c.Next() {
			old = append(old, append([]byte(nil), k...))
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// RecordCheckin appends a check-in attempt to the history. A successful
// one also sets Credentials.LastCheckin when the terminal is provisioned.
func (db *DB) RecordCheckin(r CheckinRecord) error {
	if r.At.IsZero() {
		r.At = db.now()
	}
	r.At = utc(r.At)
	return db.update("record check-in", func(tx *bolt.Tx) error {
		if r.OK {
			if c, err := getCreds(tx); err == nil {
				c.LastCheckin = r.At
				if err := putJSON(tx.Bucket(bucketCreds), keyCredsCurrent, c); err != nil {
					return err
				}
			}
		}
		return appendCheckin(tx, r)
	})
}

// CheckinHistory returns up to n records (n ≤ 0: all), newest first.
func (db *DB) CheckinHistory(n int) ([]CheckinRecord, error) {
	var out []CheckinRecord
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCheckins).Cursor()
		for k, v := c.Last(); k != nil && (n <= 0 || len(out) < n); k, v = c.Prev() {
			var r CheckinRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("storage: check-in record %x is unreadable: %w", k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, opError("check-in history", err)
	}
	return out, nil
}
