package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/display"
	"posagent/printer"
	"posagent/provision"
)

// Terminal is the counter: keys in, sales through the engine, screens and
// paper out. It owns what the cashier sees; the engine owns the orders.
type Terminal struct {
	eng      *agent.Engine
	disp     display.Display // may be nil
	spool    *printer.Spooler
	entry    *keypad.Entry
	log      *slog.Logger
	merchant string
	subject  string
	printQR  bool
	printRcp bool
	// statusPath gets a JSON snapshot (no secrets) after every change, so
	// `posagent status` can report while this process holds the database.
	statusPath  string
	terminalSN  string
	lastCheckin func() time.Time // for the status file; may be nil
	// hook, if set, sees every engine event after the screen (demo hints,
	// selftest).
	hook func(agent.Event)
	// quit is closed by the Quit key (the demo's "q").
	quit chan struct{}

	quitOnce sync.Once

	events  chan agent.Event
	saleErr chan error

	mu       sync.Mutex
	current  string // client_sn of the sale on the screen
	screen   display.Screen
	deadline time.Time
	online   bool
	queued   int
	keypad   string
	printer  string
}

const reasonUnplugged = "keypad unplugged"

// Emit is the engine's event callback: it never blocks the engine.
func (t *Terminal) Emit(ev agent.Event) {
	select {
	case t.events <- ev:
	default:
		t.log.Error("display lags; event dropped", "event", ev.Kind.String(), "client_sn", ev.Order.ClientSN)
	}
}

func newTerminal(log *slog.Logger, merchant string, maxCents int64) (*Terminal, error) {
	entry, err := keypad.NewEntry(keypad.EntryOptions{Max: maxCents})
	if err != nil {
		return nil, err
	}
	return &Terminal{entry: entry, log: log, merchant: merchant, quit: make(chan struct{}),
		events: make(chan agent.Event, 256), saleErr: make(chan error, 4), online: true, keypad: "none", printer: "none"}, nil
}

// Run serves the counter until ctx ends or the Quit key is pressed.
func (t *Terminal) Run(ctx context.Context, keys <-chan keypad.Event) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	engDone := make(chan error, 1)
	go func() { engDone <- t.eng.Run(ctx) }()
	t.show(display.Screen{Kind: display.Idle})
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			<-engDone
			return nil
		case <-t.quit:
			cancel()
			<-engDone
			return nil
		case ev, ok := <-keys:
			if !ok {
				keys = nil // stdin closed: keep serving the open sale
				continue
			}
			t.keyEvent(ctx, ev)
		case ev := <-t.events:
			t.engineEvent(ev)
		case err := <-t.saleErr:
			t.show(display.Screen{Kind: display.Error, Reason: shortReason(err)})
		case <-tick.C:
			t.mu.Lock()
			s := t.screen
			if s.Kind == display.AwaitingPayment {
				s.Remaining = max(time.Until(t.deadline), 0)
			}
			t.mu.Unlock()
			if s.Kind == display.AwaitingPayment {
				t.show(s)
			}
		}
	}
}

