package counter

import (
	"context"
	"iter"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/agent/report"
	"posagent/display"
	"posagent/gateway"
	"posagent/gateway/upay"
	upaysandbox "posagent/gateway/upay/sandbox"
	"posagent/printer"
	"posagent/storage"
)

// guard only turns a hang into a failure; nothing waits on it.
const guard = 20 * time.Second

// rig is a counter on real parts: the Upay sandbox on loopback checking
// every signature, the real client, a bbolt file, the engine on a fake
// clock (the test ticks it), and displays and paper that record.
type rig struct {
	t      *testing.T
	clock  *agent.FakeClock
	sb     *upaysandbox.Server
	gw     gateway.Gateway
	db     *storage.DB
	eng    *agent.Engine
	c      *Counter
	keys   chan keypad.Event
	shown  chan display.Screen
	docs   chan Doc
	sales  chan error // each Sale's return, so the test ticks after it
	dir    string
	term   upay.Terminal // the sandbox terminal the client signs as
	cancel context.CancelFunc
	done   chan error
}

// scanOf streams db's orders through the storage read the counter is
// given in production.
func scanOf(db *storage.DB) func(storage.Filter) iter.Seq2[storage.Order, error] {
	return func(f storage.Filter) iter.Seq2[storage.Order, error] {
		return func(yield func(storage.Order, error) bool) {
			os, err := db.ListOrders(f)
			if err != nil {
				yield(storage.Order{}, err)
				return
			}
			for _, o := range os {
				if !yield(o, nil) {
					return
				}
			}
		}
	}
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, clock: agent.NewFakeClock(t0), keys: make(chan keypad.Event), shown: make(chan display.Screen, 1024),
		docs: make(chan Doc, 64), sales: make(chan error, 16), dir: t.TempDir()}
	r.sb = upaysandbox.New(upaysandbox.Options{Now: r.clock.Now, OrderTTL: 240 * time.Second})
	srv := httptest.NewServer(r.sb)
	t.Cleanup(srv.Close)
	r.sb.SetBaseURL(srv.URL)
	c, err := upay.New(r.sb.ClientConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	term, err := c.Activate(context.Background(), upay.ActivateRequest{AppID: "test", Code: "12345678", DeviceID: "dev-1"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetTerminal(term.SN, term.Key)
	r.gw, r.term = c, term
	db, err := storage.Open(filepath.Join(r.dir, "posagent.db"), &storage.Options{Now: r.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r.db = db
	r.start()
	return r
}

// start runs a fresh engine and counter on the rig's database, as a
// restarted terminal would.
func (r *rig) start() {
	t := r.t
	var c *Counter
	r.eng = agent.New(agent.Config{Gateway: "upay", Prefix: "T", CallTimeout: 5 * time.Second}, r.db, r.gw, r.clock, nil,
		func(ev agent.Event) { c.Emit(ev) })
	var err error
	c, err = NewCounter(Options{
		Config: Config{Merchant: "Shop", MaxCents: 500000}, Print: PrintConfig{QR: true, Receipts: true},
		Engine: saleSignal{r.eng, r.sales}, Store: r.db, Scan: scanOf(r.db), Refunds: r.db.Refunds, Gateway: r.gw, Prefix: "T",
		PINs: NewPINs(filepath.Join(r.dir, PINFile), r.clock.Now), ZPath: filepath.Join(r.dir, "z.json"),
		Display: recDisplay{r.shown}, Paper: func(d Doc) error { r.docs <- d; return nil },
		Now: r.clock.Now, Ticks: make(chan time.Time),
		// Check-in and activation through the sandbox, as the wiring in
		// cmd/posagent does through provision.
		Checkin: func(ctx context.Context) error {
			t, err := r.gw.(*upay.Client).Checkin(ctx, upay.CheckinRequest{TerminalSN: r.term.SN, DeviceID: "dev-1"})
			if err == nil {
				r.gw.(*upay.Client).SetTerminal(t.SN, t.Key)
				r.term = t
			}
			return err
		},
		Activate: func(ctx context.Context, code string) (printer.Commissioning, error) {
			t, err := r.gw.(*upay.Client).Activate(ctx, upay.ActivateRequest{AppID: "test", Code: code, DeviceID: "dev-2"})
			if err != nil {
				return printer.Commissioning{}, err
			}
			return printer.Commissioning{Terminal: t.SN, Store: "Shop", Gateway: "upay", Version: "test"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- c.Run(ctx, r.keys) }()
	t.Cleanup(r.stop)
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// saleSignal is the real engine; it reports when a Sale call has
// returned (the order's first conversation is over), so the test ticks
// the engine after it rather than racing it.
type saleSignal struct {
	*agent.Engine
	done chan error
}

func (s saleSignal) Sale(ctx context.Context, cents int64) (storage.Order, error) {
	o, err := s.Engine.Sale(ctx, cents)
	s.done <- err
	return o, err
}

func (r *rig) saleReturned() {
	r.t.Helper()
	select {
	case err := <-r.sales:
		if err != nil {
			r.t.Fatal(err)
		}
	case <-time.After(guard):
		r.t.Fatal("Sale did not return")
	}
}

type recDisplay struct{ c chan display.Screen }

func (d recDisplay) Show(s display.Screen) error { d.c <- s; return nil }
func (d recDisplay) Close() error                { return nil }

func (r *rig) typeKeys(keys ...keypad.Key) {
	for _, k := range keys {
		select {
		case r.keys <- keypad.Event{Kind: keypad.EventKey, Key: k}:
		case <-time.After(guard):
			r.t.Fatalf("the counter does not take key %s", k)
		}
	}
}

func amountKeys(s string) []keypad.Key {
	var ks []keypad.Key
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			ks = append(ks, keypad.Digit0+keypad.Key(c-'0'))
		case c == '.':
			ks = append(ks, keypad.Dot)
		}
	}
	return ks
}

// waitScreen reads shown screens until one matches.
func (r *rig) waitScreen(what string, pred func(display.Screen) bool) display.Screen {
	r.t.Helper()
	deadline := time.After(guard)
	for {
		select {
		case s := <-r.shown:
			if pred(s) {
				return s
			}
		case <-deadline:
			r.t.Fatalf("no %s screen", what)
		}
	}
}

func kind(k display.Kind) func(display.Screen) bool {
	return func(s display.Screen) bool { return s.Kind == k }
}

func (r *rig) waitDoc(what string, pred func(Doc) bool) Doc {
	r.t.Helper()
	deadline := time.After(guard)
	for {
		select {
		case d := <-r.docs:
			if pred(d) {
				return d
			}
		case <-deadline:
			r.t.Fatalf("no %s printed", what)
		}
	}
}

// tick moves the fake clock past the next poll and lets the engine work.
func (r *rig) tick(d time.Duration) {
	r.clock.Advance(d)
	if err := r.eng.Tick(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// TestCounterDay: a sale paid, a bad amount then a good sale cancelled,
// a refund and a reprint from the menu behind the PIN, and an X report
// whose totals equal the sandbox's ledger.
func TestCounterDay(t *testing.T) {
	r := newRig(t)
	if err := SetPIN(filepath.Join(r.dir, PINFile), Supervisor, "2468"); err != nil {
		t.Fatal(err)
	}
	r.waitScreen("idle", kind(display.Idle))

	// Sale 1: paid.
	r.typeKeys(append(amountKeys("12.50"), keypad.Enter)...)
	qr := r.waitScreen("QR", kind(display.AwaitingPayment))
	if qr.AmountCents != 1250 || qr.QR == "" || qr.OrderNo == "" {
		t.Fatalf("QR screen %+v", qr)
	}
	r.waitDoc("QR slip", func(d Doc) bool { return d.Slip != nil && d.Slip.ClientSN == qr.OrderNo })
	r.saleReturned()
	if err := r.sb.Pay(qr.OrderNo); err != nil {
		t.Fatal(err)
	}
	r.tick(2 * time.Second)
	paid := r.waitScreen("paid", kind(display.Paid))
	if paid.OrderNo != qr.OrderNo || paid.Channel == "" {
		t.Fatalf("paid screen %+v", paid)
	}
	r.waitDoc("receipt", func(d Doc) bool { return d.Receipt != nil && d.Receipt.ClientSN == qr.OrderNo })

	// A bad amount, then a good one, cancelled by the cashier: a void slip
	// goes with the printed QR slip.
	r.typeKeys(amountKeys("0.001")...)
	r.waitScreen("amount error", func(s display.Screen) bool { return s.Kind == display.Error && s.Reason == "amount.decimals" })
	r.typeKeys(keypad.Enter, keypad.Digit3, keypad.Enter)
	qr2 := r.waitScreen("second QR", kind(display.AwaitingPayment))
	if qr2.AmountCents != 300 {
		t.Fatalf("second sale %+v", qr2)
	}
	r.saleReturned()
	r.typeKeys(keypad.Cancel)
	c := r.waitScreen("cancelled", kind(display.Canceled))
	if c.Reason != "canceled_by_cashier" || c.OrderNo != qr2.OrderNo {
		t.Fatalf("cancel screen %+v", c)
	}
	if v := r.waitDoc("void slip", func(d Doc) bool { return d.Void != nil }); v.Void.ClientSN != qr2.OrderNo || v.Void.Reason != "canceled" {
		t.Fatalf("void %+v", v.Void)
	}

	// Menu: a wrong PIN first, then the right one; refund ¥5 of the last sale.
	r.typeKeys(keypad.Menu, keypad.Digit1, keypad.Digit1, keypad.Digit1, keypad.Digit1, keypad.Enter)
	r.waitScreen("wrong PIN", func(s display.Screen) bool { return s.Kind == display.PIN && s.Reason == "pin_wrong" })
	r.typeKeys(keypad.Digit2, keypad.Digit4, keypad.Digit6, keypad.Digit8, keypad.Enter)
	menu := r.waitScreen("menu", kind(display.Menu))
	if len(menu.Menu) == 0 || menu.Menu[0] != ItemRefundLast {
		t.Fatalf("menu %+v", menu)
	}
	r.typeKeys(keypad.Digit1) // refund the last sale
	ra := r.waitScreen("refund amount", func(s display.Screen) bool { return s.Kind == display.Entering && s.Title == "refund" })
	if ra.OrderNo != qr.OrderNo || ra.AmountCents != 1250 {
		t.Fatalf("refund screen %+v", ra)
	}
	r.typeKeys(keypad.Digit5, keypad.Enter)
	res := r.waitScreen("refund result", func(s display.Screen) bool { return s.Kind == display.Info && s.Title == "refund" })
	if res.Facts[0].Value != "ok" || res.RefundedCents != 500 {
		t.Fatalf("refund result %+v", res)
	}
	r.waitDoc("refund receipt", func(d Doc) bool { return d.Receipt != nil && d.Receipt.RefundedCents == 500 })
	var l gateway.LedgerEntry
	for _, e := range r.sb.Ledger().Orders {
		if e.ClientSN == qr.OrderNo {
			l = e
		}
	}
	if l.RefundedCents != 500 || l.Charges != 1 {
		t.Fatalf("ledger after the refund: %+v", l)
	}

	// Reprint, then the X report.
	r.typeKeys(keypad.Enter, keypad.Digit3)
	r.waitDoc("reprint", func(d Doc) bool { return d.Receipt != nil && d.Receipt.ClientSN == qr.OrderNo })
	r.waitScreen("reprint result", func(s display.Screen) bool { return s.Kind == display.Info && s.Title == ItemReprint })
	// A moment passes before the X report: its period is [from, now), so a
	// refund stored at the very instant the report is made belongs to the
	// next period (a real clock never shows the same instant twice).
	r.clock.Advance(time.Second)
	r.typeKeys(keypad.Enter, keypad.Digit4)
	rep := r.waitScreen("report", kind(display.Report)).Report
	printed := r.waitDoc("report", func(d Doc) bool { return d.Report != nil }).Report
	if printed.Kind != report.X || printed.NetCents != rep.NetCents {
		t.Fatalf("printed report %+v, shown %+v", printed, rep)
	}
	// The oracle is the sandbox's ledger: what the payer was charged,
	// less what was refunded.
	var net int64
	for _, e := range r.sb.Ledger().Orders {
		if e.Status.Paid() {
			net += e.AmountCents - e.RefundedCents
		}
	}
	if rep.NetCents != net || net != 750 {
		t.Fatalf("report net %d, ledger %d", rep.NetCents, net)
	}
	if rep.Refunds.Count != 1 || rep.Refunds.Cents != 500 || len(rep.Open) != 0 {
		t.Fatalf("report %+v", rep)
	}
}

// TestCounterRecoversOpenSale: a sale left waiting by the last run is the
// sale on the screen after a restart, marked recovered.
func TestCounterRecoversOpenSale(t *testing.T) {
	r := newRig(t)
	r.waitScreen("idle", kind(display.Idle))
	r.typeKeys(append(amountKeys("8"), keypad.Enter)...)
	qr := r.waitScreen("QR", kind(display.AwaitingPayment))
	r.saleReturned()
	r.stop()
	r.start()
	// The engine's start-up reconciliation announces the open sale.
	if _, err := r.eng.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := r.waitScreen("recovered", func(s display.Screen) bool { return s.Recovered })
	if rec.Kind != display.AwaitingPayment || rec.OrderNo != qr.OrderNo || rec.QR != qr.QR {
		t.Fatalf("recovered screen %+v, want the QR of %s", rec, qr.OrderNo)
	}
	// Cancel acts on it: the engine of the new run cancels it.
	r.typeKeys(keypad.Cancel)
	c := r.waitScreen("cancelled", kind(display.Canceled))
	if c.OrderNo != qr.OrderNo || c.Reason != "canceled_by_cashier" {
		t.Fatalf("cancel of the recovered sale: %+v", c)
	}
	if o, _ := r.db.GetOrder(qr.OrderNo); o.State != string(agent.Canceled) {
		t.Fatalf("recovered order %s after Cancel", o.State)
	}
}

// TestScreensCoalesce: a display slower than the events sees the latest
// screen last, whatever it skipped.
func TestScreensCoalesce(t *testing.T) {
	l := newLatest()
	release := make(chan struct{})
	shown := make(chan display.Screen, 16)
	d := &slowDisplay{release: release, shown: shown, entered: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.run(ctx, d, slog.New(slog.DiscardHandler), nil)
	l.set(display.Screen{Kind: display.Entering, Typed: "1"})
	<-d.entered // the display is busy with the first screen
	for i := 2; i <= 50; i++ {
		l.set(display.Screen{Kind: display.Entering, Typed: string(rune('0' + i%10))})
	}
	l.set(display.Screen{Kind: display.Paid})
	close(release)
	var last display.Screen
	for s := range shown {
		last = s
		if s.Kind == display.Paid {
			break
		}
	}
	if last.Kind != display.Paid || d.count() > 3 {
		t.Fatalf("last %+v after %d shows; want Paid within 3", last, d.count())
	}
}

type slowDisplay struct {
	mu      sync.Mutex
	n       int
	entered chan struct{}
	release chan struct{}
	shown   chan display.Screen
}

func (d *slowDisplay) Show(s display.Screen) error {
	d.mu.Lock()
	d.n++
	first := d.n == 1
	d.mu.Unlock()
	if first {
		d.entered <- struct{}{}
		<-d.release
	}
	d.shown <- s
	return nil
}
func (d *slowDisplay) Close() error { return nil }
func (d *slowDisplay) count() int   { d.mu.Lock(); defer d.mu.Unlock(); return d.n }

// TestCounterMenuActions: the rest of the menu on real parts: self-test
// slip, network status, check-in, an X report after a Z report (it starts
// where the Z ended), and a technician's activation with a commissioning
// slip.
func TestCounterMenuActions(t *testing.T) {
	r := newRig(t)
	pins := filepath.Join(r.dir, PINFile)
	if err := SetPIN(pins, Supervisor, "2468"); err != nil {
		t.Fatal(err)
	}
	if err := SetPIN(pins, Technician, "1357"); err != nil {
		t.Fatal(err)
	}
	r.waitScreen("idle", kind(display.Idle))
	r.typeKeys(keypad.Menu, keypad.Digit2, keypad.Digit4, keypad.Digit6, keypad.Digit8, keypad.Enter)
	r.waitScreen("menu", kind(display.Menu))

	r.typeKeys(keypad.Digit6) // self-test
	r.waitDoc("self-test slip", func(d Doc) bool { return d.SelfTest })
	r.waitScreen("self-test done", func(s display.Screen) bool { return s.Kind == display.Info && s.Title == ItemSelfTest })

	r.typeKeys(keypad.Enter, keypad.Digit7) // network
	n := r.waitScreen("network", func(s display.Screen) bool { return s.Kind == display.Info && s.Title == ItemNetwork })
	if len(n.Facts) == 0 || n.Facts[0] != (display.Fact{Label: "gateway", Value: "online"}) {
		t.Fatalf("network facts %+v", n.Facts)
	}

	before := r.term.Key
	r.typeKeys(keypad.Enter, keypad.Digit8) // check in
	ci := r.waitScreen("checkin", func(s display.Screen) bool { return s.Kind == display.Info && s.Title == ItemCheckin })
	if ci.Facts[0].Value != "ok" || r.term.Key == before {
		t.Fatalf("check-in %+v; key rotated: %v", ci.Facts, r.term.Key != before)
	}

	r.typeKeys(keypad.Enter, keypad.Digit5) // Z
	z := r.waitScreen("Z report", kind(display.Report)).Report
	r.clock.Advance(time.Hour)
	r.typeKeys(keypad.Enter, keypad.Digit4) // X
	x := r.waitScreen("X report", kind(display.Report)).Report
	if z.Kind != report.Z || x.Kind != report.X || !x.From.Equal(z.To) {
		t.Fatalf("X from %v, Z to %v: the X report must start where the Z ended", x.From, z.To)
	}

	// The technician: activation with a code typed on the keypad.
	r.typeKeys(keypad.Cancel, keypad.Cancel)
	r.waitScreen("idle", kind(display.Idle))
	r.sb.AddActivationCode("87654321", 1)
	r.typeKeys(keypad.Menu, keypad.Digit1, keypad.Digit3, keypad.Digit5, keypad.Digit7, keypad.Enter)
	tm := r.waitScreen("technician menu", kind(display.Menu))
	if tm.Menu[0] != ItemActivate {
		t.Fatalf("technician menu %v", tm.Menu)
	}
	r.typeKeys(keypad.Digit1)
	r.typeKeys(amountKeys("87654321")...)
	r.typeKeys(keypad.Enter)
	result := func(s display.Screen) bool {
		return s.Kind == display.Info && s.Title == "activation" && len(s.Facts) > 0 && s.Facts[0].Label == "result"
	}
	act := r.waitScreen("activation", result)
	if act.Facts[0].Value != "ok" || act.Facts[1].Label != "terminal" || act.Facts[1].Value == "" {
		t.Fatalf("activation facts %+v", act.Facts)
	}
	slip := r.waitDoc("commissioning slip", func(d Doc) bool { return d.Commissioning != nil })
	if slip.Commissioning.Terminal != act.Facts[1].Value {
		t.Fatalf("slip for %s, screen says %s", slip.Commissioning.Terminal, act.Facts[1].Value)
	}
	// The code is used up: a second activation fails and says so.
	r.typeKeys(keypad.Enter, keypad.Digit1)
	r.typeKeys(amountKeys("87654321")...)
	r.typeKeys(keypad.Enter)
	bad := r.waitScreen("failed activation", result)
	if bad.Facts[0].Value != "failed" {
		t.Fatalf("second activation with a spent code: %+v", bad.Facts)
	}
}

// TestCounterKeypadUnplugged: an unplugged keypad is said on an idle
// screen, never over a QR a customer is paying; plugged back, the screen
// is the counter's again.
func TestCounterKeypadUnplugged(t *testing.T) {
	r := newRig(t)
	r.waitScreen("idle", kind(display.Idle))
	port := func(k keypad.EventKind) {
		select {
		case r.keys <- keypad.Event{Kind: k}:
		case <-time.After(guard):
			t.Fatal("the counter does not take keypad events")
		}
	}
	port(keypad.EventDisconnected)
	r.waitScreen("unplugged", func(s display.Screen) bool { return s.Kind == display.Error && s.Reason == "keypad_unplugged" })
	port(keypad.EventConnected)
	r.waitScreen("idle again", kind(display.Idle))
	r.typeKeys(append(amountKeys("2"), keypad.Enter)...)
	r.waitScreen("QR", kind(display.AwaitingPayment))
	r.saleReturned()
	port(keypad.EventDisconnected)
	port(keypad.EventReconnecting) // taken after the unplug was handled
	if s := r.c.Screen(); s.Kind != display.AwaitingPayment {
		t.Fatalf("unplug replaced the QR: %+v", s)
	}
}
