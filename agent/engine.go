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
//     is followed by a query with the same client_sn.
//  3. Act only on evidence. An order the gateway ever confirmed (an sn, a
//     QR code, a precreate answer, a conflict on its client_sn) is never
//     concluded "never reached the gateway" and never sent again; when the
//     gateway later says it has no such order, the order is Unresolved and
//     watched until the gateway's own expiry. Precreate is sent again, with
//     the same client_sn, only when there is no evidence and the gateway
//     said not found (issue 13).
//  4. The gateway's ledger rules. The screen says PAID only after a query
//     or a precreate answer said so; a cancel that loses the race against a
//     payment ends PAID, and a payment after the sale left the screen is a
//     late payment (EventLatePaid), announced, never silent.
//  5. A budget per order. Every gateway call goes through one gate
//     (Engine.spend) that allows an order at most MaxCallsPerMinute calls
//     in any minute and MaxCallsPerOrder before its gateway expiry,
//     whatever the gateway answers; every retry path backs off.
//  6. A right clock first. With Config.ClockCheck set, no signed call is
//     made, no deadline computed and no sale taken until the clock is known
//     to be right (a Pi without RTC boots with a stale time).
//
// The engine is a step function: Tick does every piece of work that is due
// at the clock's current time, one conversation per order at most, and
// returns. Conversations of different orders run concurrently, at most
// Config.Conversations at a time, and the engine's lock is never held
// across a gateway call: a Sale commits its order and sends its precreate
// at once, whatever other orders are waiting for (issue 14). Tests drive
// Tick with a fake clock, so every schedule is exercised without sleeping,
// and a seeded chaos run with Conversations 1 replays exactly.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
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
	// RetryMin and RetryMax bound the retry backoff. Defaults 2s, 60s.
	RetryMin, RetryMax time.Duration
	// WatchMin and WatchMax bound the backoff of orders watched until the
	// gateway's expiry (Unresolved, Watching). Defaults 15s, 10 min.
	WatchMin, WatchMax time.Duration
	// GatewayExpiry is how long after its precreate the gateway itself
	// keeps an unpaid order payable, when its answers do not say
	// (gateway.Order.ExpiresAt). Defaults per gateway: upay 5 min (the
	// docs' "about 4 minutes", upay-v2.md, plus a margin); alipay the
	// payment window plus 1 min (timeout_express is the window); yedpay
	// 24 h plus 10 min (seed 004: "This qr code has a lifetime of 24
	// hours"); others the payment window plus 5 min.
	GatewayExpiry time.Duration
	// NotFoundUntilScanned says the gateway answers "not found" for an
	// order it created until the payer scans it (Alipay:
	// field-notes.md), so that answer is no contradiction while awaiting
	// payment. Set by default for "alipay".
	NotFoundUntilScanned bool
	// MaxCallsPerMinute and MaxCallsPerOrder are each order's request
	// budget: calls in any 60 s, and calls before its gateway expiry.
	// Defaults 30 and 600 (issue 13, point 2).
	MaxCallsPerMinute, MaxCallsPerOrder int
	// Conversations bounds how many orders talk to the gateway at once in
	// Tick. A new sale's precreate does not wait for a slot. Default 4; 1
	// makes runs deterministic.
	Conversations int
	// CallTimeout bounds one gateway call. Default 10s.
	CallTimeout time.Duration
	// ClockCheck, if set, says whether the wall clock can be trusted
	// (see SyncedClock). Until it says yes the engine makes no gateway
	// call and takes no sale, and emits EventClockWait with its reason.
	ClockCheck ClockCheck
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
	if c.WatchMin <= 0 {
		c.WatchMin = 15 * time.Second
	}
	if c.WatchMax <= 0 {
		c.WatchMax = 10 * time.Minute
	}
	if c.GatewayExpiry <= 0 {
		switch c.Gateway {
		case "upay":
			c.GatewayExpiry = 5 * time.Minute
		case "alipay":
			c.GatewayExpiry = c.PaymentWindow + time.Minute
		case "yedpay":
			c.GatewayExpiry = 24*time.Hour + 10*time.Minute
		default:
			c.GatewayExpiry = c.PaymentWindow + 5*time.Minute
		}
	}
	if c.GatewayExpiry < c.PaymentWindow {
		c.GatewayExpiry = c.PaymentWindow
	}
	if c.Gateway == "alipay" {
		c.NotFoundUntilScanned = true
	}
	if c.MaxCallsPerMinute <= 0 {
		c.MaxCallsPerMinute = 30
	}
	if c.MaxCallsPerOrder <= 0 {
		c.MaxCallsPerOrder = 600
	}
	if c.Conversations <= 0 {
		c.Conversations = 4
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

// Engine is the sale engine. Its methods are safe for concurrent use. Each
// order has at most one conversation with the gateway at a time; different
// orders talk concurrently.
type Engine struct {
	cfg   Config
	store Store
	gw    gateway.Gateway
	clock Clock
	log   *slog.Logger
	emit  func(Event)
	sem   chan struct{} // Tick's conversation slots

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
	// expires holds the gateway's own expiry when an answer gave one.
	expires map[string]time.Time
	// busy marks orders in a conversation; the channel closes when it ends.
	busy map[string]chan struct{}
	// released marks orders whose sale left the screen while not final
	// (cashier's Cancel, window closed): a payment then is late.
	released map[string]bool
	// cancelSent marks unresolved orders cancelled once in this run.
	cancelSent map[string]bool
	// tries counts each open order's attempts in this run: a poll that
	// changes nothing is not committed, so the stored Attempts lags.
	tries map[string]int
	// settling counts failed tries to conclude an order past its expiry.
	settling map[string]int
	// checking is the last EventChecking reason per order, so a poll that
	// learns nothing new emits nothing.
	checking map[string]string
	// refunds are unconfirmed refunds being resolved (see refund.go).
	refunds map[string]*openRefundState
	// calls is each open order's request budget (see spend).
	calls map[string]*orderCalls
	stats CallStats

	lastFinal  storage.Order
	recoverDue bool // Reconcile ran; the active sale is to be recovered
	clockOK    bool
	clockWhy   string

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
		sem: make(chan struct{}, cfg.Conversations),
		rng: rand.New(rand.NewPCG(seed, seed+1)), online: true, clockOK: cfg.ClockCheck == nil,
		next: map[string]time.Time{}, deadlines: map[string]time.Time{}, expires: map[string]time.Time{},
		busy: map[string]chan struct{}{}, released: map[string]bool{}, cancelSent: map[string]bool{},
		checking: map[string]string{}, tries: map[string]int{}, settling: map[string]int{}, refunds: map[string]*openRefundState{}, calls: map[string]*orderCalls{}}
}

