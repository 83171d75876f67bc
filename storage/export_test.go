package storage

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestYuan(t *testing.T) {
	for cents, want := range map[int64]string{
		0: "0.00", 5: "0.05", 10: "0.10", 1250: "12.50", 100: "1.00", 123456789: "1234567.89",
		-5: "-0.05", -1250: "-12.50", math.MaxInt64: "92233720368547758.07", math.MinInt64: "-92233720368547758.08",
	} {
		if got := Yuan(cents); got != want {
			t.Errorf("Yuan(%d) = %q, want %q", cents, got, want)
		}
	}
}

// exportFixture stores a small day of sales with awkward text.
func exportFixture(t *testing.T) (*env, *DB, []Order) {
	e := newEnv(t)
	db := e.open(t)
	t.Cleanup(func() { db.Close() })
	specs := []struct {
		amount, refunded int64
		state            string
		subject          string
	}{
		{1250, 0, "paid", "咖啡, large"},
		{5, 0, "canceled", `say "hi"`},
		{99999, 500, "partial_refunded", "line1\nline2"},
		{300, 0, "paid", "=HYPERLINK(\"http://x\")"},
		{700, 0, "awaiting_payment", "-2+3"},
	}
	var out []Order
	for _, s := range specs {
		o := Order{Gateway: "upay", AmountCents: s.amount, Subject: s.subject, Operator: "amy", State: "submitting"}
		if err := db.CreateOrder(&o, "D-"); err != nil {
			t.Fatal(err)
		}
		o.State, o.Final, o.RefundedCents, o.SN, o.Channel = s.state, s.state != "awaiting_payment", s.refunded, "sn"+o.ClientSN, "alipay"
		if err := db.PutOrder(&o); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
		e.clock.Advance(17 * time.Minute)
	}
	return e, db, out
}

func TestExportCSV(t *testing.T) {
	_, db, orders := exportFixture(t)
	var buf bytes.Buffer
	if err := db.ExportCSV(&buf, Filter{}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("export is not valid CSV: %v\n%s", err, buf.String())
	}
	wantHeader := "client_sn,seq,created_at,updated_at,gateway,channel,state,final,gateway_status,sn,trade_no," +
		"amount,amount_cents,refunded,refunded_cents,subject,operator,attempts,last_error"
	if got := strings.Join(recs[0], ","); got != wantHeader {
		t.Errorf("header\n got %s\nwant %s", got, wantHeader)
	}
	if len(recs) != len(orders)+1 {
		t.Fatalf("%d rows, want %d", len(recs)-1, len(orders))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for i, rec := range recs[1:] {
		o := orders[len(orders)-1-i] // newest first
		if rec[col["client_sn"]] != o.ClientSN {
			t.Errorf("row %d is %s, want %s", i, rec[col["client_sn"]], o.ClientSN)
		}
		// yuan and cents agree, independently of Yuan(): parse the text.
		y, err := strconv.ParseFloat(rec[col["amount"]], 64)
		if err != nil || int64(math.Round(y*100)) != o.AmountCents || rec[col["amount_cents"]] != strconv.FormatInt(o.AmountCents, 10) {
			t.Errorf("amount %q / %q for %d cents", rec[col["amount"]], rec[col["amount_cents"]], o.AmountCents)
		}
		if !strings.Contains(rec[col["amount"]], ".") || len(rec[col["amount"]])-strings.Index(rec[col["amount"]], ".") != 3 {
			t.Errorf("amount %q is not yuan with two decimals", rec[col["amount"]])
		}
		ct, err := time.Parse(time.RFC3339, rec[col["created_at"]])
		if err != nil || !ct.Equal(o.CreatedAt.Truncate(time.Second)) {
			t.Errorf("created_at %q (%v), want %v", rec[col["created_at"]], err, o.CreatedAt)
		}
		subj := rec[col["subject"]]
		if strings.HasPrefix(o.Subject, "=") || strings.HasPrefix(o.Subject, "-") {
			if subj != "'"+o.Subject {
				t.Errorf("formula-like subject %q written as %q", o.Subject, subj)
			}
		} else if subj != o.Subject {
			t.Errorf("subject %q round-tripped as %q", o.Subject, subj)
		}
		if rec[col["final"]] != strconv.FormatBool(o.Final) || rec[col["state"]] != o.State {
			t.Errorf("state/final %q/%q", rec[col["state"]], rec[col["final"]])
		}
	}
}

func TestExportJSON(t *testing.T) {
	e, db, orders := exportFixture(t)
	var buf bytes.Buffer
	since := orders[1].CreatedAt
	if err := db.ExportJSON(&buf, Filter{Since: since}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		GeneratedAt string `json:"generated_at"`
		Count       int    `json:"count"`
		ByState     map[string]struct {
			Count       int    `json:"count"`
			Amount      string `json:"amount"`
			AmountCents int64  `json:"amount_cents"`
		} `json:"by_state"`
		Orders []map[string]any `json:"orders"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if doc.Count != len(orders)-1 || len(doc.Orders) != doc.Count {
		t.Errorf("count %d, %d orders; want %d", doc.Count, len(doc.Orders), len(orders)-1)
	}
	if gt, err := time.Parse(time.RFC3339, doc.GeneratedAt); err != nil || !gt.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Errorf("generated_at %q", doc.GeneratedAt)
	}
	// Totals computed here from the fixture, not from the exporter.
	want := map[string][2]int64{}
	for _, o := range orders[1:] {
		w := want[o.State]
		w[0]++
		w[1] += o.AmountCents
		want[o.State] = w
	}
	for state, w := range want {
		got := doc.ByState[state]
		if int64(got.Count) != w[0] || got.AmountCents != w[1] {
			t.Errorf("by_state[%s] = %+v, want count %d cents %d", state, got, w[0], w[1])
		}
	}
	if doc.ByState["paid"].Amount != "3.00" {
		t.Errorf("paid total %q, want 3.00 (only the 3.00 sale is inside the filter)", doc.ByState["paid"].Amount)
	}
	first := doc.Orders[0]
	if first["client_sn"] != orders[len(orders)-1].ClientSN || first["amount"] != "7.00" || first["amount_cents"] != float64(700) {
		t.Errorf("first exported order = %v", first)
	}
}
