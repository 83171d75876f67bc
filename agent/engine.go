// Package agent is the sale engine of the terminal: it turns an amount
// into a gateway order and drives that order to a final state without ever
// losing it or charging twice (../shared/spec/design.md, "The order
// lifecycle").
//
// The rules, in the order they are applied:
//
//  1. Write first. Enter creates the order in the database, with its
//     client_sn, before anything is sent. A crash from then on leaves a
//     record that start-up reconciliation will finish.
//  2. An unknown outcome is asked about, never repeated under a new name.
//     A client_sn is used for exactly one sale; a timeout or a broken answer
//     is followed by a query with the same client_sn. Sending precreate
//     again with the same client_sn is safe (the gateway answers with the
//     order it already has), a new client_sn never is.
//  3. The gateway's ledger rules. The screen says PAID only after a query
//     or a precreate answer said so; a cancel that loses the race against a
//     payment ends PAID.
//
// The engine is a step function: Tick does every piece of work that is due
// at the clock's current time, one gateway call per order at most, and
// returns. The Run loop calls Tick when the next piece of work is due or a
// command arrives. Tests drive Tick with a fake clock, so every schedule is
// exercised without sleeping, and a seeded chaos run replays exactly.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"posagent/gateway"
	"posagent/storage"
)

// Config tunes the engine. Zero values take the documented defaults.
type Config struct {
	// Gateway names the gateway in stored orders ("upay").
	Gateway string
	// Prefix starts every client_sn; it should be unique per device
	// (e.g. the last digits of the terminal_sn) so that client_sns stay
	// unique forever across re-provisioning.
	Prefix string
	// Subject and Operator go with every precreate.
	Subject, Operator string
	// MaxAmountCents refuses larger sales. Default ¥5000.00.
	MaxAmountCents int64
	// PaymentWindow is how long an order waits for the payer before the
	// engine cancels it. Default 240s (upay-v2.md).
	PaymentWindow time.Duration
	// FastPoll and SlowPoll are the query intervals: FastPoll for the first
	// FastPollFor, then SlowPoll. Defaults 2s, 30s, 5s.
	FastPoll, FastPollFor, SlowPoll time.Duration
	// QueueTTL is how long a sale that could not reach the gateway is
	// retried before it expires locally. Default 5 min.
	QueueTTL time.Duration
	// RetryMin and RetryMax bound the offline retry backoff. Defaults 2s, 60s.
	RetryMin, RetryMax time.Duration
	// CallTimeout bounds one gateway call. Default 10s.
	CallTimeout time.Duration
	// Seed seeds the backoff jitter. Zero uses a fixed seed.
	Seed uint64
}