// Config returns the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Errors of Sale.
var (
	ErrAmount = errors.New("amount refused")
	ErrBusy   = errors.New("another sale is open")
	// ErrClock: the clock is not known to be right yet; nothing is sent
	// until it is (Config.ClockCheck).
	ErrClock = errors.New("waiting for the clock")
)

// Sale starts a sale: the order is committed to the database before the
// gateway hears of it, then precreate is sent at once, ahead of any other
// order's conversation, so the QR is on the screen as soon as the gateway
// answers. The returned order is the stored record after the first step;
// its outcome arrives as events.
func (e *Engine) Sale(ctx context.Context, amountCents int64) (storage.Order, error) {
	if amountCents <= 0 {
		return storage.Order{}, fmt.Errorf("%w: must be more than 0", ErrAmount)
	}
	if amountCents > e.cfg.MaxAmountCents {
		return storage.Order{}, fmt.Errorf("%w: over the maximum of %s", ErrAmount, Yuan(e.cfg.MaxAmountCents))
	}
	if !e.clockReady() {
		return storage.Order{}, fmt.Errorf("%w: %s", ErrClock, e.clockReason())
	}
	e.mu.Lock()
	if e.active != "" {
		if a, err := e.store.GetOrder(e.active); err == nil && !State(a.State).Final() && State(a.State) != Queued && State(a.State) != Watching {
			e.mu.Unlock()
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
	// The lock is held across this one commit (no gateway call) so that two
	// Enters cannot both pass the busy check.
	if err := e.store.CreateOrder(&o, e.cfg.Prefix); err != nil {
		e.mu.Unlock()
		// Nothing was sent: the sale simply did not start.
		e.emit(Event{Kind: EventError, Reason: "cannot save the order: " + err.Error()})
		return storage.Order{}, fmt.Errorf("agent: saving the order: %w", err)
	}
	e.deadlines[o.ClientSN] = deadline
	e.active = o.ClientSN
	e.busy[o.ClientSN] = make(chan struct{})
	e.mu.Unlock()
	defer e.release(o.ClientSN)
	failpoint("order-created")
	e.emit(Event{Kind: EventSubmitting, Order: o})
	e.precreate(ctx, &o)
	return o, nil
}

// CancelActive is the cashier's Cancel key: the sale on the screen stops
// waiting for payment. It is cancelled at the gateway, and if the payer
// was faster, it ends PAID all the same. Whatever the gateway answers, the
// sale has left the screen when CancelActive returns: an order the gateway
// could not confirm closed is announced with EventWatching and watched
// until the gateway's expiry (issue 13, point 3).
func (e *Engine) CancelActive(ctx context.Context) error {
	e.mu.Lock()
	sn := e.active
	e.mu.Unlock()
	if sn == "" {
		return nil
	}
	if !e.clockReady() {
		return fmt.Errorf("agent: %w: %s", ErrClock, e.clockReason())
	}
	if err := e.claimWait(ctx, sn); err != nil {
		return err
	}
	defer e.release(sn)
	o, err := e.store.GetOrder(sn)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	e.mu.Lock()
	e.released[sn] = true
	if e.active == sn {
		e.active = ""
	}
	e.mu.Unlock()
	switch State(o.State) {
	case Queued:
		return e.move(&o, Canceled, noteCashier+" before it reached the gateway")
	case Awaiting, Submitting, Unknown, Unresolved:
		if err := e.move(&o, Canceling, noteCashier); err != nil {
			return err
		}
		e.cancel(ctx, &o)
		if !State(o.State).Final() && State(o.State) != Watching {
			e.emitWatching(&o, "cancel not confirmed yet: still watching")
		}
	}
	return nil
}

// Notes the engine reads back from an order's history.
const (
	noteCashier      = "cancelled by the cashier"
	noteWindowClosed = "payment window closed"
)

// Pending reports the non-final orders, and how many of them are queued.
func (e *Engine) Pending() (pending, queued int, err error) {
	c, err := e.Counts()
	return c.Pending, c.Queued, err
}

// Counts is how many orders are not final, by kind: what the status
// line, the counter and the end-of-day report show.
type Counts struct {
	Pending    int // every non-final order
	Queued     int // never reached the gateway yet
	Unresolved int // the gateway contradicted itself; watched until its expiry
	Watching   int // left the screen, cancel not confirmed; watched until the gateway's expiry
	Checking   int // Unknown or Canceling: asking the gateway
	Refunds    int // refunds whose outcome is not confirmed (this run)
}

// Counts reads the pending index (not the history) and counts.
func (e *Engine) Counts() (Counts, error) {
	os, err := e.store.PendingOrders()
	if err != nil {
		return Counts{}, err
	}
	c := Counts{Pending: len(os)}
	for _, o := range os {
		switch State(o.State) {
		case Queued:
			c.Queued++
		case Unresolved:
			c.Unresolved++
		case Watching:
			c.Watching++
		case Unknown, Canceling, Submitting:
			c.Checking++
		}
	}
	e.mu.Lock()
	c.Refunds = len(e.refunds)
	e.mu.Unlock()
	return c, nil
}

// Active returns the sale on the screen, if any.
func (e *Engine) Active() (storage.Order, bool) {
	e.mu.Lock()
	sn := e.active
	e.mu.Unlock()
	if sn == "" {
		return storage.Order{}, false
	}
	o, err := e.store.GetOrder(sn)
	return o, err == nil
}

// LastFinal returns the last order that became final in this run (the
// receipt to reprint, the sale to refund).
func (e *Engine) LastFinal() (storage.Order, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastFinal, e.lastFinal.ClientSN != ""
}

// Next returns when the next piece of work is due, and false if there is
// none.
func (e *Engine) Next() (time.Time, bool, error) {
	if !e.clockReady() {
		return e.clock.Now().Add(clockRecheck), true, nil
	}
	os, err := e.store.PendingOrders()
	if err != nil {
		return time.Time{}, false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var next time.Time
	for i := range os {
		if d := e.due(&os[i]); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	for _, r := range e.refunds {
		if next.IsZero() || r.next.Before(next) {
			next = r.next
		}
	}
	return next, !next.IsZero(), nil
}

// Reconcile schedules every non-final order for immediate attention; call
// it once at start-up. It reads the pending index only, never the history.
// Orders left in Submitting by a crash become Unknown: precreate may have
// reached the gateway, so only a query can say. The newest order still in
// its payment window becomes the active sale again, announced with
// Recovered set, so the Cancel key works on it (issue 15).
func (e *Engine) Reconcile(ctx context.Context) (int, error) {
	os, err := e.store.PendingOrders()
	if err != nil {
		return 0, fmt.Errorf("agent: reading pending orders: %w", err)
	}
	now := e.clock.Now()
	for i := range os {
		o := &os[i]
		if State(o.State) == Submitting {
			if err := e.move(o, Unknown, "found after restart; asking the gateway"); err != nil {
				return 0, err
			}
		}
		e.mu.Lock()
		e.schedule(o, now)
		e.mu.Unlock()
	}
	// Which sale is still in its window is a question for a clock that is
	// right: with a stale one it waits for the first Tick after the sync.
	e.mu.Lock()
	e.recoverDue = true
	e.mu.Unlock()
	if e.clockReady() {
		e.recoverActive(os)
	}
	if len(os) > 0 {
		e.log.Info("reconciling orders left from the last run", "count", len(os))
	}
	return len(os), e.Tick(ctx)
}

// recoverActive makes the newest order still in its payment window the
// active sale again and announces it with Recovered set.
func (e *Engine) recoverActive(os []storage.Order) {
	e.mu.Lock()
	if !e.recoverDue {
		e.mu.Unlock()
		return
	}
	e.recoverDue = false
	e.mu.Unlock()
	now := e.clock.Now()
	var recovered *storage.Order
	for i := range os {
		o := &os[i]
		switch State(o.State) {
		case Unknown, Awaiting, Unresolved:
			if now.Before(e.deadline(o)) && (recovered == nil || o.Seq > recovered.Seq) {
				recovered = o
			}
		}
	}
	if recovered == nil {
		return
	}
	e.mu.Lock()
	if e.active != "" {
		e.mu.Unlock()
		return
	}
	e.active = recovered.ClientSN
	e.mu.Unlock()
	ev := Event{Kind: EventChecking, Order: *recovered, Recovered: true, Outcome: OutcomeUnknown,
		Reason: "recovered after a restart; checking with the gateway"}
	if State(recovered.State) == Awaiting && recovered.QRCode != "" {
		ev = Event{Kind: EventAwaitingPayment, Order: *recovered, Recovered: true, Reason: "recovered after a restart"}
	}
	e.emit(ev)
}

// Tick does all work due now: one conversation for each order whose time
// has come, up to Config.Conversations at once, and returns when they are
// done. Orders already in a conversation (a Sale's precreate, a Cancel)
// are left to it.
func (e *Engine) Tick(ctx context.Context) error {
	if !e.clockReady() {
		return nil
	}
	os, err := e.store.PendingOrders()
	if err != nil {
		return fmt.Errorf("agent: reading pending orders: %w", err)
	}
	e.recoverActive(os)
	now := e.clock.Now()
	var wg sync.WaitGroup
	run := func(sn string, fn func(sn string)) {
		if !e.tryClaim(sn) {
			return
		}
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			e.release(sn)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-e.sem }()
			defer e.release(sn)
			fn(sn)
		}()
	}
	for i := range os {
		if ctx.Err() != nil {
			break
		}
		e.mu.Lock()
		due := !e.due(&os[i]).After(now)
		e.mu.Unlock()
		if due {
			run(os[i].ClientSN, func(sn string) { e.converse(ctx, sn) })
		}
	}
	for _, sn := range e.dueRefunds(now) {
		if ctx.Err() != nil {
			break
		}
		run(sn, func(sn string) { e.resolveRefund(ctx, sn) })
	}
	wg.Wait()
	return ctx.Err()
}

// converse reads the order afresh (another conversation may have moved it
// since Tick listed it) and moves it forward by one step.
func (e *Engine) converse(ctx context.Context, sn string) {
	o, err := e.store.GetOrder(sn)
	if err != nil {
		e.log.Error("reading order", "client_sn", sn, "err", err)
		return
	}
	if State(o.State).Final() {
		return
	}
	e.step(ctx, &o, e.clock.Now())
}

// tryClaim starts a conversation for sn unless one is under way.
func (e *Engine) tryClaim(sn string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.busy[sn]; ok {
		return false
	}
	e.busy[sn] = make(chan struct{})
	return true
}

// claimWait waits for sn's conversation, if any, to end, then starts one.
func (e *Engine) claimWait(ctx context.Context, sn string) error {
	for {
		e.mu.Lock()
		ch, ok := e.busy[sn]
		if !ok {
			e.busy[sn] = make(chan struct{})
			e.mu.Unlock()
			return nil
		}
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (e *Engine) release(sn string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ch, ok := e.busy[sn]; ok {
		close(ch)
		delete(e.busy, sn)
	}
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
			if e.move(o, Canceling, noteWindowClosed) == nil {
				e.cancel(ctx, o)
				e.afterWindow(o)
			}
			return
		}
		e.query(ctx, o)
	case Unresolved:
		if !now.Before(e.expiry(o)) {
			e.settle(ctx, o)
			return
		}
		if !now.Before(e.deadline(o)) {
			e.mu.Lock()
			first := !e.cancelSent[o.ClientSN]
			e.cancelSent[o.ClientSN] = true
			e.mu.Unlock()
			if first {
				// The window closed: close it at the gateway by the
				// evidence we hold, once, and free the screen.
				e.cancel(ctx, o)
				e.afterWindow(o)
				return
			}
		}
		e.query(ctx, o)
	case Canceling:
		if !now.Before(e.expiry(o)) {
			e.settle(ctx, o)
			return
		}
		e.cancel(ctx, o)
		e.afterWindow(o)
	case Watching:
		if !now.Before(e.expiry(o)) {
			e.settle(ctx, o)
			return
		}
		e.query(ctx, o)
	}
}

// afterWindow frees the screen from an order whose window closed (or
// whose cashier cancelled) that is still not final.
func (e *Engine) afterWindow(o *storage.Order) {
	if State(o.State).Final() || State(o.State) == Watching {
		return
	}
	e.mu.Lock()
	was := e.active == o.ClientSN
	if was {
		e.active = ""
		e.released[o.ClientSN] = true
	}
	e.mu.Unlock()
	if was {
		e.emitWatching(o, "payment window closed; cancel not confirmed yet: still watching")
	}
}

func (e *Engine) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.cfg.CallTimeout)
}