func (t *Terminal) keyEvent(ctx context.Context, ev keypad.Event) {
	switch ev.Kind {
	case keypad.EventConnected:
		t.setDevice(&t.keypad, "connected")
		t.mu.Lock()
		unplugged := t.screen.Kind == display.Error && t.screen.Reason == reasonUnplugged
		t.mu.Unlock()
		if unplugged {
			t.show(display.Screen{Kind: display.Idle, Queued: t.queuedCount()})
		}
		return
	case keypad.EventDisconnected:
		t.setDevice(&t.keypad, "disconnected: "+errText(ev.Err))
		t.mu.Lock()
		busy := t.screen.Kind == display.AwaitingPayment || t.screen.Kind == display.Connecting
		t.mu.Unlock()
		if !busy { // a customer paying keeps the QR; the status file tells the rest
			t.show(display.Screen{Kind: display.Error, Reason: reasonUnplugged})
		}
		return
	case keypad.EventReconnecting:
		return
	}
	k := ev.Key
	t.mu.Lock()
	kind := t.screen.Kind
	t.mu.Unlock()
	switch k {
	case keypad.Quit:
		t.Quit()
		return
	case keypad.Refund, keypad.Menu:
		t.show(display.Screen{Kind: display.Error, Reason: "refunds: posagent refund <order>"})
		return
	}
	if kind == display.AwaitingPayment || kind == display.Connecting {
		if k == keypad.Cancel || k == keypad.Clear {
			go func() {
				if err := t.eng.CancelActive(ctx); err != nil {
					t.saleErr <- err
				}
				t.eng.Wake()
			}()
		}
		return // the customer is paying: other keys do nothing
	}
	cents, done, err := t.entry.Press(k)
	switch {
	case err != nil:
		t.show(display.Screen{Kind: display.Error, Reason: t.entry.Message(), Typed: t.entry.Text()})
	case done:
		t.show(display.Screen{Kind: display.Connecting, AmountCents: cents, Merchant: t.merchant})
		go func() {
			if _, err := t.eng.Sale(ctx, cents); err != nil {
				t.saleErr <- err
			}
			t.eng.Wake()
		}()
	case t.entry.Text() == "":
		t.show(display.Screen{Kind: display.Idle, Queued: t.queuedCount()})
	default:
		t.show(display.Screen{Kind: display.Entering, Typed: t.entry.Text()})
	}
}

// Quit ends Run, as the demo's q key does.
func (t *Terminal) Quit() { t.quitOnce.Do(func() { close(t.quit) }) }

func (t *Terminal) queuedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.queued
}

// engineEvent turns what the engine says into screens and paper.
func (t *Terminal) engineEvent(ev agent.Event) {
	o := ev.Order
	t.mu.Lock()
	if ev.Kind == agent.EventQueued || ev.Kind == agent.EventOffline || ev.Kind == agent.EventOnline {
		t.queued = ev.Queued
	}
	switch ev.Kind {
	case agent.EventOffline:
		t.online = false
	case agent.EventOnline, agent.EventAwaitingPayment, agent.EventPaid:
		t.online = true
	}
	if ev.Kind == agent.EventSubmitting {
		t.current = o.ClientSN
	}
	// A queued sale that reaches the gateway later takes the screen if the
	// counter is idle: its customer may still be waiting.
	if ev.Kind == agent.EventAwaitingPayment && o.ClientSN != t.current &&
		(t.screen.Kind == display.Idle || t.screen.Kind == display.Offline) {
		t.current = o.ClientSN
	}
	mine := o.ClientSN != "" && o.ClientSN == t.current
	t.mu.Unlock()

	base := display.Screen{Merchant: t.merchant, Subject: t.subject, AmountCents: o.AmountCents, OrderNo: o.ClientSN}
	switch ev.Kind {
	case agent.EventSubmitting:
		base.Kind = display.Connecting
		t.show(base)
	case agent.EventAwaitingPayment:
		if o.QRCode != "" && t.printQR && t.spool != nil {
			t.submit(printer.Job{ID: o.ClientSN, Slip: &printer.Slip{Merchant: t.merchant, AmountCents: o.AmountCents,
				ClientSN: o.ClientSN, QR: o.QRCode, ExpiresAt: o.Deadline}})
		}
		if mine {
			base.Kind, base.QR = display.AwaitingPayment, o.QRCode
			t.mu.Lock()
			t.deadline = o.Deadline
			t.mu.Unlock()
			base.Remaining = max(time.Until(o.Deadline), 0)
			t.show(base)
		}
	case agent.EventChecking:
		if mine {
			base.Kind, base.Reason = display.Connecting, "checking with the gateway"
			t.show(base)
		}
	case agent.EventPaid, agent.EventRefunded:
		if t.printRcp && t.spool != nil {
			kind := printer.Paid
			if ev.Kind == agent.EventRefunded {
				kind = printer.Refunded
			}
			t.submit(printer.Job{ID: o.ClientSN, Receipt: &printer.Receipt{Kind: kind, Merchant: t.merchant,
				AmountCents: o.AmountCents, RefundedCents: o.RefundedCents, At: o.UpdatedAt, ClientSN: o.ClientSN,
				SN: o.SN, TradeNo: o.TradeNo, Channel: channelName(o.Channel)}})
		}
		if mine {
			base.Kind = display.Paid
			if ev.Kind == agent.EventRefunded {
				base.Kind = display.Refunded
			}
			t.show(base)
		}
	case agent.EventCanceled:
		if mine {
			base.Kind, base.Reason = display.Canceled, ev.Reason
			if o.State == string(agent.Expired) {
				base.Kind = display.Expired
			}
			t.show(base)
		}
	case agent.EventFailed:
		if mine {
			base.Kind, base.Reason = display.Error, ev.Reason
			t.show(base)
		}
	case agent.EventQueued:
		if mine {
			base.Kind, base.Queued, base.Reason = display.Offline, ev.Queued, "sale queued; not payable yet"
			t.show(base)
		}
	case agent.EventOffline:
		t.mu.Lock()
		idle := t.screen.Kind == display.Idle
		t.mu.Unlock()
		if idle {
			t.show(display.Screen{Kind: display.Offline, Queued: ev.Queued, Reason: "gateway unreachable"})
		}
	case agent.EventOnline:
		t.mu.Lock()
		off := t.screen.Kind == display.Offline
		t.mu.Unlock()
		if off {
			t.show(display.Screen{Kind: display.Idle})
		}
	case agent.EventError:
		t.show(display.Screen{Kind: display.Error, Reason: ev.Reason})
	}
	t.writeStatus(ev)
	if t.hook != nil {
		t.hook(ev)
	}
}

