package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/sandboxkit"
)

// Tests of issue 13's engine rules, each against a sandbox showing the
// behaviour the issue reports (the sandboxes' personalities are documented,
// with their sources, in gateway/sandboxkit and each sandbox's package doc).

func logCalls(b *bed) *callLog {
	l := &callLog{Gateway: b.gw, now: b.clock.Now, stale: func() bool { return false }, at: map[string][]time.Time{}}
	b.eng.gw = l
	return l
}

func (b *bed) eventsOf(kind EventKind) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Event
	for _, e := range b.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func notes(o storageOrder) string {
	var s []string
	for _, h := range o.History {
		s = append(s, h.From+"→"+h.To+": "+h.Note)
	}
	return strings.Join(s, "\n")
}

// TestConflictThenNotFound is issue 13's Yedpay loop: the precreate answer
// is lost after the gateway committed it, lookups by client_sn say "not
// found", and a resent precreate is refused as a conflict. The conflict is
// evidence: the order becomes Unresolved, is never sent again nor
// concluded "never reached the gateway", is watched with backoff within
// the request budget until the gateway's expiry, and only then closed.
func TestConflictThenNotFound(t *testing.T) {
	for _, gw := range []string{"upay", "yedpay"} {
		t.Run(gw, func(t *testing.T) {
			b := newBed(t, gw, Config{CallTimeout: 300 * time.Millisecond})
			if err := b.personalities(sandboxkit.ConflictThenNotFound); err != nil {
				t.Fatal(err)
			}
			calls := logCalls(b)
			b.faults.Script(faults.DropAfter) // the precreate is applied, its answer lost
			o, err := b.eng.Sale(ctx, 700)
			if err != nil {
				t.Fatal(err)
			}
			b.runUntilIdle(2 * time.Minute)
			got := b.order(o.ClientSN)
			if State(got.State) != Unresolved {
				t.Fatalf("after a conflict: %s\n%s", got.State, notes(got))
			}
			if c := b.eventsOf(EventChecking); len(c) == 0 || c[len(c)-1].Outcome != OutcomeUnresolved {
				t.Fatalf("checking events: %+v", c)
			}
			b.runUntilIdle(48 * time.Hour)
			got = b.order(o.ClientSN)
			if State(got.State) != Canceled {
				t.Fatalf("final: %s\n%s", got.State, notes(got))
			}
			n := notes(got)
			after := n[strings.Index(n, "→unresolved"):]
			if strings.Contains(n, "never reached") || strings.Contains(after, "→submitting") {
				t.Fatalf("evidence ignored:\n%s", n)
			}
			if at := finalAt(got); at.Before(got.CreatedAt.Add(b.eng.Config().GatewayExpiry)) {
				t.Fatalf("closed at %v, before the gateway's expiry", at.Sub(got.CreatedAt))
			}
			// The screen was freed when the window closed.
			if w := b.eventsOf(EventWatching); len(w) == 0 {
				t.Fatal("the sale never left the screen")
			}
			perMin, total := calls.peak()
			// Issue 13, point 2: at most 30 calls a minute; and watching a
			// day with backoff costs a few hundred calls, not thousands.
			if perMin > 30 || total > 400 {
				t.Fatalf("calls: %d in a minute, %d in all", perMin, total)
			}
			if err := b.checkInvariant(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCancelUnavailable: the gateway has no cancel call (upay sandbox
// NoCancel answers HTTP 404) and the payer pays after the cashier cancelled
// (LatePayAfterCancel: half way to the gateway's expiry). The keypad is
// free at once, the order is watched, and the payment is a late payment.
func TestCancelUnavailable(t *testing.T) {
	b := newBed(t, "upay", Config{})
	if err := b.personalities(sandboxkit.NoCancel, sandboxkit.LatePayAfterCancel); err != nil {
		t.Fatal(err)
	}
	o, err := b.eng.Sale(ctx, 1200)
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(10 * time.Second)
	if err := b.eng.CancelActive(ctx); err != nil {
		t.Fatal(err)
	}
	if a, ok := b.eng.Active(); ok {
		t.Fatalf("still active after Cancel: %s %s", a.ClientSN, a.State)
	}
	w := b.eventsOf(EventWatching)
	if len(w) != 1 || w[0].Order.ClientSN != o.ClientSN || w[0].Until.IsZero() {
		t.Fatalf("watching events: %+v", w)
	}
	if c, _ := b.eng.Counts(); c.Watching != 1 {
		t.Fatalf("counts: %+v", c)
	}
	// The keypad takes the next sale.
	o2, err := b.eng.Sale(ctx, 300)
	if err != nil {
		t.Fatalf("next sale: %v", err)
	}
	b.eng.CancelActive(ctx)
	b.runUntilIdle(time.Hour)
	got := b.order(o.ClientSN)
	if State(got.State) != Paid {
		t.Fatalf("late payment: %s\n%s", got.State, notes(got))
	}
	lp := b.eventsOf(EventLatePaid)
	if len(lp) == 0 || lp[0].Order.ClientSN != o.ClientSN || lp[0].Outcome != OutcomeLatePaid {
		t.Fatalf("late paid events: %+v", lp)
	}
	for _, e := range b.eventsOf(EventPaid) {
		if e.Order.ClientSN == o.ClientSN {
			t.Fatal("a late payment was announced as an ordinary one")
		}
	}
	if State(b.order(o2.ClientSN).State).Final() == false {
		t.Fatalf("second order: %s", b.order(o2.ClientSN).State)
	}
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
}

// TestOutcomes: the window closing unpaid, the cashier's Cancel and a
// declined payment end with distinct outcomes (issue 15).
func TestOutcomes(t *testing.T) {
	b := newBed(t, "upay", Config{})
	expired, _ := b.eng.Sale(ctx, 100)
	b.runUntilIdle(time.Hour)
	cancelled, _ := b.eng.Sale(ctx, 200)
	b.eng.CancelActive(ctx)
	declined, _ := b.eng.Sale(ctx, 300)
	b.decl(declined.SN)
	b.runUntilIdle(time.Hour)
	want := map[string]Outcome{expired.ClientSN: OutcomeExpired, cancelled.ClientSN: OutcomeCanceled, declined.ClientSN: OutcomeDeclined}
	got := map[string]Outcome{}
	for _, e := range b.eventsOf(EventCanceled) {
		got[e.Order.ClientSN] = e.Outcome
	}
	for sn, w := range want {
		if got[sn] != w {
			t.Errorf("%s: outcome %q, want %q", sn, got[sn], w)
		}
	}
	if last, ok := b.eng.LastFinal(); !ok || last.ClientSN != declined.ClientSN {
		t.Errorf("last final: %s %v", last.ClientSN, ok)
	}
}

// TestRecoveredSaleIsActive: after a restart the sale that was on the
// screen is the active sale again and Cancel works on it (issue 15: "After
// a restart the counter locks").
func TestRecoveredSaleIsActive(t *testing.T) {
	b := newBed(t, "upay", Config{})
	o, _ := b.eng.Sale(ctx, 450)
	b.clock.Advance(20 * time.Second)
	b.mu.Lock()
	b.events = nil
	b.mu.Unlock()
	b.eng = New(b.eng.Config(), b.db, b.gw, b.clock, nil, b.record)
	if _, err := b.eng.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	a, ok := b.eng.Active()
	if !ok || a.ClientSN != o.ClientSN {
		t.Fatalf("active after restart: %v %s", ok, a.ClientSN)
	}
	ev := b.eventsOf(EventAwaitingPayment)
	if len(ev) != 1 || !ev[0].Recovered || ev[0].Order.QRCode == "" {
		t.Fatalf("recovered events: %+v", ev)
	}
	if _, err := b.eng.Sale(ctx, 100); !errors.Is(err, ErrBusy) {
		t.Fatalf("a new sale over the recovered one: %v", err)
	}
	if err := b.eng.CancelActive(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.order(o.ClientSN); State(got.State) != Canceled {
		t.Fatalf("after Cancel: %s", got.State)
	}
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
}

// TestClockGuard: with a clock not known to be right, no sale is taken and
// nothing is sent; the screen learns why; once synchronised, all proceeds.
func TestClockGuard(t *testing.T) {
	var mu sync.Mutex
	synced := false
	check := func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return synced, "not synchronised"
	}
	b := newBed(t, "upay", Config{ClockCheck: check})
	calls := logCalls(b)
	if _, err := b.eng.Sale(ctx, 100); !errors.Is(err, ErrClock) {
		t.Fatalf("sale with an unsynchronised clock: %v", err)
	}
	if err := b.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if w := b.eventsOf(EventClockWait); len(w) != 1 || !strings.Contains(w[0].Reason, "waiting for the clock") {
		t.Fatalf("clock events: %+v", w)
	}
	if _, total := calls.peak(); total != 0 {
		t.Fatalf("%d gateway calls before the clock was right", total)
	}
	if p, _, _ := b.eng.Pending(); p != 0 {
		t.Fatal("an order was stored while waiting for the clock")
	}
	mu.Lock()
	synced = true
	mu.Unlock()
	if _, err := b.eng.Sale(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if len(b.eventsOf(EventClockOK)) != 1 {
		t.Fatal("no clock_ok event")
	}
}

// TestTimeSync reads the time-sync state as systemd-timesyncd and the
// kernel report it (systemd-timesyncd.service(8): the flag file exists once
// synchronised; adjtimex(2): STA_UNSYNC).
func TestTimeSync(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "synchronized")
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	kernel := false
	s := &TimeSync{FlagFile: flag, Now: func() time.Time { return now },
		Adjtimex: func() (bool, error) { return kernel, nil }}
	if ok, why := s.Check(); ok || why == "" {
		t.Fatalf("unsynchronised: %v %q", ok, why)
	}
	kernel = true
	if ok, _ := s.Check(); !ok {
		t.Fatal("the kernel says synchronised")
	}
	kernel = false
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Check(); !ok {
		t.Fatal("timesyncd's flag file exists")
	}
	s.NotBefore = now.Add(time.Hour) // e.g. the newest time in the database
	if ok, why := s.Check(); ok || !strings.Contains(why, "earlier than") {
		t.Fatalf("a clock behind the bound: %v %q", ok, why)
	}
}

// recordingGateway remembers the request numbers of refunds.
type recordingGateway struct {
	gateway.Gateway
	mu      sync.Mutex
	refunds []string
}

func (g *recordingGateway) Refund(ctx context.Context, r gateway.RefundRequest) (gateway.Order, error) {
	g.mu.Lock()
	g.refunds = append(g.refunds, r.RequestNo)
	g.mu.Unlock()
	return g.Gateway.Refund(ctx, r)
}

// TestRefundResolvedByEngine: a refund answered with a server error after
// it was applied (upay-v2.md: outer "500" promises nothing; "a refund keeps
// its refund_request_no until a definite answer") is not final; the engine
// resends it by itself with the same request number, and it refunds once.
func TestRefundResolvedByEngine(t *testing.T) {
	b := newBed(t, "upay", Config{})
	o, _ := b.eng.Sale(ctx, 1000)
	b.pay(o.SN)
	b.runUntilIdle(time.Hour)
	rec := &recordingGateway{Gateway: b.gw}
	b.eng.gw = rec
	b.faults.Script(faults.Status500After)
	if _, err := b.eng.Refund(ctx, o.ClientSN, 400); gateway.ClassOf(err) != gateway.Unknown {
		t.Fatalf("want an unknown outcome, got %v", err)
	}
	if no, _, open := RefundPending(b.order(o.ClientSN)); !open || no != "R1" {
		t.Fatalf("open refund: %q %v", no, open)
	}
	if c, _ := b.eng.Counts(); c.Refunds != 1 {
		t.Fatalf("counts: %+v", c)
	}
	ch := b.eventsOf(EventChecking)
	if len(ch) == 0 || ch[len(ch)-1].Outcome != OutcomeRefundPending {
		t.Fatalf("checking events: %+v", ch)
	}
	b.runUntilIdle(time.Hour)
	got := b.order(o.ClientSN)
	if State(got.State) != PartialRefunded || got.RefundedCents != 400 {
		t.Fatalf("after resolution: %s %d\n%s", got.State, got.RefundedCents, notes(got))
	}
	if _, _, open := RefundPending(got); open {
		t.Fatal("refund still open")
	}
	rec.mu.Lock()
	nos := slices.Clone(rec.refunds)
	rec.mu.Unlock()
	if len(nos) < 2 || slices.IndexFunc(nos, func(s string) bool { return s != "R1" }) >= 0 {
		t.Fatalf("refund request numbers sent: %v", nos)
	}
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
}

// blockingGateway holds Query calls until released, as a gateway answering
// slowly would (issue 14: "Connecting" on screen for 2.5 s behind other
// orders' calls).
type blockingGateway struct {
	gateway.Gateway
	entered chan string
	release chan struct{}
}

func (g *blockingGateway) Query(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	g.entered <- ref.ClientSN
	<-g.release
	return g.Gateway.Query(ctx, ref)
}

// TestSaleDoesNotWaitBehindOtherOrders: while another order's query hangs
// at the gateway, Enter commits the new order and sends its precreate.
func TestSaleDoesNotWaitBehindOtherOrders(t *testing.T) {
	// An open order not on the screen: its gateway cannot cancel, so it
	// is watched until the gateway's expiry (upay sandbox NoCancel).
	b := newBed(t, "upay", Config{})
	if err := b.personalities(sandboxkit.NoCancel); err != nil {
		t.Fatal(err)
	}
	other, _ := b.eng.Sale(ctx, 200)
	if err := b.eng.CancelActive(ctx); err != nil {
		t.Fatal(err)
	}
	if State(b.order(other.ClientSN).State) != Watching {
		t.Fatalf("other: %s", b.order(other.ClientSN).State)
	}
	next, _, _ := b.eng.Next()
	b.clock.Set(next)
	bg := &blockingGateway{Gateway: b.gw, entered: make(chan string, 1), release: make(chan struct{})}
	b.eng.gw = bg
	tick := make(chan error)
	go func() { tick <- b.eng.Tick(ctx) }()
	if sn := <-bg.entered; sn != other.ClientSN {
		t.Fatalf("query for %s", sn)
	}
	// The other order's query hangs; the engine still answers...
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.eng.Alive(actx); err != nil {
		t.Fatal(err)
	}
	// ...and a new sale is committed and precreated meanwhile.
	o, err := b.eng.Sale(ctx, 300)
	if err != nil {
		t.Fatal(err)
	}
	if State(o.State) != Awaiting || o.QRCode == "" {
		t.Fatalf("new sale while another order's call hangs: %s", o.State)
	}
	close(bg.release)
	if err := <-tick; err != nil {
		t.Fatal(err)
	}
}

// TestRecoveredAfterStaleBoot: a Pi without RTC restarts mid-sale with a
// clock a year behind. Nothing is sent and no sale is recovered while the
// clock is wrong (a year-old "now" would put every window still open);
// once synchronised, the sale on the screen is recovered.
func TestRecoveredAfterStaleBoot(t *testing.T) {
	b := newBed(t, "upay", Config{})
	o, _ := b.eng.Sale(ctx, 450)
	b.clock.Advance(20 * time.Second)
	dev := &skewClock{FakeClock: b.clock}
	dev.set(-365 * 24 * time.Hour)
	var mu sync.Mutex
	synced := false
	cfg := b.eng.Config()
	cfg.ClockCheck = func() (bool, string) { mu.Lock(); defer mu.Unlock(); return synced, "not synchronised" }
	b.eng = New(cfg, b.db, b.gw, dev, nil, b.record)
	calls := logCalls(b)
	if _, err := b.eng.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.eng.Active(); ok {
		t.Fatal("a sale was recovered on a stale clock")
	}
	if _, total := calls.peak(); total != 0 {
		t.Fatalf("%d calls on a stale clock", total)
	}
	mu.Lock()
	synced = true
	mu.Unlock()
	dev.set(0)
	if err := b.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if a, ok := b.eng.Active(); !ok || a.ClientSN != o.ClientSN {
		t.Fatalf("after the sync: active %v %s", ok, a.ClientSN)
	}
	var rec []Event
	for _, e := range b.eventsOf(EventAwaitingPayment) {
		if e.Recovered {
			rec = append(rec, e)
		}
	}
	if len(rec) != 1 {
		t.Fatalf("recovered events: %+v", rec)
	}
}

// TestRefundResolvedAfterRestart: a refund left unconfirmed when the
// process stopped is found by the next run's loop and resolved with the
// same request number.
func TestRefundResolvedAfterRestart(t *testing.T) {
	b := newBed(t, "upay", Config{})
	o, _ := b.eng.Sale(ctx, 1000)
	b.pay(o.SN)
	b.runUntilIdle(time.Hour)
	b.faults.Script(faults.DropAfter)
	if _, err := b.eng.Refund(ctx, o.ClientSN, 1000); gateway.ClassOf(err) != gateway.Unknown {
		t.Fatalf("want an unknown outcome, got %v", err)
	}
	// The process stops; a new one starts on the same database.
	rec := &recordingGateway{Gateway: b.gw}
	refunded := make(chan struct{}, 1)
	b.eng = New(b.eng.Config(), b.db, rec, b.clock, nil, func(ev Event) {
		b.record(ev)
		if ev.Kind == EventRefunded {
			refunded <- struct{}{}
		}
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- b.eng.Run(runCtx) }()
	// After start-up the refund is due at once: Run resolves it without
	// the clock moving.
	select {
	case <-refunded:
	case <-time.After(time.Minute): // a guard against a hang, not a schedule
		t.Fatal("the unconfirmed refund was not resolved after the restart")
	}
	stop()
	<-done
	got := b.order(o.ClientSN)
	if State(got.State) != Refunded || got.RefundedCents != 1000 {
		t.Fatalf("after restart: %s %d\n%s", got.State, got.RefundedCents, notes(got))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.refunds) == 0 || slices.IndexFunc(rec.refunds, func(s string) bool { return s != "R1" }) >= 0 {
		t.Fatalf("request numbers: %v", rec.refunds)
	}
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
}

// TestBudgetWhateverTheGatewayAnswers: a gateway that applies every second
// call and answers it with a server error, refuses repeated precreates as
// conflicts, cannot find orders by the terminal's number and has no cancel
// (sandboxkit's personalities, all at once) still gets at most 30 calls a
// minute from one order (issue 13, point 2), and a bounded total before
// the order's expiry, whatever else happens.
func TestBudgetWhateverTheGatewayAnswers(t *testing.T) {
	b := newBed(t, "upay", Config{CallTimeout: 300 * time.Millisecond})
	if err := b.personalities(sandboxkit.Error500AfterCommit, sandboxkit.ConflictThenNotFound, sandboxkit.NoCancel); err != nil {
		t.Fatal(err)
	}
	calls := logCalls(b)
	for i := range 3 {
		b.faults.Script(faults.DropAfter)
		if _, err := b.eng.Sale(ctx, int64(100+i)); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(30 * time.Second)
		b.eng.CancelActive(ctx)
	}
	b.runUntilIdle(48 * time.Hour)
	perMin, total := calls.peak()
	cfg := b.eng.Config()
	if perMin > cfg.MaxCallsPerMinute || total > cfg.MaxCallsPerOrder {
		t.Fatalf("one order made %d calls in a minute, %d in all", perMin, total)
	}
	if st := b.eng.CallStats(); st.MaxPerMinute > cfg.MaxCallsPerMinute || st.Calls == 0 {
		t.Fatalf("engine's own count: %+v", st)
	}
	if p, _, _ := b.eng.Pending(); p != 0 {
		t.Fatalf("%d orders still open after two days", p)
	}
}

// countingBlockGateway holds every Query until released and records how
// many were in flight at once.
type countingBlockGateway struct {
	gateway.Gateway
	mu       sync.Mutex
	inflight int
	most     int
	entered  chan string
	release  chan struct{}
}

func (g *countingBlockGateway) Query(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	g.mu.Lock()
	g.inflight++
	g.most = max(g.most, g.inflight)
	g.mu.Unlock()
	g.entered <- ref.ClientSN
	<-g.release
	g.mu.Lock()
	g.inflight--
	g.mu.Unlock()
	return g.Gateway.Query(ctx, ref)
}

// TestConversationsConcurrentAndBounded: orders due together talk to the
// gateway side by side, at most Config.Conversations at once, one
// conversation per order (issue 14).
func TestConversationsConcurrentAndBounded(t *testing.T) {
	b := newBed(t, "upay", Config{Conversations: 2})
	if err := b.personalities(sandboxkit.NoCancel); err != nil {
		t.Fatal(err)
	}
	// Three open orders off the screen, watched (the gateway cannot cancel).
	var latest time.Time
	for i := range 3 {
		if _, err := b.eng.Sale(ctx, int64(100+i)); err != nil {
			t.Fatal(err)
		}
		b.eng.CancelActive(ctx)
	}
	os, _ := b.db.PendingOrders()
	if len(os) != 3 {
		t.Fatalf("%d open orders", len(os))
	}
	b.eng.mu.Lock()
	for _, o := range os {
		latest = later(latest, b.eng.due(&o))
	}
	b.eng.mu.Unlock()
	b.clock.Set(latest) // all three due
	g := &countingBlockGateway{Gateway: b.gw, entered: make(chan string), release: make(chan struct{})}
	b.eng.gw = g
	done := make(chan error)
	go func() { done <- b.eng.Tick(ctx) }()
	seen := map[string]bool{<-g.entered: true, <-g.entered: true} // two at once
	g.release <- struct{}{}                                       // one ends; the third may start
	seen[<-g.entered] = true
	g.release <- struct{}{}
	g.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || g.most != 2 {
		t.Fatalf("orders queried %v, at most %d at once (want 2)", seen, g.most)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