// errBudget is returned instead of a gateway call the budget refused.
var errBudget = errors.New("agent: request budget of this order spent; waiting")

// precreate sends (or resends, under the same client_sn) the order.
func (e *Engine) precreate(ctx context.Context, o *storage.Order) {
	if !e.admit(o) {
		return
	}
	cctx, cancel := e.callCtx(ctx)
	g, err := e.gw.Precreate(cctx, gateway.PrecreateRequest{
		ClientSN: o.ClientSN, AmountCents: o.AmountCents, Subject: o.Subject, Operator: o.Operator,
		PayWindow: e.cfg.PaymentWindow,
	})
	cancel()
	now := e.clock.Now()
	e.try(o)
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
		e.scheduleAt(o, now.Add(e.backoff(o.Attempts)))
		if State(o.State) == Queued {
			e.emitQueued(o)
			return
		}
		e.move(o, Queued, "gateway unreachable: "+err.Error())
	case gateway.Rejected:
		e.setOnline(true)
		o.LastError = err.Error()
		if errors.Is(err, gateway.ErrConflict) {
			// The gateway holds this client_sn already: evidence that it
			// knows the order (ours, from an earlier attempt). Never send
			// it again; ask about it, with backoff.
			e.scheduleAt(o, now.Add(e.cfg.FastPoll))
			e.move(o, Unresolved, "client_sn known to the gateway: "+err.Error())
			return
		}
		why := "gateway refused: "
		if errors.Is(err, gateway.ErrConfig) {
			why = "the gateway refused the terminal's configuration (nothing was created; a technician must fix it): "
		}
		e.move(o, Failed, why+err.Error())
	default: // Unknown
		o.LastError = err.Error()
		// Ask again soon, later each time it stays unknown (a gateway
		// answering 500 to every resend must not be flooded).
		e.scheduleAt(o, now.Add(min(e.cfg.FastPoll<<min(o.Attempts-1, 5), e.cfg.RetryMax)))
		to := Unknown
		if e.evidence(o) {
			to = State(o.State) // a resend of an evidenced order never happens; keep it
		}
		e.move(o, to, "precreate outcome unknown: "+err.Error())
	}
}

