package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
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
	down   *atomic.Bool // true: every dial fails, as with the network unplugged
	tr     *http.Transport
	db     *storage.DB
	eng    *Engine
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
}

// gateways makes each gateway's sandbox and client; the chaos and engine
// tests run unchanged against every entry.
var gateways = map[string]func(t testing.TB, clock *FakeClock, tr http.RoundTripper) sandboxed{"upay": newUpay}

func newUpay(t testing.TB, clock *FakeClock, tr http.RoundTripper) sandboxed {
	sb := upaysandbox.New(upaysandbox.Options{Now: clock.Now, OrderTTL: 240 * time.Second})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	sb.SetBaseURL(srv.URL)
	cfg := sb.ClientConfig(srv.URL)
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
	return sandboxed{c, sb.Pay, sb.Decline, sb.Ledger, sb.Faults()}
}

func newBed(t testing.TB, gw string, cfg Config) *bed {
	t.Helper()
	b := &bed{t: t, name: gw, clock: NewFakeClock(start), down: new(atomic.Bool)}
	b.tr = offlineTransport(b.down)
	sx := gateways[gw](t, b.clock, b.tr)
	b.gw, b.pay, b.decl, b.ledger, b.faults = sx.gw, sx.pay, sx.decline, sx.ledger, sx.faults
	b.openDB(filepath.Join(t.TempDir(), "posagent.db"))
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 2 * time.Second
	}
	cfg.Gateway = gw
	b.eng = New(cfg, b.db, b.gw, b.clock, nil, func(ev Event) { b.events = append(b.events, ev) })
	return b
}

// setDown unplugs (true) or restores the network: dials fail and kept-alive
// connections are dropped.
func (b *bed) setDown(down bool) {
	b.down.Store(down)
	b.tr.CloseIdleConnections()
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

func (b *bed) kinds() []EventKind {
	var ks []EventKind
	for _, e := range b.events {
		ks = append(ks, e.Kind)
	}
	return ks
}

// checkInvariant is the design's invariant (design.md): every order is
// final; the device's final state equals the gateway's; each paid order is
// charged exactly once; there is no gateway order the device does not know.
func (b *bed) checkInvariant() error {
	pending, err := b.db.PendingOrders()
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return errors.New("orders still open: " + pending[0].ClientSN + " is " + pending[0].State)
	}
	all, err := b.db.ListOrders(storage.Filter{})
	if err != nil {
		return err
	}
	mine := map[string]storage.Order{}
	for _, o := range all {
		mine[o.ClientSN] = o
	}
	seen := map[string]bool{}
	for _, l := range b.ledger().Orders {
		o, ok := mine[l.ClientSN]
		if !ok {
			return errors.New("gateway has an order the device does not know: " + l.ClientSN)
		}
		if seen[l.ClientSN] {
			return errors.New("two gateway orders for one sale: " + l.ClientSN)
		}
		seen[l.ClientSN] = true
		if l.Charges > 1 {
			return errors.New("charged twice: " + l.ClientSN)
		}
		if l.Status.Paid() != (o.State == string(Paid) || o.State == string(Refunded) || o.State == string(PartialRefunded)) {
			return errors.New("paid on one side only: " + l.ClientSN + " device " + o.State + " gateway " + string(l.Status))
		}
		if State(o.State) != fromGateway(l.Status) {
			return errors.New("final states differ: " + l.ClientSN + " device " + o.State + " gateway " + string(l.Status))
		}
		if l.AmountCents != o.AmountCents {
			return errors.New("amounts differ: " + l.ClientSN)
		}
	}
	for sn, o := range mine {
		if !seen[sn] && (State(o.State) == Paid || State(o.State) == Awaiting) {
			return errors.New("device has a paid order the gateway does not: " + sn)
		}
	}
	return nil
}
