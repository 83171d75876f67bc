package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// The order record (schema v3). A year of sales is hundreds of thousands
// of orders on an SD card, and the JSON of v2 cost 2.1 KB per order on
// disk. The record is a list of tagged fields, protobuf-style, so that a
// field added later is skipped by an older reader instead of failing:
//
//	field := tag(uvarint: number<<1 | kind) value
//	kind 0: uvarint (signed values zig-zag encoded)
//	kind 1: text: uvarint v; v even: v/2 bytes follow; v odd: entry (v-1)/2 of words
//
// The key (created-at nanoseconds and seq, see orderKey) carries CreatedAt
// and Seq, so the value does not. Other times are nanoseconds relative to
// CreatedAt (a few bytes each), history entries relative to the previous
// entry. States, gateways and statuses are one byte through words.
// A zero or empty field is not written. The record starts with the CRC-32C
// of the rest: bbolt has no checksum on its pages, and a flipped bit in a
// binary record would otherwise go unnoticed where JSON failed to parse.
// `bbolt get` no longer shows a readable order: `posagent orders show` does.
const (
	fClientSN      = 1
	fGateway       = 2
	fAmount        = 3
	fSubject       = 4
	fOperator      = 5
	fState         = 6
	fFinal         = 7
	fGatewayStatus = 8
	fSN            = 9
	fTradeNo       = 10
	fQRCode        = 11
	fChannel       = 12
	fRefunded      = 13
	fUpdatedAt     = 14
	fDeadline      = 15
	fNextAttempt   = 16
	fAttempts      = 17
	fLastError     = 18
	fHistory       = 19 // repeated; a text holding at, from, to, note

	kindUint = 0
	kindText = 1
)

// words are the strings an order repeats; entry i is written as 2i+1.
// Append only: files in the field refer to these by position.
var words = []string{
	"",
	// agent states (agent/state.go)
	"submitting", "queued", "unknown", "awaiting_payment", "canceling",
	"paid", "canceled", "pay_failed", "expired", "failed", "refunded", "partial_refunded",
	// gateways
	"upay", "alipay", "yedpay",
	// gateway statuses (gateway/gateway.go, from the Upay query document)
	"CREATED", "PAID", "PAY_CANCELED", "PAY_ERROR", "REFUNDED", "PARTIAL_REFUNDED",
	"REFUND_ERROR", "CANCELED", "CANCEL_ERROR", "CANCEL_INPROGRESS",
	// payment channels
	"wechat", "unionpay", "octopus",
	// later agent states
	"unresolved",
}

var wordIndex = func() map[string]uint64 {
	m := make(map[string]uint64, len(words))
	for i, w := range words {
		m[w] = uint64(i)
	}
	return m
}()

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

func appendText(b []byte, s string) []byte {
	if i, ok := wordIndex[s]; ok {
		return appendUvarint(b, 2*i+1)
	}
	b = appendUvarint(b, 2*uint64(len(s)))
	return append(b, s...)
}

func appendTextField(b []byte, f int, s string) []byte {
	if s == "" {
		return b
	}
	return appendText(appendUvarint(b, uint64(f)<<1|kindText), s)
}

func appendUintField(b []byte, f int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendUvarint(appendUvarint(b, uint64(f)<<1|kindUint), v)
}

// relNanos is t relative to base, zig-zagged, plus one so that a zero
// time (not written) differs from a time equal to base.
func relNanos(t, base time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return zigzag(clampNanos(t)-clampNanos(base)) + 1
}

func fromRel(v uint64, base time.Time) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, clampNanos(base)+unzigzag(v-1)).UTC()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seal writes the CRC-32C (Castagnoli) of b[start+4:] into the four bytes
// at b[start:], which the caller reserved: bbolt has no page checksums, so
// every stored value (order records, refund log entries) carries its own.
func seal(b []byte, start int) {
	binary.BigEndian.PutUint32(b[start:], crc32.Checksum(b[start+4:], castagnoli))
}

// unseal returns the body of a sealed value, or false when its checksum
// fails (damaged on disk).
func unseal(val []byte) ([]byte, bool) {
	if len(val) < 4 || binary.BigEndian.Uint32(val) != crc32.Checksum(val[4:], castagnoli) {
		return nil, false
	}
	return val[4:], true
}