// evidence reports whether the gateway ever confirmed o (issue 13, point
// 1): its own number or a QR code from an answer, a status it reported, or
// a state only evidence leads to (a conflict leads to Unresolved).
func (e *Engine) evidence(o *storage.Order) bool {
	if o.SN != "" || o.QRCode != "" || o.GatewayStatus != "" || State(o.State).Evidenced() {
		return true
	}
	// A state left since (Unresolved → Canceling) still counts.
	for _, t := range o.History {
		if State(t.To).Evidenced() {
			return true
		}
	}
	return false
}

func (e *Engine) ref(o *storage.Order) gateway.Ref {
	return gateway.Ref{ClientSN: o.ClientSN, SN: o.SN}
}

// query asks the gateway about an order that is open.
func (e *Engine) query(ctx context.Context, o *storage.Order) {
	if !e.admit(o) {
		return
	}
	cctx, cancel := e.callCtx(ctx)
	g, err := e.gw.Query(cctx, e.ref(o))
	cancel()
	failpoint("query-answered")
	now := e.clock.Now()
	switch {
	case err == nil:
		e.setOnline(true)
		e.adopt(o, g, now, "query")
	case errors.Is(err, gateway.ErrOrderNotFound):
		e.setOnline(true)
		e.notFound(ctx, o, now)
	default:
		if gateway.ClassOf(err) == gateway.NotSent {
			e.setOnline(false)
		}
		o.LastError = err.Error()
		e.scheduleAt(o, e.nextPoll(o, now))
	}
}

