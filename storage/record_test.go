package storage

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// randomOrder draws every field, including the edge cases the codec must
// keep: empty and non-ASCII text, text equal to a word, zero times,
// negative amounts, history entries without a time.
func randomOrder(rng *rand.Rand, seq uint64) Order {
	texts := []string{"", "paid", "PAID", "upay", "大杯拿铁", "=1+2", strings.Repeat("x", 300), "a\nb"}
	txt := func() string { return texts[rng.IntN(len(texts))] }
	base := time.Date(2026, 1, 2, 3, 4, 5, rng.IntN(1e9), time.UTC)
	tm := func() time.Time {
		switch rng.IntN(4) {
		case 0:
			return time.Time{}
		case 1:
			return base.Add(-time.Duration(rng.Int64N(int64(time.Hour))))
		}
		return base.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
	}
	o := Order{
		ClientSN: "T1-" + strings.Repeat("0", rng.IntN(5)) + "9", Seq: seq, Gateway: txt(), AmountCents: rng.Int64N(1e6) - 1000,
		Subject: txt(), Operator: txt(), State: txt(), Final: rng.IntN(2) == 0, GatewayStatus: txt(), SN: txt(),
		TradeNo: txt(), QRCode: txt(), Channel: txt(), RefundedCents: rng.Int64N(1000), CreatedAt: base,
		UpdatedAt: tm(), Deadline: tm(), NextAttemptAt: tm(), Attempts: rng.IntN(5) - 1, LastError: txt(),
	}
	for i := rng.IntN(5); i > 0; i-- {
		o.History = append(o.History, Transition{At: tm(), From: txt(), To: txt(), Note: txt()})
	}
	o.normalise()
	return o
}

func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		o := randomOrder(rng, uint64(i+1))
		key := orderKey(o.CreatedAt, o.Seq)
		var got Order
		if err := decodeOrder(key, encodeOrder(nil, &o), &got); err != nil {
			t.Fatalf("decode %+v: %v", o, err)
		}
		if !reflect.DeepEqual(got, o) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, o)
		}
	}
}

// A field written by a newer version is skipped, as unknown JSON fields
// were: the format is tagged for that (record.go).
func TestRecordSkipsUnknownFields(t *testing.T) {
	o := Order{ClientSN: "T1-1", Seq: 1, State: "paid", AmountCents: 5, CreatedAt: time.Unix(1e9, 0).UTC()}
	b := encodeOrder(nil, &o)
	body := b[4:]
	body = appendTextField(body, 29, "from the future")
	body = appendUintField(body, 30, 12345)
	rec := encodeRaw(body)
	var got Order
	if err := decodeOrder(orderKey(o.CreatedAt, 1), rec, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("got %+v, want %+v", got, o)
	}
	rec[len(rec)-1] ^= 1
	if err := decodeOrder(orderKey(o.CreatedAt, 1), rec, &got); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("flipped bit: %v, want a checksum error", err)
	}
}

// encodeRaw puts a checksum in front of a hand-made record body: CRC-32C
// (Castagnoli) from the standard library, big-endian (record.go's format).
func encodeRaw(body []byte) []byte {
	c := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
	return append(binary.BigEndian.AppendUint32(nil, c), body...)
}

// The hand-written export row must be byte for byte what encoding/json
// (the oracle) writes for ExportRow, for any text.
func TestRowJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	texts := []string{"", "plain", "<a href='x'>&</a>", "quote \" back \\ slash", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"大杯拿铁", "bad \xff utf8 \xc3", "line\u2028sep\u2029", "emoji 🧋"}
	for range 500 {
		o := randomOrder(rng, uint64(rng.IntN(1e6)))
		o.Subject, o.LastError, o.Operator = texts[rng.IntN(len(texts))], texts[rng.IntN(len(texts))], texts[rng.IntN(len(texts))]
		r := exportRow(o)
		want, err := json.MarshalIndent(r, "    ", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRowJSON(nil, r); string(got) != string(want) {
			t.Fatalf("row\n got %s\nwant %s", got, want)
		}
	}
}

// scanRecord (the check's allocation-free reader) reads the same head as
// the full decoder, and refuses what it refuses.
func TestScanRecordAgreesWithDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 1000 {
		o := randomOrder(rng, uint64(i+1))
		key := orderKey(o.CreatedAt, o.Seq)
		rec := encodeOrder(nil, &o)
		h, err := scanRecord(key, rec)
		if err != nil {
			t.Fatal(err)
		}
		if string(h.clientSN) != o.ClientSN || h.stateString() != o.State || h.final != o.Final ||
			h.amount != o.AmountCents || h.refunded != o.RefundedCents || h.seq != o.Seq {
			t.Fatalf("head %+v of %+v", h, o)
		}
		// A cut record with a fixed-up checksum: both readers refuse it.
		cut := encodeRaw(rec[4 : 4+rng.IntN(len(rec)-4)])
		var got Order
		_, serr := scanRecord(key, cut)
		derr := decodeOrder(key, cut, &got)
		if (serr == nil) != (derr == nil) {
			t.Fatalf("cut record: scan %v, decode %v", serr, derr)
		}
	}
}