// encodeOrder appends the record of o (normalised) to b.
func encodeOrder(b []byte, o *Order) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = encodeFields(b, o)
	seal(b, start)
	return b
}

func encodeFields(b []byte, o *Order) []byte {
	b = appendTextField(b, fClientSN, o.ClientSN)
	b = appendTextField(b, fGateway, o.Gateway)
	b = appendUintField(b, fAmount, zigzag(o.AmountCents))
	b = appendTextField(b, fSubject, o.Subject)
	b = appendTextField(b, fOperator, o.Operator)
	b = appendTextField(b, fState, o.State)
	if o.Final {
		b = appendUintField(b, fFinal, 1)
	}
	b = appendTextField(b, fGatewayStatus, o.GatewayStatus)
	b = appendTextField(b, fSN, o.SN)
	b = appendTextField(b, fTradeNo, o.TradeNo)
	b = appendTextField(b, fQRCode, o.QRCode)
	b = appendTextField(b, fChannel, o.Channel)
	b = appendUintField(b, fRefunded, zigzag(o.RefundedCents))
	b = appendUintField(b, fUpdatedAt, relNanos(o.UpdatedAt, o.CreatedAt))
	b = appendUintField(b, fDeadline, relNanos(o.Deadline, o.CreatedAt))
	b = appendUintField(b, fNextAttempt, relNanos(o.NextAttemptAt, o.CreatedAt))
	b = appendUintField(b, fAttempts, zigzag(int64(o.Attempts)))
	b = appendTextField(b, fLastError, o.LastError)
	prev := o.CreatedAt
	var h []byte
	for _, t := range o.History {
		h = appendUvarint(h[:0], relNanos(t.At, prev))
		h = appendText(h, t.From)
		h = appendText(h, t.To)
		h = appendText(h, t.Note)
		b = appendUvarint(b, fHistory<<1|kindText)
		b = appendUvarint(b, 2*uint64(len(h)))
		b = append(b, h...)
		if !t.At.IsZero() {
			prev = t.At
		}
	}
	return b
}

var errShort = errors.New("record ends inside a field")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		if r.err == nil {
			r.err = errShort
		}
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// raw returns the bytes of a text without interpreting words.
func (r *reader) textBytes() (lit []byte, word string) {
	v := r.uvarint()
	if v&1 == 1 {
		i := (v - 1) / 2
		if i >= uint64(len(words)) {
			if r.err == nil {
				r.err = fmt.Errorf("unknown word %d", i)
			}
			return nil, ""
		}
		return nil, words[i]
	}
	n := v / 2
	if n > uint64(len(r.b)) {
		if r.err == nil {
			r.err = errShort
		}
		r.b = nil
		return nil, ""
	}
	lit, r.b = r.b[:n], r.b[n:]
	return lit, ""
}

func (r *reader) text() string {
	lit, w := r.textBytes()
	if lit != nil {
		return string(lit)
	}
	return w
}

