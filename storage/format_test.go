package storage

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWriteOrderTableAndDetail(t *testing.T) {
	_, db, orders := exportFixture(t)
	list, err := db.ListOrders(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteOrderTable(&buf, list); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != len(orders)+1 || !strings.HasPrefix(lines[0], "CLIENT_SN") {
		t.Fatalf("table:\n%s", buf.String())
	}
	for i, line := range lines[1:] {
		o := list[i]
		f := strings.Fields(line)
		if f[0] != o.ClientSN || f[3] != Yuan(o.AmountCents) || f[4] != o.State {
			t.Errorf("row %q does not show %s %s %s", line, o.ClientSN, Yuan(o.AmountCents), o.State)
		}
	}
	// Multi-line subjects stay on their row.
	if strings.Contains(buf.String(), "line1\n") {
		t.Error("subject broke the table")
	}

	o := orders[2]
	o.History = append(o.History, Transition{At: o.CreatedAt.Add(time.Second), From: "submitting", To: "awaiting_payment", Note: "precreate ok"})
	buf.Reset()
	if err := WriteOrderDetail(&buf, o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{o.ClientSN, "999.99 (99999 cents)", "refunded:", "5.00", "partial_refunded (final: true)", "submitting → awaiting_payment", "precreate ok"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("detail lacks %q:\n%s", want, buf.String())
		}
	}
}

// WriteOrderList streams a long list: every order once, newest first, in
// the table's columns.
func TestWriteOrderListStreams(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	orders := fillSales(t, db, 700, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute)
	var b strings.Builder
	if err := db.WriteOrderList(&b, Filter{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(orders)+1 || !strings.HasPrefix(lines[0], "CLIENT_SN") {
		t.Fatalf("%d lines for %d orders; first %q", len(lines), len(orders), lines[0])
	}
	for i, l := range lines[1:] {
		want := orders[len(orders)-1-i]
		if f := strings.Fields(l); f[0] != want.ClientSN || f[3] != Yuan(want.AmountCents) || f[4] != "paid" {
			t.Fatalf("line %d = %q, want %s %s paid", i+1, l, want.ClientSN, Yuan(want.AmountCents))
		}
	}
}