// notFound handles a query that says the gateway has no such order.
func (e *Engine) notFound(ctx context.Context, o *storage.Order, now time.Time) {
	switch {
	case State(o.State) == Unknown && !e.evidence(o):
		// The precreate never landed and nothing says it did: send it
		// again under the same client_sn (the gateway cannot create a
		// second order for it).
		if e.move(o, Submitting, "not at the gateway; sending again") == nil {
			e.precreate(ctx, o)
		}
	case State(o.State) == Awaiting && e.cfg.NotFoundUntilScanned:
		// Alipay: a precreated trade is not found until scanned.
		e.scheduleAt(o, e.nextPoll(o, now))
	case State(o.State) == Unresolved || State(o.State) == Watching:
		o.LastError = "the gateway cannot find this order"
		e.scheduleAt(o, e.nextPoll(o, now))
	default:
		// Confirmed, then not found: a contradiction.
		e.scheduleAt(o, e.nextPoll(o, now))
		e.move(o, Unresolved, "the gateway confirmed this order, then said it has none")
	}
}

// cancel cancels at the gateway and asks what became of the order. A
// payment that won the race shows up in the query as PAID.
func (e *Engine) cancel(ctx context.Context, o *storage.Order) {
	if !e.admit(o) {
		return
	}
	cctx, cancel := e.callCtx(ctx)
	cg, cerr := e.gw.Cancel(cctx, e.ref(o))
	cancel()
	failpoint("cancel-sent")
	if cerr == nil && cg.SN != "" && o.SN == "" {
		o.SN = cg.SN
	}
	if !e.admit(o) {
		return
	}
	cctx, cancel = e.callCtx(ctx)
	g, qerr := e.gw.Query(cctx, e.ref(o))
	cancel()
	now := e.clock.Now()
	unsupported := errors.Is(cerr, gateway.ErrCancelUnsupported)
	switch {
	case qerr == nil:
		e.setOnline(true)
		e.adopt(o, g, now, "after cancel")
		if State(o.State).Final() {
			return
		}
		if unsupported {
			e.toWatching(o, "the gateway cannot cancel this order: "+cerr.Error())
			return
		}
		e.scheduleAt(o, e.capExpiry(o, now, now.Add(e.cancelBackoff(e.try(o)))))
		if s := State(o.State); s != Canceling && s != Unresolved && s != Watching {
			e.move(o, Canceling, "still open after cancel")
		}
	case cerr == nil && cg.Status.Final():
		// The confirming query failed or found nothing (some gateways,
		// Alipay, forget a trade nobody scanned once it is closed), but
		// the cancel's own answer is definite: it is the final word.
		e.setOnline(true)
		e.adopt(o, cg, now, "cancelled")
	case unsupported && gateway.ClassOf(qerr) != gateway.NotSent:
		// The gateway said for certain it cannot cancel; the query's
		// failure does not change that. Watch it (by query alone).
		e.setOnline(true)
		e.toWatching(o, "the gateway cannot cancel this order: "+cerr.Error())
	case errors.Is(qerr, gateway.ErrOrderNotFound) && errors.Is(cerr, gateway.ErrOrderNotFound) && !e.evidence(o):
		// Neither call found it and nothing ever said the gateway had it:
		// the gateway never created this order, and the cancel makes sure
		// no late precreate can be paid.
		e.setOnline(true)
		e.move(o, Canceled, "never reached the gateway")
	case errors.Is(qerr, gateway.ErrOrderNotFound) && errors.Is(cerr, gateway.ErrOrderNotFound):
		e.setOnline(true)
		n := e.try(o)
		e.scheduleAt(o, now.Add(e.watchBackoff(n)))
		if State(o.State) != Unresolved {
			e.move(o, Unresolved, "the gateway confirmed this order, then found it neither to cancel nor to query")
		}
	default:
		if gateway.ClassOf(qerr) == gateway.NotSent {
			e.setOnline(false)
		}
		o.LastError = errString(cerr, qerr)
		e.scheduleAt(o, e.capExpiry(o, now, now.Add(e.cancelBackoff(e.try(o)))))
	}
}