// decodeOrder fills o from a record and its key.
func decodeOrder(key, val []byte, o *Order) error {
	created, seq, ok := parseOrderKey(key)
	if !ok {
		return fmt.Errorf("order key %x is not a time and seq", key)
	}
	*o = Order{Seq: seq, CreatedAt: created}
	body, ok := unseal(val)
	if !ok {
		return fmt.Errorf("order record %x fails its checksum (damaged on disk)", key)
	}
	r := &reader{b: body}
	prev := created // the last history time, as encodeFields keeps it
	for len(r.b) > 0 && r.err == nil {
		tag := r.uvarint()
		f, kind := tag>>1, tag&1
		if kind == kindUint {
			v := r.uvarint()
			switch f {
			case fAmount:
				o.AmountCents = unzigzag(v)
			case fFinal:
				o.Final = v != 0
			case fRefunded:
				o.RefundedCents = unzigzag(v)
			case fUpdatedAt:
				o.UpdatedAt = fromRel(v, created)
			case fDeadline:
				o.Deadline = fromRel(v, created)
			case fNextAttempt:
				o.NextAttemptAt = fromRel(v, created)
			case fAttempts:
				o.Attempts = int(unzigzag(v))
			}
			continue
		}
		if f == fHistory {
			lit, _ := r.textBytes()
			hr := &reader{b: lit}
			t := Transition{At: fromRel(hr.uvarint(), prev), From: hr.text(), To: hr.text(), Note: hr.text()}
			if hr.err != nil {
				r.err = fmt.Errorf("history entry %d: %w", len(o.History), hr.err)
				break
			}
			o.History = append(o.History, t)
			if !t.At.IsZero() {
				prev = t.At
			}
			continue
		}
		s := r.text()
		switch f {
		case fClientSN:
			o.ClientSN = s
		case fGateway:
			o.Gateway = s
		case fSubject:
			o.Subject = s
		case fOperator:
			o.Operator = s
		case fState:
			o.State = s
		case fGatewayStatus:
			o.GatewayStatus = s
		case fSN:
			o.SN = s
		case fTradeNo:
			o.TradeNo = s
		case fQRCode:
			o.QRCode = s
		case fChannel:
			o.Channel = s
		case fLastError:
			o.LastError = s
		}
	}
	if r.err != nil {
		return fmt.Errorf("order record %x: %w", key, r.err)
	}
	if o.ClientSN == "" {
		return fmt.Errorf("order record %x has no client_sn", key)
	}
	return nil
}

// orderKey orders by creation time, then seq: the orders bucket is its
// own time index. The sign bit is flipped so that times before 1970 (a Pi
// without RTC) still sort first.
func orderKey(t time.Time, seq uint64) []byte {
	var k [16]byte
	binary.BigEndian.PutUint64(k[:], uint64(clampNanos(t))^(1<<63))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k[:]
}

func parseOrderKey(k []byte) (time.Time, uint64, bool) {
	if len(k) != 16 {
		return time.Time{}, 0, false
	}
	ns := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	return time.Unix(0, ns).UTC(), binary.BigEndian.Uint64(k[8:]), true
}

// recordHead is what the whole-file check needs of a record, read without
// allocating (a check reads every record of the history): clientSN and
// stateLit point into the record.
type recordHead struct {
	seq              uint64
	clientSN         []byte
	state            string // the state when it is a word
	stateLit         []byte // the state when it is not
	final            bool
	amount, refunded int64
}

func (h *recordHead) stateString() string {
	if h.stateLit != nil {
		return string(h.stateLit)
	}
	return h.state
}

// scanRecord checks a record as decodeOrder does (checksum, every field
// and history entry well formed) and returns its head.
func scanRecord(key, val []byte) (recordHead, error) {
	var h recordHead
	_, seq, ok := parseOrderKey(key)
	if !ok {
		return h, fmt.Errorf("order key %x is not a time and seq", key)
	}
	h.seq = seq
	body, ok := unseal(val)
	if !ok {
		return h, fmt.Errorf("order record %x fails its checksum (damaged on disk)", key)
	}
	r := &reader{b: body}
	for len(r.b) > 0 && r.err == nil {
		tag := r.uvarint()
		f, kind := tag>>1, tag&1
		if kind == kindUint {
			v := r.uvarint()
			switch f {
			case fAmount:
				h.amount = unzigzag(v)
			case fFinal:
				h.final = v != 0
			case fRefunded:
				h.refunded = unzigzag(v)
			}
			continue
		}
		lit, w := r.textBytes()
		switch f {
		case fHistory:
			hr := &reader{b: lit}
			hr.uvarint()
			hr.textBytes()
			hr.textBytes()
			hr.textBytes()
			if hr.err != nil {
				r.err = fmt.Errorf("history entry: %w", hr.err)
			}
		case fClientSN:
			h.clientSN = lit
			if lit == nil {
				h.clientSN = []byte(w)
			}
		case fState:
			h.state, h.stateLit = w, lit
		}
	}
	if r.err != nil {
		return h, fmt.Errorf("order record %x: %w", key, r.err)
	}
	if len(h.clientSN) == 0 {
		return h, fmt.Errorf("order record %x has no client_sn", key)
	}
	return h, nil
}