func (c *Config) defaults() {
	if c.Gateway == "" {
		c.Gateway = "upay"
	}
	if c.Prefix == "" {
		c.Prefix = "P"
	}
	if c.Subject == "" {
		c.Subject = "posagent sale"
	}
	if c.MaxAmountCents <= 0 {
		c.MaxAmountCents = 500000
	}
	if c.PaymentWindow <= 0 {
		c.PaymentWindow = 240 * time.Second
	}
	if c.FastPoll <= 0 {
		c.FastPoll = 2 * time.Second
	}
	if c.FastPollFor <= 0 {
		c.FastPollFor = 30 * time.Second
	}
	if c.SlowPoll <= 0 {
		c.SlowPoll = 5 * time.Second
	}
	if c.QueueTTL <= 0 {
		c.QueueTTL = 5 * time.Minute
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 2 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 60 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
}

// Store is the part of the database the engine needs. *storage.DB has it.
type Store interface {
	CreateOrder(o *storage.Order, prefix string) error
	PutOrder(o *storage.Order) error
	GetOrder(clientSN string) (storage.Order, error)
	PendingOrders() ([]storage.Order, error)
}

// Engine is the sale engine. Its methods are safe for concurrent use but
// serialised: one gateway conversation at a time, as on a real counter.
type Engine struct {
	cfg   Config
	store Store
	gw    gateway.Gateway
	clock Clock
	log   *slog.Logger
	emit  func(Event)

	mu     sync.Mutex
	rng    *rand.Rand
	active string // client_sn of the sale on the screen, if any
	online bool

	// next holds when each open order is due next. It lives in memory
	// only: a poll that changes nothing costs no fsync, and after a
	// restart Reconcile makes every open order due at once anyway.
	next map[string]time.Time
	// deadlines holds the payment deadlines set in this run, with the
	// monotonic clock reading that stored times lose: a wall clock stepped
	// by NTP (a Pi without RTC) cannot cut a payer's window short or make
	// it endless. After a restart only the stored wall time is left.
	deadlines map[string]time.Time
	puts      int // commits made, so adopt can tell whether a move saved already

	wakeOnce sync.Once
	wake     chan struct{}
}

// New returns an engine. emit receives every event (it must not block for
// long: hand it to a channel or a goroutine); it may be nil.
func New(cfg Config, store Store, gw gateway.Gateway, clock Clock, log *slog.Logger, emit func(Event)) *Engine {
	cfg.defaults()
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if emit == nil {
		emit = func(Event) {}
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	return &Engine{cfg: cfg, store: store, gw: gw, clock: clock, log: log, emit: emit,
		rng: rand.New(rand.NewPCG(seed, seed+1)), online: true, next: map[string]time.Time{}, deadlines: map[string]time.Time{}}
}

// Config returns the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Errors of Sale.
var (
	ErrAmount = errors.New("amount refused")
	ErrBusy   = errors.New("another sale is open")
)

// Sale starts a sale: the order is committed to the database before the
// gateway hears of it, then precreate is sent at once so the QR is on the
// screen as soon as the gateway answers. The returned order is the stored
// record after the first step; its outcome arrives as events.
func (e *Engine) Sale(ctx context.Context, amountCents int64) (storage.Order, error) {
	if amountCents <= 0 {
		return storage.Order{}, fmt.Errorf("%w: must be more than 0", ErrAmount)
	}
	if amountCents > e.cfg.MaxAmountCents {
		return storage.Order{}, fmt.Errorf("%w: over the maximum of %s", ErrAmount, Yuan(e.cfg.MaxAmountCents))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active != "" {
		if a, err := e.store.GetOrder(e.active); err == nil && !State(a.State).Final() && State(a.State) != Queued {
			return storage.Order{}, fmt.Errorf("%w: %s is still waiting for payment; press Cancel first", ErrBusy, Yuan(a.AmountCents))
		}
	}
	now := e.clock.Now()
	o := storage.Order{
		Gateway: e.cfg.Gateway, AmountCents: amountCents, Subject: e.cfg.Subject, Operator: e.cfg.Operator,
		State: string(Submitting), CreatedAt: now, UpdatedAt: now, Deadline: now.Add(e.cfg.PaymentWindow),
		History: []storage.Transition{{At: now, To: string(Submitting), Note: "entered"}},
	}
	deadline := o.Deadline // keeps the monotonic reading; the stored copy cannot
	if err := e.store.CreateOrder(&o, e.cfg.Prefix); err != nil {
		// Nothing was sent: the sale simply did not start.
		e.emit(Event{Kind: EventError, Reason: "cannot save the order: " + err.Error()})
		return storage.Order{}, fmt.Errorf("agent: saving the order: %w", err)
	}
	failpoint("order-created")
	e.deadlines[o.ClientSN] = deadline
	e.active = o.ClientSN
	e.emit(Event{Kind: EventSubmitting, Order: o})
	e.precreate(ctx, &o)
	return o, nil
}

// CancelActive is the cashier's Cancel key: the sale on the screen stops
// waiting for payment. It is cancelled at the gateway, and if the payer
// was faster, it ends PAID all the same.
func (e *Engine) CancelActive(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active == "" {
		return nil
	}
	o, err := e.store.GetOrder(e.active)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	switch State(o.State) {
	case Queued:
		return e.move(&o, Canceled, "cancelled by the cashier before it reached the gateway")
	case Awaiting, Submitting, Unknown:
		if err := e.move(&o, Canceling, "cancelled by the cashier"); err != nil {
			return err
		}
		e.cancel(ctx, &o)
	}
	return nil
}

// Pending reports the non-final orders, and how many of them are queued.
func (e *Engine) Pending() (pending, queued int, err error) { return e.pendingLocked() }

// Next returns when the next piece of work is due, and false if there is
// none.
func (e *Engine) Next() (time.Time, bool, error) {
	os, err := e.store.PendingOrders()
	if err != nil || len(os) == 0 {
		return time.Time{}, false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	next := e.due(&os[0])
	for i := range os[1:] {
		if d := e.due(&os[i+1]); d.Before(next) {
			next = d
		}
	}
	return next, true, nil
}

// Reconcile schedules every non-final order for immediate attention; call
// it once at start-up. Orders left in Submitting by a crash become
// Unknown: precreate may have reached the gateway, so only a query can say.
func (e *Engine) Reconcile(ctx context.Context) (int, error) {
	e.mu.Lock()
	os, err := e.store.PendingOrders()
	if err != nil {
		e.mu.Unlock()
		return 0, fmt.Errorf("agent: reading pending orders: %w", err)
	}
	now := e.clock.Now()
	for i := range os {
		o := &os[i]
		if State(o.State) == Submitting {
			if err := e.move(o, Unknown, "found after restart; asking the gateway"); err != nil {
				e.mu.Unlock()
				return 0, err
			}
		}
		e.schedule(o, now)
	}
	e.mu.Unlock()
	if len(os) > 0 {
		e.log.Info("reconciling orders left from the last run", "count", len(os))
	}
	return len(os), e.Tick(ctx)
}

// Tick does all work due now: one step for each order whose time has come.
func (e *Engine) Tick(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	os, err := e.store.PendingOrders()
	if err != nil {
		return fmt.Errorf("agent: reading pending orders: %w", err)
	}
	now := e.clock.Now()
	for i := range os {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o := &os[i]
		if e.due(o).After(now) {
			continue
		}
		e.step(ctx, o, now)
	}
	return nil
}

// step moves one order forward by one gateway conversation.
func (e *Engine) step(ctx context.Context, o *storage.Order, now time.Time) {
	switch State(o.State) {
	case Submitting, Queued:
		if State(o.State) == Queued && !now.Before(o.CreatedAt.Add(e.cfg.QueueTTL)) {
			e.move(o, Expired, "queued too long without reaching the gateway")
			return
		}
		e.precreate(ctx, o)
	case Unknown, Awaiting:
		if !now.Before(e.deadline(o)) {
			if e.move(o, Canceling, "payment window closed") == nil {
				e.cancel(ctx, o)
			}
			return
		}
		e.query(ctx, o, now)
	case Canceling:
		e.cancel(ctx, o)
	}
}

func (e *Engine) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.cfg.CallTimeout)
}

// precreate sends (or resends, under the same client_sn) the order.
func (e *Engine) precreate(ctx context.Context, o *storage.Order) {
	cctx, cancel := e.callCtx(ctx)
	g, err := e.gw.Precreate(cctx, gateway.PrecreateRequest{
		ClientSN: o.ClientSN, AmountCents: o.AmountCents, Subject: o.Subject, Operator: o.Operator,
	})
	cancel()
	now := e.clock.Now()
	o.Attempts++
	switch gateway.ClassOf(err) {
	case 0:
		failpoint("precreate-answered")
		e.setOnline(true)
		e.adopt(o, g, now, "precreated")
	case gateway.NotSent:
		o.LastError = err.Error()
		if errors.Is(err, gateway.ErrInvalid) {
			e.move(o, Failed, "refused before sending: "+err.Error())
			return
		}
		e.setOnline(false)
		e.schedule(o, now.Add(e.backoff(o.Attempts)))
		if State(o.State) == Queued {
			e.emitQueued(o)
			return
		}
		e.move(o, Queued, "gateway unreachable: "+err.Error())
	case gateway.Rejected:
		e.setOnline(true)
		o.LastError = err.Error()
		if errors.Is(err, gateway.ErrConflict) {
			// The gateway holds this client_sn already: it is ours, from
			// an earlier attempt. Ask about it rather than fail.
			e.schedule(o, now)
			e.move(o, Unknown, "client_sn known to the gateway: "+err.Error())
			return
		}
		e.move(o, Failed, "gateway refused: "+err.Error())
	default: // Unknown
		o.LastError = err.Error()
		e.schedule(o, now)
		e.move(o, Unknown, "precreate outcome unknown: "+err.Error())
	}
}

// query asks the gateway about an order that is waiting or unknown.
func (e *Engine) query(ctx context.Context, o *storage.Order, now time.Time) {
	cctx, cancel := e.callCtx(ctx)
	g, err := e.gw.Query(cctx, gateway.Ref{ClientSN: o.ClientSN, SN: o.SN})
	cancel()
	failpoint("query-answered")
	now = e.clock.Now()
	switch {
	case err == nil:
		e.setOnline(true)
		e.adopt(o, g, now, "query")
	case errors.Is(err, gateway.ErrOrderNotFound) && State(o.State) == Unknown:
		// The precreate never landed: send it again under the same
		// client_sn (the gateway cannot create a second order for it).
		e.setOnline(true)
		if e.move(o, Submitting, "not at the gateway; sending again") == nil {
			e.precreate(ctx, o)
		}
	default:
		if gateway.ClassOf(err) == gateway.NotSent {
			e.setOnline(false)
		}
		o.LastError = err.Error()
		e.schedule(o, e.nextPoll(o, now))
	}
}

// cancel cancels at the gateway and asks what became of the order. A
// payment that won the race shows up in the query as PAID.
func (e *Engine) cancel(ctx context.Context, o *storage.Order) {
	cctx, cancel := e.callCtx(ctx)
	cg, cerr := e.gw.Cancel(cctx, gateway.Ref{ClientSN: o.ClientSN, SN: o.SN})
	cancel()
	failpoint("cancel-sent")
	cctx, cancel = e.callCtx(ctx)
	g, qerr := e.gw.Query(cctx, gateway.Ref{ClientSN: o.ClientSN, SN: o.SN})
	cancel()
	now := e.clock.Now()
	switch {
	case qerr == nil:
		e.setOnline(true)
		e.adopt(o, g, now, "after cancel")
		if !State(o.State).Final() {
			e.schedule(o, now.Add(e.cfg.FastPoll))
			if State(o.State) != Canceling {
				e.move(o, Canceling, "still open after cancel")
			}
		}
	case errors.Is(qerr, gateway.ErrOrderNotFound) && cerr == nil && cg.Status.Final():
		// Some gateways (Alipay) forget a trade nobody scanned once it is
		// closed: the cancel's own answer is the final word.
		e.setOnline(true)
		e.adopt(o, cg, now, "cancelled")
	case errors.Is(qerr, gateway.ErrOrderNotFound) && errors.Is(cerr, gateway.ErrOrderNotFound):
		// Neither call found it: the gateway never created this order,
		// and the cancel makes sure no late precreate can be paid.
		o.GatewayStatus = ""
		e.move(o, Canceled, "never reached the gateway")
	default:
		if gateway.ClassOf(qerr) == gateway.NotSent {
			e.setOnline(false)
		}
		o.LastError = errString(cerr, qerr)
		o.Attempts++
		e.schedule(o, now.Add(e.backoff(o.Attempts)))
	}
}

// adopt takes the gateway's view of the order.
func (e *Engine) adopt(o *storage.Order, g gateway.Order, now time.Time, note string) {
	before, puts := [...]any{o.GatewayStatus, o.SN, o.TradeNo, o.Channel, o.QRCode, o.RefundedCents}, e.puts
	defer func() {
		// Commit what the gateway told us if it is news and no move did.
		after := [...]any{o.GatewayStatus, o.SN, o.TradeNo, o.Channel, o.QRCode, o.RefundedCents}
		if before != after && e.puts == puts {
			e.put(o)
		}
	}()
	o.GatewayStatus = string(g.Status)
	if g.SN != "" {
		o.SN = g.SN
	}
	if g.TradeNo != "" {
		o.TradeNo = g.TradeNo
	}
	if g.Channel != "" {
		o.Channel = g.Channel
	}
	if g.QRCode != "" {
		o.QRCode = g.QRCode
	}
	o.RefundedCents = g.AmountCents - g.NetAmountCents
	o.LastError = ""
	to := fromGateway(g.Status)
	switch {
	case to == Awaiting && State(o.State) == Canceling:
		// Cancel sent but not yet applied; keep cancelling.
		return
	case to == Unknown:
		// The gateway itself is unsure (PAY_ERROR, CANCEL_INPROGRESS...):
		// stay where we are and ask again.
		e.schedule(o, e.nextPoll(o, now))
		return
	case to == Awaiting:
		if State(o.State) == Queued {
			// Nothing was sent while queued: the payer's window (and the
			// gateway's own TTL) starts now.
			o.Deadline = now.Add(e.cfg.PaymentWindow)
			e.deadlines[o.ClientSN] = o.Deadline
		}
		e.schedule(o, e.nextPoll(o, now))
		if State(o.State) == Awaiting {
			return
		}
		// Show the QR first, then commit: the Enter→QR path carries one
		// fsync (the order itself), not two. A crash in between leaves the
		// order submitting on disk, which Reconcile resolves by query.
		shown := *o
		shown.State = string(Awaiting)
		e.emit(Event{Kind: EventAwaitingPayment, Order: shown})
		if e.move(o, Awaiting, note) == nil {
			failpoint("awaiting-committed")
		}
		return
	}
	e.move(o, to, note+": "+string(g.Status))
}

// nextPoll is the poll schedule: FastPoll for the first FastPollFor of the
// order, then SlowPoll, never past the deadline.
func (e *Engine) nextPoll(o *storage.Order, now time.Time) time.Time {
	iv := e.cfg.SlowPoll
	if now.Sub(o.CreatedAt) < e.cfg.FastPollFor {
		iv = e.cfg.FastPoll
	}
	next := now.Add(iv)
	if d := e.deadline(o); State(o.State) != Canceling && next.After(d) {
		next = d
	}
	return next
}

// backoff is exponential from RetryMin to RetryMax with ±20% jitter, so a
// shop's terminals do not all return at once when the network comes back.
func (e *Engine) backoff(attempt int) time.Duration {
	d := e.cfg.RetryMin
	for i := 1; i < attempt && d < e.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, e.cfg.RetryMax)
	j := time.Duration(float64(d) * (0.8 + 0.4*e.rng.Float64()))
	return j
}

// due is when o needs attention next.
func (e *Engine) due(o *storage.Order) time.Time {
	if t, ok := e.next[o.ClientSN]; ok {
		return t
	}
	return o.NextAttemptAt
}

// deadline is when o stops waiting for the payer.
func (e *Engine) deadline(o *storage.Order) time.Time {
	if d, ok := e.deadlines[o.ClientSN]; ok {
		return d
	}
	return o.Deadline
}

// schedule sets when o needs attention next, in memory; the next commit
// of o carries it to disk too.
func (e *Engine) schedule(o *storage.Order, at time.Time) {
	o.NextAttemptAt = at
	e.next[o.ClientSN] = at
}

// move changes o's state, records why, commits it and tells the world.
func (e *Engine) move(o *storage.Order, to State, note string) error {
	from := State(o.State)
	if from != to && !CanMove(from, to) {
		err := errBadMove(o.ClientSN, from, to)
		e.log.Error("engine bug", "err", err)
		return err
	}
	now := e.clock.Now()
	o.State = string(to)
	o.Final = to.Final()
	o.History = append(o.History, storage.Transition{At: now, From: string(from), To: string(to), Note: note})
	if err := e.put(o); err != nil {
		return err
	}
	e.log.Info("order", "client_sn", o.ClientSN, "from", from, "to", to, "note", note)
	switch to {
	case Paid:
		e.emit(Event{Kind: EventPaid, Order: *o})
	case Canceled, Expired:
		e.emit(Event{Kind: EventCanceled, Order: *o, Reason: note})
	case PayFailed:
		e.emit(Event{Kind: EventCanceled, Order: *o, Reason: "payment failed"})
	case Failed:
		e.emit(Event{Kind: EventFailed, Order: *o, Reason: note})
	case Refunded, PartialRefunded:
		e.emit(Event{Kind: EventRefunded, Order: *o})
	case Queued:
		e.emitQueued(o)
	case Unknown:
		e.emit(Event{Kind: EventChecking, Order: *o, Reason: note})
	}
	if to.Final() {
		delete(e.next, o.ClientSN)
		delete(e.deadlines, o.ClientSN)
		if e.active == o.ClientSN {
			e.active = ""
		}
	}
	return nil
}

// put commits o. A failed commit (full disk, I/O error) is reported; the
// order stays as it was on disk and is retried from there.
func (e *Engine) put(o *storage.Order) error {
	e.puts++
	if err := e.store.PutOrder(o); err != nil {
		e.log.Error("cannot save order", "client_sn", o.ClientSN, "err", err)
		e.emit(Event{Kind: EventError, Order: *o, Reason: "cannot save the order: " + err.Error()})
		return err
	}
	return nil
}

func (e *Engine) emitQueued(o *storage.Order) {
	_, q, _ := e.pendingLocked()
	e.emit(Event{Kind: EventQueued, Order: *o, Queued: q})
}

// pendingLocked counts from the store alone, so it needs no lock and is
// safe both inside the engine's methods and from other goroutines.
func (e *Engine) pendingLocked() (int, int, error) {
	os, err := e.store.PendingOrders()
	if err != nil {
		return 0, 0, err
	}
	q := 0
	for _, o := range os {
		if State(o.State) == Queued {
			q++
		}
	}
	return len(os), q, nil
}

func (e *Engine) setOnline(on bool) {
	if e.online == on {
		return
	}
	e.online = on
	_, q, _ := e.pendingLocked()
	if on {
		e.emit(Event{Kind: EventOnline, Queued: q})
	} else {
		e.emit(Event{Kind: EventOffline, Queued: q})
	}
}

// Online reports whether the last gateway call reached the gateway.
func (e *Engine) Online() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.online
}

func errString(errs ...error) string {
	s := ""
	for _, err := range errs {
		if err != nil {
			if s != "" {
				s += "; "
			}
			s += err.Error()
		}
	}
	return s
}

// Yuan formats cents as "¥12.50".
func Yuan(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s¥%d.%02d", sign, cents/100, cents%100)
}