// toWatching frees the screen from an order the gateway could not cancel
// and watches it until the gateway's own expiry, which Deadline then holds.
func (e *Engine) toWatching(o *storage.Order, why string) {
	until := e.expiry(o)
	o.Deadline = until
	e.mu.Lock()
	e.deadlines[o.ClientSN] = until
	e.released[o.ClientSN] = true
	e.mu.Unlock()
	e.try(o)
	e.scheduleAt(o, e.clock.Now().Add(e.watchBackoff(1)))
	e.move(o, Watching, why)
}

// settle ends the watch of an order past the gateway's own expiry: it can
// no longer be paid. The gateway's answer decides if it has one; an order
// the gateway cannot find is cancelled locally, with the reason.
func (e *Engine) settle(ctx context.Context, o *storage.Order) {
	if !e.admit(o) {
		return
	}
	cctx, cancel := e.callCtx(ctx)
	g, err := e.gw.Query(cctx, e.ref(o))
	cancel()
	now := e.clock.Now()
	switch {
	case err == nil:
		e.setOnline(true)
		e.adopt(o, g, now, "after the gateway's expiry")
		if !State(o.State).Final() {
			// The gateway still holds it open past its own expiry: ask it
			// to close, and keep asking slowly.
			e.try(o)
			e.scheduleAt(o, now.Add(e.cfg.WatchMax))
			if !errors.Is(e.tryCancelOnce(ctx, o), gateway.ErrCancelUnsupported) {
				return
			}
		}
	case errors.Is(err, gateway.ErrOrderNotFound):
		e.setOnline(true)
		e.move(o, Canceled, "the gateway's expiry passed and it has no such order: not paid")
	default:
		// Past the expiry nothing can be paid any more: conclude soon.
		o.LastError = err.Error()
		// A few quick tries, then as slowly as a watch: a gateway whose
		// answers cannot be verified (unsigned) or never arrive leaves the
		// order open, shown and counted, but never flooded.
		e.mu.Lock()
		e.settling[o.ClientSN]++
		n := e.settling[o.ClientSN]
		e.mu.Unlock()
		if n <= 3 {
			e.scheduleAt(o, now.Add(e.backoff(n)))
		} else {
			e.scheduleAt(o, now.Add(e.watchBackoff(n-3)))
		}
		if s := State(o.State); s != Unresolved && s != Watching && n == 3 {
			e.move(o, Unresolved, "the gateway's expiry passed and its answers prove nothing yet: "+o.LastError)
		}
	}
}

// capExpiry brings next forward to o's gateway expiry, when the watch ends.
func (e *Engine) capExpiry(o *storage.Order, now, next time.Time) time.Time {
	if x := e.expiry(o); now.Before(x) && next.After(x) {
		return x
	}
	return next
}

func (e *Engine) tryCancelOnce(ctx context.Context, o *storage.Order) error {
	if _, ok := e.spend(o, e.clock.Now()); !ok {
		return errBudget
	}
	cctx, cancel := e.callCtx(ctx)
	_, err := e.gw.Cancel(cctx, e.ref(o))
	cancel()
	return err
}

