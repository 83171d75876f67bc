package counter

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/agent/report"
	"posagent/display"
	"posagent/gateway"
	"posagent/printer"
	"posagent/storage"
)

// Engine is what the counter needs of the sale engine; *agent.Engine has it.
type Engine interface {
	Sale(ctx context.Context, amountCents int64) (storage.Order, error)
	CancelActive(ctx context.Context) error
	Refund(ctx context.Context, clientSN string, amountCents int64) (storage.Order, error)
	Wake()
	Online() bool
}

// Store is what the counter reads of the order store; *storage.DB has it.
type Store interface {
	GetOrder(clientSN string) (storage.Order, error)
	PendingOrders() ([]storage.Order, error)
}

// Querier asks the gateway about an order, for the reports; a
// gateway.Gateway has it.
type Querier interface {
	Query(ctx context.Context, ref gateway.Ref) (gateway.Order, error)
}

// Options wires a Counter. Engine and Store are required.
type Options struct {
	Config Config
	Print  PrintConfig
	Engine Engine
	Store  Store
	// Scan streams the orders created in f's time range, newest first,
	// without loading the history (storage's streaming read).
	Scan func(f storage.Filter) iter.Seq2[storage.Order, error]
	// Refunds streams the refunds made in [since, until), whatever day
	// their orders were created (storage's refund log), for the reports;
	// nil: the reports count no refunds.
	Refunds func(since, until time.Time) iter.Seq2[storage.Refund, error]
	// Gateway answers the reports' questions about open orders; may be nil.
	Gateway Querier
	// Prefix and SeqWidth rebuild a client_sn from the number typed on the
	// keypad (storage: prefix + zero-padded sequence).
	Prefix   string
	SeqWidth int
	// PINs checks the menu PIN; nil keeps the menu closed.
	PINs *PINs
	// Display shows the screens; nil shows nothing. Show may be slow
	// (e-paper): the counter never waits for it, and the latest screen is
	// always the one shown next.
	Display display.Display
	// Paper prints a document; it must not block for long (a spooler).
	// nil prints nothing.
	Paper func(Doc) error
	// Checkin checks in now (menu); nil: not offered by this gateway.
	Checkin func(ctx context.Context) error
	// Activate activates the terminal with a code typed by the technician
	// and returns what the commissioning slip says.
	Activate func(ctx context.Context, code string) (printer.Commissioning, error)
	// Network returns the network and gateway status lines.
	Network func(ctx context.Context) []display.Fact
	// ZPath is the file that remembers when the last Z report was made, so
	// the next one starts there.
	ZPath string
	// Terminal names the terminal on reports.
	Terminal string
	// Hook sees every engine event after the counter (status file, demo).
	Hook func(agent.Event)
	// Shown sees every screen after the display showed it (logs, tests).
	Shown func(display.Screen)
	// Log receives what goes wrong; nil discards.
	Log *slog.Logger
	// Now and Ticks are the clock; nil means the real one (a 1 s ticker).
	Now   func() time.Time
	Ticks <-chan time.Time
}

// Counter runs a Machine: keys from the keypad, events from the engine,
// results of the actions it starts; screens to the display, documents to
// the printer.
type Counter struct {
	o Options

	mu        sync.Mutex // guards m and unplugged for Screen and Current
	m         *Machine
	unplugged bool

	events  queue[agent.Event]
	results queue[Result]
	screens *latest
	quit    chan struct{}
	once    sync.Once
}

// NewCounter returns a counter; call Run.
func NewCounter(o Options) (*Counter, error) {
	if o.Engine == nil || o.Store == nil {
		return nil, errors.New("counter: Options.Engine and Options.Store are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SeqWidth == 0 {
		o.SeqWidth = storage.SeqWidth
	}
	m, err := New(o.Config)
	if err != nil {
		return nil, err
	}
	return &Counter{o: o, m: m, events: newQueue[agent.Event](), results: newQueue[Result](),
		screens: newLatest(), quit: make(chan struct{})}, nil
}

// Emit is the engine's event callback. It never blocks the engine and
// never drops an event: events queue up, in order, until Run takes them.
func (c *Counter) Emit(ev agent.Event) { c.events.put(ev) }

// Quit ends Run, as the demo's q key does.
func (c *Counter) Quit() { c.once.Do(func() { close(c.quit) }) }

// Screen returns the screen the counter wants shown now.
func (c *Counter) Screen() display.Screen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.screenLocked()
}

func (c *Counter) screenLocked() display.Screen {
	s := c.m.Screen()
	if c.unplugged && c.m.Mode() != ModeAwaiting && c.m.Mode() != ModeConnecting && c.m.Mode() != ModeChecking {
		// A customer paying keeps the QR; otherwise say why keys do nothing.
		return display.Screen{Kind: display.Error, Reason: "keypad_unplugged", Merchant: s.Merchant}
	}
	return s
}

// Current returns the client_sn of the sale on the screen.
func (c *Counter) Current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m.Current()
}

