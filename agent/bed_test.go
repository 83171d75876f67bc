package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/sandboxkit"
	"posagent/gateway/upay"
	upaysandbox "posagent/gateway/upay/sandbox"
	"posagent/storage"
)

// bed is one gateway's sandbox on loopback, a real client for it, a real
// bbolt file and an engine, all on one fake clock.
type bed struct {
	t      testing.TB
	name   string
	clock  *FakeClock
	gw     gateway.Gateway
	pay    func(id string) error
	decl   func(id string) error
	ledger func() gateway.Ledger
	faults *faults.Injector
	down   *atomic.Bool    // true: every dial fails, as with the network unplugged
	tr     *http.Transport // the loopback transport, nil in memory
	db     *storage.DB
	eng    *Engine

	personalities func(ps ...sandboxkit.Personality) error

	mu     sync.Mutex
	events []Event
}

var start = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// offlineTransport is a real HTTP transport whose dialer can be switched
// off: the request then never leaves the terminal.
func offlineTransport(down *atomic.Bool) *http.Transport {
	d := &net.Dialer{Timeout: 2 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if down.Load() {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}

// sandboxed is a gateway client wired to its sandbox.
type sandboxed struct {
	gw           gateway.Gateway
	pay, decline func(id string) error
	ledger       func() gateway.Ledger
	faults       *faults.Injector
	// personalities switches the sandbox's personalities; nil for a
	// sandbox that has none yet.
	personalities func(ps ...sandboxkit.Personality) error
}

// wire connects a sandbox handler to its client: over loopback sockets
// (the engine tests: real net/http failures) or in memory through
// faults.Transport (the chaos test: no sockets, no real timeouts, same
// seeded faults; gateway/faults/memory.go says how it keeps the clients'
// NotSent/Unknown decision honest).
type wire struct {
	inMemory bool
	connect  func(t testing.TB, h http.Handler) (baseURL string, tr http.RoundTripper)
}

// loopback serves h on a real listener; down unplugs the dialer.
func loopback(down *atomic.Bool, keep **http.Transport) wire {
	return wire{connect: func(t testing.TB, h http.Handler) (string, http.RoundTripper) {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		tr := offlineTransport(down)
		*keep = tr
		return srv.URL, tr
	}}
}

// inMemory serves h through faults.Transport; down fails requests before
// they leave, as an unplugged network does. The base URL is a loopback
// address (the clients allow plain http only there) that is never dialled.
func inMemory(down *atomic.Bool) wire {
	return wire{inMemory: true, connect: func(t testing.TB, h http.Handler) (string, http.RoundTripper) {
		return "http://127.0.0.1:9", &faults.Transport{Handler: h, Down: down.Load}
	}}
}

// gateways makes each gateway's sandbox and client; the chaos and engine
// tests run unchanged against every entry.
var gateways = map[string]func(t testing.TB, clock *FakeClock, w wire) sandboxed{"upay": newUpay}

func newUpay(t testing.TB, clock *FakeClock, w wire) sandboxed {
	sb := upaysandbox.New(upaysandbox.Options{Now: clock.Now, OrderTTL: 240 * time.Second})
	base, tr := w.connect(t, sb)
	sb.SetBaseURL(base)
	cfg := sb.ClientConfig(base)
	cfg.Transport = tr
	c, err := upay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	term, err := c.Activate(context.Background(), upay.ActivateRequest{AppID: "test", Code: "12345678", DeviceID: "dev-1"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetTerminal(term.SN, term.Key)
	return sandboxed{c, sb.Pay, sb.Decline, sb.Ledger, sb.Faults(), sb.SetPersonalities}
}

// newBed is a bed on loopback sockets.
func newBed(t testing.TB, gw string, cfg Config) *bed {
	t.Helper()
	b := &bed{t: t, name: gw, clock: NewFakeClock(start), down: new(atomic.Bool)}
	return b.build(loopback(b.down, &b.tr), cfg)
}

// newMemBed is a bed whose client reaches the sandbox in memory.
func newMemBed(t testing.TB, gw string, cfg Config) *bed {
	t.Helper()
	b := &bed{t: t, name: gw, clock: NewFakeClock(start), down: new(atomic.Bool)}
	return b.build(inMemory(b.down), cfg)
}

func (b *bed) build(w wire, cfg Config) *bed {
	sx := gateways[b.name](b.t, b.clock, w)
	b.gw, b.pay, b.decl, b.ledger, b.faults, b.personalities = sx.gw, sx.pay, sx.decline, sx.ledger, sx.faults, sx.personalities
	b.openDB(filepath.Join(b.t.TempDir(), "posagent.db"))
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 2 * time.Second
	}
	cfg.Gateway = b.name
	b.eng = New(cfg, b.db, b.gw, b.clock, nil, b.record)
	return b
}

// record is the engine's emit in tests: events arrive from conversations
// running concurrently.
func (b *bed) record(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, ev)
}

// setDown unplugs (true) or restores the network: dials fail and kept-alive
// connections are dropped.
func (b *bed) setDown(down bool) {
	b.down.Store(down)
	if b.tr != nil {
		b.tr.CloseIdleConnections()
	}
}

func (b *bed) openDB(path string) {
	db, err := storage.Open(path, &storage.Options{Now: b.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { db.Close() })
	b.db = db
}

// runUntilIdle ticks, moving the clock to each next due time, until no
// order is pending or limit is reached.
func (b *bed) runUntilIdle(limit time.Duration) {
	b.t.Helper()
	end := b.clock.Now().Add(limit)
	for {
		if err := b.eng.Tick(context.Background()); err != nil {
			b.t.Fatal(err)
		}
		next, ok, err := b.eng.Next()
		if err != nil {
			b.t.Fatal(err)
		}
		if !ok || next.After(end) {
			return
		}
		b.clock.Set(next)
	}
}

func (b *bed) order(clientSN string) storage.Order {
	b.t.Helper()
	o, err := b.db.GetOrder(clientSN)
	if err != nil {
		b.t.Fatal(err)
	}
	return o
}

// shown reports whether the QR of an order reached the screen.
func (b *bed) shown(clientSN string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.events {
		if e.Kind == EventAwaitingPayment && e.Order.ClientSN == clientSN {
			return true
		}
	}
	return false
}

func (b *bed) kinds() []EventKind {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ks []EventKind
	for _, e := range b.events {
		ks = append(ks, e.Kind)
	}
	return ks
}

// audit holds the design's invariant (design.md) against the gateway's
// ledger: every order is final; the device's final state equals the
// gateway's; each paid order is charged exactly once; there is no gateway
// order the device does not know; refunds agree.
type audit struct {
	open, lost, double, mismatch int
	first                        error
}

func (a *audit) fail(n *int, msg string) {
	*n++
	if a.first == nil {
		a.first = errors.New(msg)
	}
}

func (b *bed) audit() audit {
	var a audit
	pending, err := b.db.PendingOrders()
	if err != nil {
		a.fail(&a.mismatch, err.Error())
		return a
	}
	for _, o := range pending {
		a.fail(&a.open, "orders still open: "+o.ClientSN+" is "+o.State)
	}
	all, err := b.db.ListOrders(storage.Filter{})
	if err != nil {
		a.fail(&a.mismatch, err.Error())
		return a
	}
	mine := map[string]storage.Order{}
	for _, o := range all {
		mine[o.ClientSN] = o
	}
	seen := map[string]bool{}
	for _, l := range b.ledger().Orders {
		o, ok := mine[l.ClientSN]
		if !ok {
			a.fail(&a.lost, "gateway has an order the device does not know: "+l.ClientSN)
			continue
		}
		if seen[l.ClientSN] {
			a.fail(&a.double, "two gateway orders for one sale: "+l.ClientSN)
		}
		seen[l.ClientSN] = true
		if l.Charges > 1 {
			a.fail(&a.double, "charged twice: "+l.ClientSN)
		}
		switch {
		case l.Status.Paid() != (o.State == string(Paid) || o.State == string(Refunded) || o.State == string(PartialRefunded)):
			a.fail(&a.lost, "paid on one side only: "+l.ClientSN+" device "+o.State+" gateway "+string(l.Status))
		case State(o.State) != fromGateway(l.Status):
			a.fail(&a.mismatch, "final states differ: "+l.ClientSN+" device "+o.State+" gateway "+string(l.Status))
		case l.AmountCents != o.AmountCents:
			a.fail(&a.mismatch, "amounts differ: "+l.ClientSN)
		case l.RefundedCents != o.RefundedCents:
			a.fail(&a.mismatch, fmt.Sprintf("refunded amounts differ: %s device %d gateway %d", l.ClientSN, o.RefundedCents, l.RefundedCents))
		}
		if no, _, open := RefundPending(o); open {
			a.fail(&a.open, "refund "+no+" of "+l.ClientSN+" still unconfirmed")
		}
	}
	for sn, o := range mine {
		if !seen[sn] && (State(o.State) == Paid || State(o.State) == Awaiting) {
			a.fail(&a.lost, "device has a paid order the gateway does not: "+sn)
		}
	}
	return a
}

// checkInvariant returns the first breach of the invariant, if any.
func (b *bed) checkInvariant() error { return b.audit().first }

type storageOrder = storage.Order

var storageAll = storage.Filter{}