// adopt takes the gateway's view of the order.
func (e *Engine) adopt(o *storage.Order, g gateway.Order, now time.Time, note string) {
	before := [...]any{o.GatewayStatus, o.SN, o.TradeNo, o.Channel, o.QRCode, o.RefundedCents}
	moved := false
	defer func() {
		// Commit what the gateway told us if it is news and no move did.
		after := [...]any{o.GatewayStatus, o.SN, o.TradeNo, o.Channel, o.QRCode, o.RefundedCents}
		if before != after && !moved {
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
	if !g.ExpiresAt.IsZero() {
		e.mu.Lock()
		e.expires[o.ClientSN] = g.ExpiresAt
		e.mu.Unlock()
	}
	if g.AmountCents > 0 || g.NetAmountCents > 0 {
		o.RefundedCents = g.AmountCents - g.NetAmountCents
	}
	o.LastError = ""
	to := fromGateway(g.Status)
	from := State(o.State)
	switch {
	case to == Awaiting && (from == Canceling || from == Watching):
		// Cancel sent but not yet applied, or not available: keep on.
		e.scheduleAt(o, e.nextPoll(o, now))
		return
	case to == Unknown:
		// The gateway itself is unsure (PAY_ERROR, CANCEL_INPROGRESS...):
		// stay where we are and ask again; do not hand over goods.
		e.scheduleAt(o, e.nextPoll(o, now))
		e.emitChecking(o, OutcomeGatewayUnsure, "the gateway is not sure of this payment ("+string(g.Status)+"): do not hand over goods")
		return
	case to == Awaiting:
		if from == Queued {
			// Nothing was sent while queued: the payer's window (and the
			// gateway's own TTL) starts now.
			o.Deadline = now.Add(e.cfg.PaymentWindow)
			e.mu.Lock()
			e.deadlines[o.ClientSN] = o.Deadline
			e.mu.Unlock()
		}
		e.scheduleAt(o, e.nextPoll(o, now))
		if from == Awaiting {
			return
		}
		if o.QRCode == "" {
			// The gateway holds the order but never gave us its QR (its
			// precreate answer was lost and the client_sn conflicted):
			// nobody can pay it; close it.
			moved = true
			if e.move(o, Canceling, "the gateway holds this order but no QR code reached the terminal") == nil {
				e.scheduleAt(o, now)
			}
			return
		}
		// Show the QR first, then commit: the Enter→QR path carries one
		// fsync (the order itself), not two. A crash in between leaves the
		// order submitting on disk, which Reconcile resolves by query.
		shown := *o
		shown.State = string(Awaiting)
		e.mu.Lock()
		onScreen := e.active == o.ClientSN || e.active == ""
		e.mu.Unlock()
		if onScreen || from == Queued {
			e.emit(Event{Kind: EventAwaitingPayment, Order: shown})
		}
		moved = true
		if e.move(o, Awaiting, note) == nil {
			failpoint("awaiting-committed")
		}
		return
	}
	moved = true
	e.move(o, to, note+": "+string(g.Status))
}

// nextPoll is the poll schedule: FastPoll for the first FastPollFor of the
// order, then SlowPoll, never past the deadline; watched orders back off
// from WatchMin to WatchMax.
func (e *Engine) nextPoll(o *storage.Order, now time.Time) time.Time {
	switch State(o.State) {
	case Unresolved, Watching:
		n := e.try(o)
		next := now.Add(e.watchBackoff(n))
		// Wake at the end of the payment window (the screen is freed
		// then) and at the gateway's expiry (the watch ends then).
		for _, at := range []time.Time{e.deadline(o), e.expiry(o)} {
			if next.After(at) && now.Before(at) {
				next = at
			}
		}
		return next
	}
	iv := e.cfg.SlowPoll
	if now.Sub(o.CreatedAt) < e.cfg.FastPollFor {
		iv = e.cfg.FastPoll
	}
	next := now.Add(iv)
	if d := e.deadline(o); State(o.State) != Canceling && next.After(d) && now.Before(d) {
		next = d
	}
	return next
}

// try counts one more attempt for o and returns the count.
func (e *Engine) try(o *storage.Order) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := max(e.tries[o.ClientSN], o.Attempts) + 1
	e.tries[o.ClientSN] = n
	o.Attempts = n
	return n
}

// backoff is exponential from RetryMin to RetryMax with ±20% jitter, so a
// shop's terminals do not all return at once when the network comes back.
func (e *Engine) backoff(attempt int) time.Duration {
	return e.expBackoff(attempt, e.cfg.RetryMin, e.cfg.RetryMax)
}

// cancelBackoff retries a cancel quickly a few times, then as slowly as a
// watch: an order whose cancel keeps failing is watched until the
// gateway's expiry anyway, and may not flood it meanwhile.
func (e *Engine) cancelBackoff(attempt int) time.Duration {
	if attempt <= 4 {
		return e.backoff(attempt)
	}
	return e.watchBackoff(attempt - 4)
}

func (e *Engine) watchBackoff(attempt int) time.Duration {
	return e.expBackoff(attempt, e.cfg.WatchMin, e.cfg.WatchMax)
}

func (e *Engine) expBackoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	e.mu.Lock()
	f := e.rng.Float64()
	e.mu.Unlock()
	return time.Duration(float64(d) * (0.8 + 0.4*f))
}

// due is when o needs attention next. Call with e.mu held.
func (e *Engine) due(o *storage.Order) time.Time {
	if t, ok := e.next[o.ClientSN]; ok {
		return t
	}
	return o.NextAttemptAt
}

// deadline is when o stops waiting for the payer.
func (e *Engine) deadline(o *storage.Order) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d, ok := e.deadlines[o.ClientSN]; ok {
		return d
	}
	return o.Deadline
}

// expiry is when the gateway itself stops accepting payment for o: the
// end of any watch. For a Watching order Deadline holds it; otherwise it
// is GatewayExpiry after the precreate (the payment deadline less the
// window), or later if an answer of the gateway said so.
func (e *Engine) expiry(o *storage.Order) time.Time {
	d := e.deadline(o)
	if State(o.State) == Watching {
		return d
	}
	x := d.Add(e.cfg.GatewayExpiry - e.cfg.PaymentWindow)
	e.mu.Lock()
	defer e.mu.Unlock()
	if g, ok := e.expires[o.ClientSN]; ok && g.After(x) {
		x = g
	}
	return x
}

// schedule sets when o needs attention next, in memory; the next commit
// of o carries it to disk too. Call with e.mu held.
func (e *Engine) schedule(o *storage.Order, at time.Time) {
	o.NextAttemptAt = at
	e.next[o.ClientSN] = at
}

