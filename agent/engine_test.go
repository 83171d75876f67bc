package agent

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/storage"
)

var ctx = context.Background()

func TestStateTable(t *testing.T) {
	all := []State{Submitting, Queued, Unknown, Awaiting, Canceling, Unresolved, Watching, Paid, Canceled, PayFailed, Expired, Failed, Refunded, PartialRefunded}
	finals := map[State]bool{Paid: true, Canceled: true, PayFailed: true, Expired: true, Failed: true, Refunded: true, PartialRefunded: true}
	for _, from := range all {
		if from.Final() != finals[from] {
			t.Errorf("%s.Final() = %v", from, from.Final())
		}
		for _, to := range all {
			got := CanMove(from, to)
			var want bool
			switch {
			case from == Paid || from == PartialRefunded:
				want = to == Refunded || to == PartialRefunded
			case from.Final():
				want = false // nothing leaves a final state
			case to == Expired:
				want = from == Queued // only a sale that never reached the gateway expires locally
			case to == Queued:
				want = from == Submitting || from == Queued // queued only when nothing was sent
			case to == Submitting:
				want = from == Unknown // resend only after the gateway said it has no such order
			case to == Failed:
				want = from == Submitting || from == Queued || from == Unknown
			case to == Refunded || to == PartialRefunded:
				// Only an order the gateway holds can have been refunded.
				want = from == Unknown || from == Awaiting || from == Canceling || from == Unresolved || from == Watching
			case to == Unresolved:
				// Evidence then "not found" (issue 13.1): from anything that
				// talked to the gateway, except an order already given up
				// to its expiry.
				want = from != Watching
			case to == Watching:
				// Only after a cancel was tried (issue 13.3).
				want = from == Unknown || from == Unresolved || from == Canceling || from == Watching
			case from == Watching:
				want = to == Watching || to.Final()
			case from == Unresolved:
				want = to == Unresolved || to == Awaiting || to == Canceling || to.Final()
			case from == Canceling:
				want = to == Canceling || to.Final()
			case from == Awaiting:
				want = to == Awaiting || to == Canceling || to.Final()
			default:
				want = true
			}
			if got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	// Every final gateway status maps onto a final local state.
	for _, st := range []gateway.Status{gateway.StatusPaid, gateway.StatusCanceled, gateway.StatusPayCanceled, gateway.StatusRefunded, gateway.StatusPartialRefunded} {
		if !fromGateway(st).Final() {
			t.Errorf("%s maps to non-final %s", st, fromGateway(st))
		}
	}
	for _, st := range []gateway.Status{gateway.StatusPayError, gateway.StatusCancelError, gateway.StatusCancelInProgress, gateway.StatusRefundError, "WHATEVER"} {
		if fromGateway(st) != Unknown {
			t.Errorf("%s should keep the engine asking", st)
		}
	}
}

func TestSalePaid(t *testing.T) {
	b := newBed(t, "upay", Config{Prefix: "T1"})
	o, err := b.eng.Sale(ctx, 1250)
	if err != nil {
		t.Fatal(err)
	}
	if o.ClientSN == "" || State(o.State) != Awaiting || o.QRCode == "" || o.SN == "" {
		t.Fatalf("after Sale: %+v", o)
	}
	// Written before sent: the first history entry is the submitting record.
	if o.History[0].To != string(Submitting) {
		t.Fatalf("history: %+v", o.History)
	}
	b.runUntilIdle(7 * time.Second) // polls at 2, 4, 6 s
	b.clock.Set(start.Add(7 * time.Second))
	if err := b.pay(o.SN); err != nil {
		t.Fatal(err)
	}
	b.runUntilIdle(time.Hour)
	got := b.order(o.ClientSN)
	if State(got.State) != Paid || got.TradeNo == "" {
		t.Fatalf("final: %+v", got)
	}
	// Paid seen at the first poll after the payment: 8 s after the sale.
	if at := got.History[len(got.History)-1].At; !at.Equal(start.Add(8 * time.Second)) {
		t.Fatalf("paid seen at %v", at.Sub(start))
	}
	if k := b.kinds(); !slices.Equal(k, []EventKind{EventSubmitting, EventAwaitingPayment, EventPaid}) {
		t.Fatalf("events: %v", k)
	}
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
}

// TestPollScheduleAndCancel: an unpaid order is polled every 2 s for the
// first 30 s, then every 5 s, and cancelled at the 240 s deadline.
func TestPollScheduleAndCancel(t *testing.T) {
	b := newBed(t, "upay", Config{})
	counting := &countingGateway{Gateway: b.gw, clock: b.clock}
	b.eng.gw = counting
	o, err := b.eng.Sale(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	b.runUntilIdle(time.Hour)
	got := b.order(o.ClientSN)
	if State(got.State) != Canceled || got.GatewayStatus != string(gateway.StatusCanceled) {
		t.Fatalf("final: %+v", got)
	}
	// Queries at 2,4,...,30 (15), then 35,...,235 (41), then at the
	// deadline 240 the cancel and its confirming query.
	var want []time.Duration
	for s := 2; s <= 30; s += 2 {
		want = append(want, time.Duration(s)*time.Second)
	}
	for s := 35; s < 240; s += 5 {
		want = append(want, time.Duration(s)*time.Second)
	}
	if !slices.Equal(counting.queries[:len(counting.queries)-1], want) {
		t.Fatalf("query times:\n got %v\nwant %v", counting.queries, want)
	}
	if c := counting.cancels; len(c) != 1 || c[0] != 240*time.Second {
		t.Fatalf("cancels at %v", c)
	}
	if last := counting.queries[len(counting.queries)-1]; last != 240*time.Second {
		t.Fatalf("no confirming query after cancel: %v", last)
	}
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
}

// countingGateway records when each call was made, relative to start.
type countingGateway struct {
	gateway.Gateway
	clock            *FakeClock
	queries, cancels []time.Duration
	beforeCancel     func()
}

func (g *countingGateway) Query(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	g.queries = append(g.queries, g.now())
	return g.Gateway.Query(ctx, ref)
}

func (g *countingGateway) Cancel(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	g.cancels = append(g.cancels, g.now())
	if g.beforeCancel != nil {
		g.beforeCancel()
	}
	return g.Gateway.Cancel(ctx, ref)
}

func (g *countingGateway) now() time.Duration {
	if g.clock == nil {
		return 0
	}
	return g.clock.Now().Sub(start)
}

// TestPaymentWinsCancelRace: the payer pays just as the deadline cancel
// goes out; the gateway's answer rules and the sale ends PAID.
func TestPaymentWinsCancelRace(t *testing.T) {
	// The terminal gives up before the gateway's own 240 s TTL would.
	b := newBed(t, "upay", Config{PaymentWindow: 200 * time.Second})
	var sn string
	cg := &countingGateway{Gateway: b.gw, clock: b.clock, beforeCancel: func() {
		if err := b.pay(sn); err != nil {
			t.Errorf("pay: %v", err)
		}
	}}
	b.eng.gw = cg
	o, _ := b.eng.Sale(ctx, 999)
	sn = o.SN
	b.runUntilIdle(time.Hour)
	if got := b.order(o.ClientSN); State(got.State) != Paid {
		t.Fatalf("final: %s (%s)", got.State, got.LastError)
	}
	if !slices.Contains(b.kinds(), EventPaid) || slices.Contains(b.kinds(), EventCanceled) {
		t.Fatalf("events: %v", b.kinds())
	}
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
}

func TestCashierCancel(t *testing.T) {
	b := newBed(t, "upay", Config{})
	o, _ := b.eng.Sale(ctx, 500)
	if _, err := b.eng.Sale(ctx, 600); !errors.Is(err, ErrBusy) {
		t.Fatalf("second sale while one waits: %v", err)
	}
	b.clock.Advance(3 * time.Second)
	if err := b.eng.CancelActive(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.order(o.ClientSN); State(got.State) != Canceled {
		t.Fatalf("after cancel: %s", got.State)
	}
	if err := b.pay(o.SN); err == nil {
		t.Fatal("a cancelled order could still be paid")
	}
	if _, err := b.eng.Sale(ctx, 600); err != nil {
		t.Fatalf("next sale: %v", err)
	}
}

// TestUnknownOutcomes injects every fault into the precreate call and
// checks that the sale is resolved by query, with one gateway order.
func TestUnknownOutcomes(t *testing.T) {
	for _, k := range faults.All {
		t.Run(string(k), func(t *testing.T) {
			b := newBed(t, "upay", Config{CallTimeout: 300 * time.Millisecond})
			b.faults.Script(k)
			o, err := b.eng.Sale(ctx, 4200)
			if err != nil {
				t.Fatal(err)
			}
			b.runUntilIdle(5 * time.Second)
			got := b.order(o.ClientSN)
			if State(got.State) != Awaiting || got.QRCode == "" {
				t.Fatalf("after %s: %s %q (%s)", k, got.State, got.QRCode, got.LastError)
			}
			if err := b.pay(got.SN); err != nil {
				t.Fatal(err)
			}
			b.runUntilIdle(time.Hour)
			l := b.ledger()
			if len(l.Orders) != 1 || l.Orders[0].Charges != 1 {
				t.Fatalf("ledger: %+v", l)
			}
			if err := b.checkInvariant(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOfflineQueue(t *testing.T) {
	b := newBed(t, "upay", Config{QueueTTL: 2 * time.Minute})
	b.setDown(true)
	o, err := b.eng.Sale(ctx, 800)
	if err != nil {
		t.Fatal(err)
	}
	if State(o.State) != Queued {
		t.Fatalf("offline sale: %s", o.State)
	}
	if p, q, _ := b.eng.Pending(); p != 1 || q != 1 {
		t.Fatalf("pending %d queued %d", p, q)
	}
	if !slices.Contains(b.kinds(), EventOffline) || !slices.Contains(b.kinds(), EventQueued) {
		t.Fatalf("events: %v", b.kinds())
	}
	// A second offline sale may be queued behind it.
	o2, err := b.eng.Sale(ctx, 900)
	if err != nil || State(o2.State) != Queued {
		t.Fatalf("second offline sale: %v %s", err, o2.State)
	}
	// Backoff retries while offline, never past the TTL.
	b.runUntilIdle(30 * time.Second)
	retries := 0
	for _, ev := range b.events {
		if ev.Kind == EventQueued && ev.Order.ClientSN == o.ClientSN {
			retries++
		}
	}
	if got := b.order(o.ClientSN); State(got.State) != Queued || retries < 4 {
		t.Fatalf("after 30s offline: %s after %d tries", got.State, retries)
	}
	// Network back: both orders reach the gateway, each once.
	b.setDown(false)
	b.clock.Advance(time.Minute)
	if err := b.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	for _, sn := range []string{o.ClientSN, o2.ClientSN} {
		if got := b.order(sn); State(got.State) != Awaiting {
			t.Fatalf("%s after reconnect: %s", sn, got.State)
		}
	}
	b.pay(b.order(o.ClientSN).SN)
	b.runUntilIdle(time.Hour)
	if s := b.order(o.ClientSN).State; s != string(Paid) {
		t.Fatalf("first: %s", s)
	}
	if s := b.order(o2.ClientSN).State; s != string(Canceled) {
		t.Fatalf("second: %s", s)
	}
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
}

func TestQueueExpires(t *testing.T) {
	b := newBed(t, "upay", Config{QueueTTL: 2 * time.Minute})
	b.setDown(true)
	o, _ := b.eng.Sale(ctx, 800)
	b.runUntilIdle(time.Hour)
	got := b.order(o.ClientSN)
	if State(got.State) != Expired {
		t.Fatalf("state %s", got.State)
	}
	if at := got.History[len(got.History)-1].At.Sub(start); at < 2*time.Minute || at > 3*time.Minute {
		t.Fatalf("expired after %v", at)
	}
	b.setDown(false)
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.ledger().Orders); n != 0 {
		t.Fatalf("an expired queued sale reached the gateway: %d orders", n)
	}
}

// TestReconcileAfterCrash leaves orders in every non-final state in the
// database, as a crash would, and starts a fresh engine on the same file.
func TestReconcileAfterCrash(t *testing.T) {
	b := newBed(t, "upay", Config{Prefix: "R"})
	// 1: precreated at the gateway, crash before the answer was stored.
	o1 := storage.Order{Gateway: "upay", AmountCents: 100, Subject: "s", State: string(Submitting), CreatedAt: start, Deadline: start.Add(240 * time.Second)}
	if err := b.db.CreateOrder(&o1, "R"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.gw.Precreate(ctx, gateway.PrecreateRequest{ClientSN: o1.ClientSN, AmountCents: 100, Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	// 2: crash before precreate left the terminal.
	o2 := storage.Order{Gateway: "upay", AmountCents: 200, Subject: "s", State: string(Submitting), CreatedAt: start, Deadline: start.Add(240 * time.Second)}
	b.db.CreateOrder(&o2, "R")
	// 3: awaiting and paid while the terminal was down.
	o3 := storage.Order{Gateway: "upay", AmountCents: 300, Subject: "s", State: string(Submitting), CreatedAt: start, Deadline: start.Add(240 * time.Second)}
	b.db.CreateOrder(&o3, "R")
	g3, _ := b.gw.Precreate(ctx, gateway.PrecreateRequest{ClientSN: o3.ClientSN, AmountCents: 300, Subject: "s"})
	o3.State, o3.SN = string(Awaiting), g3.SN
	b.db.PutOrder(&o3)
	b.pay(g3.SN)

	b.clock.Advance(10 * time.Second)
	eng := New(Config{Prefix: "R", CallTimeout: 2 * time.Second}, b.db, b.gw, b.clock, nil, nil)
	b.eng = eng
	if n, err := eng.Reconcile(ctx); err != nil || n != 3 {
		t.Fatalf("reconcile: %d %v", n, err)
	}
	if s := b.order(o1.ClientSN).State; s != string(Awaiting) {
		t.Fatalf("o1: %s", s)
	}
	if s := b.order(o2.ClientSN).State; s != string(Awaiting) {
		t.Fatalf("o2 (never sent, resent under the same client_sn): %s", s)
	}
	if s := b.order(o3.ClientSN).State; s != string(Paid) {
		t.Fatalf("o3: %s", s)
	}
	b.runUntilIdle(time.Hour)
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
	for _, l := range b.ledger().Orders {
		if l.Creates > 1 && l.ClientSN != o1.ClientSN {
			t.Fatalf("precreate repeated for %s", l.ClientSN)
		}
	}
}

func TestAmountLimits(t *testing.T) {
	b := newBed(t, "upay", Config{MaxAmountCents: 10000})
	for _, a := range []int64{0, -1, 10001} {
		if _, err := b.eng.Sale(ctx, a); !errors.Is(err, ErrAmount) {
			t.Errorf("Sale(%d): %v", a, err)
		}
	}
	if p, _, _ := b.eng.Pending(); p != 0 {
		t.Fatal("a refused amount was stored")
	}
	if _, err := b.eng.Sale(ctx, 10000); err != nil {
		t.Fatal(err)
	}
}

// TestGatewayRefusal: the gateway refuses (here: the terminal's key is
// wrong); the order fails with the reason, and nothing exists there.
func TestGatewayRefusal(t *testing.T) {
	b := newBed(t, "upay", Config{})
	type setter interface{ SetTerminal(sn, key string) }
	s := b.gw.(setter)
	s.SetTerminal(b.gw.(interface{ TerminalSN() string }).TerminalSN(), "wrong-key")
	o, err := b.eng.Sale(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if State(o.State) != Failed || o.LastError == "" {
		t.Fatalf("state %s %q", o.State, o.LastError)
	}
	ev := b.events[len(b.events)-1]
	if ev.Kind != EventFailed || ev.Reason == "" {
		t.Fatalf("event %+v", ev)
	}
}
