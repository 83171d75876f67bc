package counter

import (
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"posagent/agent"
	"posagent/agent/report"
	"posagent/storage"
)

// TestReportRefundsByRefundDay: refunds are counted on the day they were
// made. Yesterday: sale Y ¥10.00 (refunded ¥4.00 today) and sale Y2 ¥5.00.
// Today: sale T ¥20.00, fully refunded today. By hand:
//
//	today:     sales T 2000; refunds Y 400 + T 2000 = 2 refunds, 2400;
//	           net 2000 - 2400 = -400
//	yesterday: sales Y 1000 + Y2 500 = 1500; refunds made yesterday: none;
//	           net 1500 (the report made after today's refund of Y)
func TestReportRefundsByRefundDay(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	today := time.Date(2026, 11, 25, 0, 0, 0, 0, cst)
	yesterday := today.AddDate(0, 0, -1)
	var mu sync.Mutex
	now := yesterday
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	db, err := storage.Open(filepath.Join(t.TempDir(), "posagent.db"), &storage.Options{
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sale := func(at time.Time, cents int64, op string) storage.Order {
		t.Helper()
		set(at)
		o := storage.Order{Gateway: "upay", AmountCents: cents, Operator: op, State: string(agent.Submitting)}
		if err := db.CreateOrder(&o, "T"); err != nil {
			t.Fatal(err)
		}
		o.State, o.Final, o.Channel = string(agent.Paid), true, "wechat"
		if err := db.PutOrder(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	refund := func(at time.Time, o *storage.Order, cents int64) {
		t.Helper()
		set(at)
		o.RefundedCents += cents
		o.State = string(agent.PartialRefunded)
		if o.RefundedCents == o.AmountCents {
			o.State = string(agent.Refunded)
		}
		if err := db.PutOrder(o); err != nil {
			t.Fatal(err)
		}
	}
	y := sale(yesterday.Add(10*time.Hour), 1000, "amy")
	sale(yesterday.Add(11*time.Hour), 500, "bob")
	tt := sale(today.Add(9*time.Hour), 2000, "amy")
	refund(today.Add(10*time.Hour), &y, 400)   // (a) yesterday's sale, refunded today
	refund(today.Add(11*time.Hour), &tt, 2000) // (b) today's sale, refunded today
	end := today.Add(12 * time.Hour)
	set(end)

	build := func(from, to time.Time) report.Summary {
		t.Helper()
		s, err := BuildReport(context.Background(), report.X, from, to, db.Orders, db.Refunds, db.PendingOrders, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := build(today, end)
	if want := (report.Line{Key: "refunds", Count: 2, Cents: 2400}); s.Refunds != want {
		t.Errorf("today's refunds %+v, want %+v", s.Refunds, want)
	}
	if s.NetCents != -400 {
		t.Errorf("today's net %d, want -400", s.NetCents)
	}
	if want := []report.Line{{Key: "refunded", Count: 1, Cents: 2000}}; !reflect.DeepEqual(s.ByOutcome, want) {
		t.Errorf("today's outcomes %+v, want %+v", s.ByOutcome, want)
	}
	if want := []report.Line{{Key: "wechat", Count: 1, Cents: 2000}}; !reflect.DeepEqual(s.ByChannel, want) {
		t.Errorf("today's channels %+v, want %+v", s.ByChannel, want)
	}

	// (c) Yesterday's report, made again after today's refund of Y.
	s = build(yesterday, today)
	if want := (report.Line{Key: "refunds"}); s.Refunds != want {
		t.Errorf("yesterday's refunds %+v, want none (Y was refunded today)", s.Refunds)
	}
	if s.NetCents != 1500 {
		t.Errorf("yesterday's net %d, want 1500", s.NetCents)
	}
	if want := []report.Line{{Key: "amy", Count: 1, Cents: 1000}, {Key: "bob", Count: 1, Cents: 500}}; !reflect.DeepEqual(s.ByOperator, want) {
		t.Errorf("yesterday's operators %+v, want %+v", s.ByOperator, want)
	}

	// Without a refund stream the report counts sales only.
	s, err = BuildReport(context.Background(), report.X, today, end, db.Orders, nil, db.PendingOrders, nil)
	if err != nil || s.Refunds.Count != 0 || s.NetCents != 2000 {
		t.Errorf("no refund stream: %+v, %v", s, err)
	}
}