func (e *Engine) scheduleAt(o *storage.Order, at time.Time) {
	e.mu.Lock()
	e.schedule(o, at)
	e.mu.Unlock()
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
	if from != to && (to == Canceling || to == Unresolved || to == Watching || to == Awaiting) {
		// A new phase backs off from its own start.
		o.Attempts = 0
		e.mu.Lock()
		delete(e.tries, o.ClientSN)
		e.mu.Unlock()
	}
	if from != to || !strings.HasPrefix(lastNote(o), note) {
		o.History = append(o.History, storage.Transition{At: now, From: string(from), To: string(to), Note: note})
	}
	if err := e.put(o); err != nil {
		return err
	}
	e.log.Info("order", "client_sn", o.ClientSN, "from", from, "to", to, "note", note)
	e.announce(o, from, to, note)
	if to.Final() || to == Watching {
		e.mu.Lock()
		if e.active == o.ClientSN {
			e.active = ""
		}
		if to.Final() {
			delete(e.next, o.ClientSN)
			delete(e.deadlines, o.ClientSN)
			delete(e.expires, o.ClientSN)
			delete(e.released, o.ClientSN)
			delete(e.cancelSent, o.ClientSN)
			delete(e.checking, o.ClientSN)
			delete(e.tries, o.ClientSN)
			delete(e.settling, o.ClientSN)
			e.closeCalls(o.ClientSN)
			e.lastFinal = *o
		}
		e.mu.Unlock()
	}
	return nil
}

func lastNote(o *storage.Order) string {
	if n := len(o.History); n > 0 {
		return o.History[n-1].Note
	}
	return ""
}

// announce emits the event for a move.
func (e *Engine) announce(o *storage.Order, from, to State, note string) {
	switch to {
	case Paid:
		if e.late(o, from) {
			e.emit(Event{Kind: EventLatePaid, Order: *o, Outcome: OutcomeLatePaid,
				Reason: "paid after the sale left the screen: keep or refund"})
			return
		}
		e.emit(Event{Kind: EventPaid, Order: *o, Outcome: OutcomePaid})
	case Canceled:
		out := OutcomeExpired
		switch {
		case cancelledByCashier(o):
			out = OutcomeCanceled
		case strings.Contains(note, "never reached"):
			out = OutcomeNeverSent
		}
		e.emit(Event{Kind: EventCanceled, Order: *o, Reason: note, Outcome: out})
	case Expired:
		e.emit(Event{Kind: EventCanceled, Order: *o, Reason: note, Outcome: OutcomeNeverSent})
	case PayFailed:
		e.emit(Event{Kind: EventCanceled, Order: *o, Reason: "payment failed", Outcome: OutcomeDeclined})
	case Failed:
		e.emit(Event{Kind: EventFailed, Order: *o, Reason: note, Outcome: OutcomeRefused})
	case Refunded, PartialRefunded:
		e.emit(Event{Kind: EventRefunded, Order: *o, Outcome: OutcomeRefunded})
	case Queued:
		e.emitQueued(o)
	case Unknown:
		e.emitChecking(o, OutcomeUnknown, note)
	case Unresolved:
		e.emitChecking(o, OutcomeUnresolved, note+"; watched until the gateway's expiry: do not hand over goods")
	case Watching:
		e.emitWatching(o, note)
	}
}

// late reports whether a payment of o comes after its sale left the screen.
// After a restart the in-memory mark is gone, but an order that is not
// the active sale and whose window has closed left the screen all the
// same.
func (e *Engine) late(o *storage.Order, from State) bool {
	e.mu.Lock()
	rel := e.released[o.ClientSN]
	active := e.active == o.ClientSN
	e.mu.Unlock()
	return rel || from == Watching || cancelledByCashier(o) ||
		(!active && !e.clock.Now().Before(e.deadline(o)))
}

// cancelledByCashier reads the order's history: the cashier's Cancel is
// recorded on the move to Canceling.
func cancelledByCashier(o *storage.Order) bool {
	for i := len(o.History) - 1; i >= 0; i-- {
		if strings.HasPrefix(o.History[i].Note, noteCashier) {
			return true
		}
	}
	return false
}

func (e *Engine) emitChecking(o *storage.Order, out Outcome, why string) {
	e.mu.Lock()
	same := e.checking[o.ClientSN] == why
	e.checking[o.ClientSN] = why
	e.mu.Unlock()
	if !same {
		e.emit(Event{Kind: EventChecking, Order: *o, Outcome: out, Reason: why})
	}
}

func (e *Engine) emitWatching(o *storage.Order, why string) {
	e.emit(Event{Kind: EventWatching, Order: *o, Outcome: OutcomeNotCanceled, Reason: why, Until: e.expiry(o)})
}

// put commits o. A failed commit (full disk, I/O error) is reported; the
// order stays as it was on disk and is retried from there.
func (e *Engine) put(o *storage.Order) error {
	if err := e.store.PutOrder(o); err != nil {
		e.log.Error("cannot save order", "client_sn", o.ClientSN, "err", err)
		e.emit(Event{Kind: EventError, Order: *o, Reason: "cannot save the order: " + err.Error()})
		return err
	}
	return nil
}

func (e *Engine) emitQueued(o *storage.Order) {
	c, _ := e.Counts()
	e.emit(Event{Kind: EventQueued, Order: *o, Queued: c.Queued, Outcome: OutcomeNeverSent})
}

func (e *Engine) setOnline(on bool) {
	e.mu.Lock()
	if e.online == on {
		e.mu.Unlock()
		return
	}
	e.online = on
	e.mu.Unlock()
	c, _ := e.Counts()
	if on {
		e.emit(Event{Kind: EventOnline, Queued: c.Queued})
	} else {
		e.emit(Event{Kind: EventOffline, Queued: c.Queued})
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

// sortedKeys is for deterministic iteration over in-memory maps.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