// Run serves the counter until ctx ends or Quit.
func (c *Counter) Run(ctx context.Context, keys <-chan keypad.Event) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // actions in flight give up their gateway calls
		wg.Wait()
	}()
	if c.o.Display != nil {
		wg.Add(1)
		go func() { defer wg.Done(); c.screens.run(ctx, c.o.Display, c.o.Log, c.o.Shown) }()
	}
	ticks := c.o.Ticks
	if ticks == nil {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		ticks = t.C
	}
	c.mu.Lock()
	c.m.Tick(c.o.Now())
	c.recover()
	c.mu.Unlock()
	c.publish()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.quit:
			return nil
		case ev, ok := <-keys:
			if !ok {
				keys = nil // stdin closed: keep serving the open sale
				continue
			}
			c.key(ctx, &wg, ev)
		case <-c.events.wait():
			for _, ev := range c.events.take() {
				c.event(ev)
			}
		case <-c.results.wait():
			c.mu.Lock()
			for _, r := range c.results.take() {
				c.m.Done(r)
			}
			c.mu.Unlock()
		case now := <-ticks:
			c.mu.Lock()
			changed := c.m.Tick(now)
			c.mu.Unlock()
			if !changed {
				continue
			}
		}
		c.publish()
	}
}

func (c *Counter) publish() {
	c.mu.Lock()
	s := c.screenLocked()
	c.mu.Unlock()
	c.screens.set(s)
}

// recover counts the sales the last run left queued. The open sale it
// left on the screen comes back from the engine (an event marked
// Recovered): the engine and the counter agree on which sale Cancel acts on.
func (c *Counter) recover() {
	os, err := c.o.Store.PendingOrders()
	if err != nil {
		c.o.Log.Error("reading open orders", "err", err)
		return
	}
	var q int
	var qc int64
	for _, o := range os {
		if agent.State(o.State) == agent.Queued {
			q++
			qc += o.AmountCents
		}
	}
	c.m.Queue(q, qc)
}

func (c *Counter) key(ctx context.Context, wg *sync.WaitGroup, ev keypad.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Kind {
	case keypad.EventConnected:
		c.unplugged = false
		return
	case keypad.EventDisconnected:
		c.unplugged = true
		return
	case keypad.EventKey:
	default:
		return
	}
	if c.unplugged {
		c.unplugged = false // a key came: it is plugged in
	}
	a := c.m.Key(ev.Key)
	if a.Kind == ActQuit {
		c.Quit()
		return
	}
	if a.Kind != ActNone {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.do(ctx, a)
		}()
	}
}

func (c *Counter) event(ev agent.Event) {
	if ev.Kind == agent.EventQueued || ev.Kind == agent.EventOffline || ev.Kind == agent.EventOnline {
		n, cents := c.queue()
		c.mu.Lock()
		c.m.Queue(n, cents)
		c.mu.Unlock()
	}
	c.mu.Lock()
	docs := c.m.Event(ev, c.o.Print)
	c.mu.Unlock()
	for _, d := range docs {
		c.print(d)
	}
	if c.o.Hook != nil {
		c.o.Hook(ev)
	}
}

// queue counts the sales waiting for the network and their sum.
func (c *Counter) queue() (int, int64) {
	os, err := c.o.Store.PendingOrders()
	if err != nil {
		return 0, 0
	}
	n, cents := 0, int64(0)
	for _, o := range os {
		if agent.State(o.State) == agent.Queued {
			n++
			cents += o.AmountCents
		}
	}
	return n, cents
}

func (c *Counter) print(d Doc) {
	if c.o.Paper == nil {
		return
	}
	if err := c.o.Paper(d); err != nil {
		c.o.Log.Error("printer", "doc", d.ID, "err", err)
	}
}