func (t *Terminal) submit(j printer.Job) {
	if err := t.spool.Submit(j); err != nil {
		t.log.Error("printer", "err", err)
		t.setDevice(&t.printer, err.Error())
	}
}

func (t *Terminal) show(s display.Screen) {
	if s.Merchant == "" {
		s.Merchant = t.merchant
	}
	t.mu.Lock()
	t.screen = s
	t.mu.Unlock()
	if t.disp == nil {
		return
	}
	if err := t.disp.Show(s); err != nil {
		t.log.Error("display", "err", err)
	}
	t.log.Debug("screen shown", "kind", s.Kind.String(), "order", s.OrderNo)
}

func (t *Terminal) setDevice(field *string, v string) {
	t.mu.Lock()
	*field = v
	t.mu.Unlock()
	t.writeStatus(agent.Event{})
}

// Status is what `posagent status` shows; never a secret.
type Status struct {
	UpdatedAt  time.Time `json:"updated_at"`
	PID        int       `json:"pid"`
	TerminalSN string    `json:"terminal_sn"` // masked
	Online     bool      `json:"online"`
	Queued     int       `json:"queued"`
	Current    string    `json:"current_order,omitempty"`
	Checkin    time.Time `json:"last_checkin,omitzero"`
	LastEvent  string    `json:"last_event,omitempty"`
	Keypad     string    `json:"keypad"`
	Printer    string    `json:"printer"`
}

func (t *Terminal) writeStatus(ev agent.Event) {
	if t.statusPath == "" {
		return
	}
	t.mu.Lock()
	st := Status{UpdatedAt: time.Now().UTC().Round(time.Second), PID: os.Getpid(), TerminalSN: provision.MaskSN(t.terminalSN),
		Online: t.online, Queued: t.queued, Current: t.current, Keypad: t.keypad, Printer: t.printer}
	t.mu.Unlock()
	if ev.Kind != 0 {
		st.LastEvent = ev.Kind.String() + " " + ev.Order.ClientSN
	}
	if t.lastCheckin != nil {
		st.Checkin = t.lastCheckin()
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := t.statusPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		os.Rename(tmp, t.statusPath)
	}
}

func statusPathFor(db string) string { return filepath.Join(filepath.Dir(db), "status.json") }

func shortReason(err error) string {
	var ae *keypad.AmountError
	switch {
	case errors.As(err, &ae):
		return ae.Reason
	case errors.Is(err, agent.ErrBusy):
		return "press Cancel first"
	case errors.Is(err, agent.ErrAmount):
		return err.Error()
	}
	return errText(err)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// channelName gives the payment channel in Latin letters: most receipt
// printers have no Chinese font, and gateways name channels in Chinese.
func channelName(c string) string {
	switch c {
	case "支付宝":
		return "Alipay"
	case "微信", "微信支付":
		return "WeChat Pay"
	case "银联云闪付", "银联":
		return "UnionPay"
	}
	return c
}