// do runs an action off the counter's loop and posts its result.
func (c *Counter) do(ctx context.Context, a Action) {
	r := Result{Kind: a.Kind}
	eng := c.o.Engine
	switch a.Kind {
	case ActSale:
		r.Order, r.Err = eng.Sale(ctx, a.Cents)
		if errors.Is(r.Err, agent.ErrBusy) {
			// Which sale is open? An engine that can say (agent.Engine
			// does) gets it back on the screen.
			if ae, ok := eng.(interface{ Active() (storage.Order, bool) }); ok {
				r.Order, _ = ae.Active()
			}
		}
		eng.Wake()
	case ActCancel:
		r.Err = eng.CancelActive(ctx)
		eng.Wake()
	case ActRecheck:
		eng.Wake()
	case ActVerifyPIN:
		if c.o.PINs == nil {
			r.Err = ErrNoPIN
			break
		}
		r.Role, r.Locked, r.Err = c.o.PINs.Verify(a.Text)
		if r.Err != nil && !errors.Is(r.Err, ErrNoPIN) {
			c.o.Log.Error("PIN check", "err", r.Err)
		}
	case ActFindLast:
		r.Order, r.Err = c.lastOrder(storage.Filter{}, "paid", "partial_refunded")
	case ActFindOrder:
		r.Order, r.Err = c.findOrder(a.Text)
	case ActRefund:
		r.Order, r.Err = eng.Refund(ctx, a.ClientSN, a.Cents)
	case ActReprint:
		var o storage.Order
		o, r.Err = c.lastOrder(storage.Filter{}, "paid", "partial_refunded", "refunded")
		if r.Err == nil {
			k := agent.EventPaid
			if o.RefundedCents > 0 {
				k = agent.EventRefunded
			}
			c.print(Doc{ID: o.ClientSN, Receipt: receipt(c.o.Config.Merchant, o, k)})
			r.Facts = []display.Fact{{Label: "order", Value: o.ClientSN}, {Label: "result", Value: "ok"}}
		}
	case ActReport:
		var s report.Summary
		s, r.Err = c.Report(ctx, a.Report)
		if r.Err == nil {
			r.Summary = &s
			c.print(Doc{ID: string(a.Report) + "-report", Report: &s})
		}
	case ActSelfTest:
		c.print(Doc{ID: "selftest", SelfTest: true})
	case ActNetwork:
		if c.o.Network != nil {
			r.Facts = c.o.Network(ctx)
		}
		state := "online"
		if !eng.Online() {
			state = "offline"
		}
		n, cents := c.queue()
		facts := []display.Fact{{Label: "gateway", Value: state},
			{Label: "queued", Value: fmt.Sprintf("%d (%s)", n, keypad.FormatCents(cents))}}
		// What the engine is still asking the gateway about, when it can say.
		if ce, ok := eng.(interface{ Counts() (agent.Counts, error) }); ok {
			if n, err := ce.Counts(); err == nil {
				facts = append(facts, display.Fact{Label: "checking", Value: fmt.Sprint(n.Checking + n.Unresolved)},
					display.Fact{Label: "watching", Value: fmt.Sprint(n.Watching)})
			}
		}
		r.Facts = append(facts, r.Facts...)
	case ActCheckin:
		if c.o.Checkin == nil {
			r.Err = errors.New("not_supported")
			break
		}
		r.Err = c.o.Checkin(ctx)
	case ActActivate:
		if c.o.Activate == nil {
			r.Err = errors.New("not_supported")
			break
		}
		var cm printer.Commissioning
		cm, r.Err = c.o.Activate(ctx, a.Text)
		if r.Err == nil {
			r.Facts = []display.Fact{{Label: "result", Value: "ok"}, {Label: "terminal", Value: cm.Terminal},
				{Label: "store", Value: cm.Store}, {Label: "gateway", Value: cm.Gateway}}
			c.print(Doc{ID: "commissioning", Commissioning: &cm})
		}
	}
	if r.Err != nil {
		c.o.Log.Warn("counter action failed", "action", a.Kind.String(), "err", r.Err)
	}
	c.results.put(r)
}

// lastOrder is the newest order in one of the states, scanning newest
// first and stopping at the first match.
func (c *Counter) lastOrder(f storage.Filter, states ...string) (storage.Order, error) {
	if c.o.Scan == nil {
		return storage.Order{}, ErrNotFound
	}
	for o, err := range c.o.Scan(f) {
		if err != nil {
			return o, err
		}
		for _, s := range states {
			if o.State == s {
				return o, nil
			}
		}
	}
	return storage.Order{}, ErrNotFound
}

// findOrder finds the order the cashier typed: its full number, or the
// number printed at its end (P00000012 is 12).
func (c *Counter) findOrder(typed string) (storage.Order, error) {
	o, err := c.o.Store.GetOrder(typed)
	if err == nil {
		return o, nil
	}
	var seq uint64
	if _, err := fmt.Sscan(typed, &seq); err == nil {
		o, err = c.o.Store.GetOrder(fmt.Sprintf("%s%0*d", c.o.Prefix, c.o.SeqWidth, seq))
		if err == nil {
			return o, nil
		}
	}
	return o, ErrNotFound
}

// queue is an unbounded FIFO with a wake-up channel: the engine's events
// are never dropped, and a burst of them is taken in one go.
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	signal chan struct{}
}

func newQueue[T any]() queue[T] { return queue[T]{signal: make(chan struct{}, 1)} }

func (q *queue[T]) put(v T) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *queue[T]) wait() <-chan struct{} { return q.signal }

func (q *queue[T]) take() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// latest hands screens to a slow display: only the newest waiting screen
// is kept, so the display never falls behind and the state it ends on is
// always the counter's latest.
type latest struct {
	mu     sync.Mutex
	s      display.Screen
	have   bool
	signal chan struct{}
}

func newLatest() *latest { return &latest{signal: make(chan struct{}, 1)} }

func (l *latest) set(s display.Screen) {
	l.mu.Lock()
	l.s, l.have = s, true
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

func (l *latest) run(ctx context.Context, d display.Display, log *slog.Logger, shown func(display.Screen)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.signal:
		}
		l.mu.Lock()
		s, have := l.s, l.have
		l.have = false
		l.mu.Unlock()
		if !have {
			continue
		}
		if err := d.Show(s); err != nil {
			log.Error("display", "err", err)
		}
		if shown != nil {
			shown(s)
		}
	}
}
