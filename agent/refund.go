package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"posagent/gateway"
	"posagent/storage"
)

// ErrNotRefundable is wrapped by Refund's errors for an order that is not
// paid, or an amount above what is left to refund.
var ErrNotRefundable = errors.New("not refundable")

// openRefundState is an unconfirmed refund the engine resolves by itself.
type openRefundState struct {
	reqNo    string
	amount   int64
	next     time.Time
	attempts int
}

// Refund refunds amountCents of a paid order (0 means all that is left).
//
// Write first, as for a sale: the refund request, with its request number,
// is committed to the order's history before it is sent. While its outcome
// is unknown (a lost answer, a 500 — upay-v2.md: "a refund keeps its
// refund_request_no until a definite answer") the request number never
// changes: the engine resends the same request by itself, with backoff,
// until the gateway answers for certain (issue 13, points 4 and 5), and a
// cashier's retry reuses it too. A gateway without an idempotency key of its
// own (Yedpay) has its client look the order's refunds up before any resend
// (gateway/yedpay: the refund's remark), so no resend is blind.
func (e *Engine) Refund(ctx context.Context, clientSN string, amountCents int64) (storage.Order, error) {
	if !e.clockReady() {
		return storage.Order{}, fmt.Errorf("agent: %w: %s", ErrClock, e.clockReason())
	}
	if err := e.claimWait(ctx, clientSN); err != nil {
		return storage.Order{}, err
	}
	defer e.release(clientSN)
	o, err := e.store.GetOrder(clientSN)
	if err != nil {
		return o, fmt.Errorf("agent: order %s: %w", clientSN, err)
	}
	if s := State(o.State); s != Paid && s != PartialRefunded {
		return o, fmt.Errorf("agent: order %s is %s: %w", clientSN, o.State, ErrNotRefundable)
	}
	left := o.AmountCents - o.RefundedCents
	reqNo, pendingAmount := openRefund(o)
	if amountCents == 0 {
		amountCents = left
		if reqNo != "" {
			amountCents = pendingAmount
		}
	}
	if reqNo != "" && pendingAmount != amountCents {
		return o, fmt.Errorf("agent: refund %s of %s for %s is still unconfirmed; repeat it with that amount first", reqNo, Yuan(pendingAmount), clientSN)
	}
	if reqNo == "" && (amountCents <= 0 || amountCents > left) {
		return o, fmt.Errorf("agent: %s asked, %s left to refund on %s: %w", Yuan(amountCents), Yuan(left), clientSN, ErrNotRefundable)
	}
	if reqNo == "" {
		reqNo = fmt.Sprintf("R%d", refundCount(o)+1)
		o.History = append(o.History, storage.Transition{At: e.clock.Now(), From: o.State, To: o.State,
			Note: fmt.Sprintf("refund requested %s %d", reqNo, amountCents)})
		if err := e.put(&o); err != nil {
			return o, err
		}
	}
	return o, e.sendRefund(ctx, &o, reqNo, amountCents)
}

// sendRefund sends (or resends, with the same number) one refund request
// and records what the answer proves.
func (e *Engine) sendRefund(ctx context.Context, o *storage.Order, reqNo string, amountCents int64) error {
	now := e.clock.Now()
	if at, ok := e.spend(o, now); !ok {
		e.keepRefund(o, reqNo, amountCents, at)
		return fmt.Errorf("agent: refund %s of %s: %w", reqNo, o.ClientSN, errBudget)
	}
	cctx, cancel := e.callCtx(ctx)
	g, err := e.gw.Refund(cctx, gateway.RefundRequest{ClientSN: o.ClientSN, SN: o.SN, RequestNo: reqNo,
		AmountCents: amountCents, Operator: e.cfg.Operator})
	cancel()
	now = e.clock.Now()
	switch gateway.ClassOf(err) {
	case 0:
		e.setOnline(true)
		e.dropRefund(o.ClientSN)
		o.History = append(o.History, storage.Transition{At: now, From: o.State, To: o.State,
			Note: fmt.Sprintf("refund closed %s done", reqNo)})
		before := o.State
		e.adopt(o, g, now, "refund "+reqNo)
		if o.State == before {
			// adopt moved nothing: make sure the note is on disk.
			if err := e.put(o); err != nil {
				return err
			}
			e.emit(Event{Kind: EventRefunded, Order: *o, Outcome: OutcomeRefunded})
		}
		return nil
	case gateway.Rejected:
		e.setOnline(true)
		// A refusal may answer a second delivery of a refund the gateway
		// already made (a duplicated request to a gateway without an
		// idempotency key refuses "cannot be refunded"): look first.
		if seen, _ := e.refundSeen(ctx, o, amountCents); seen {
			e.dropRefund(o.ClientSN)
			return nil
		}
		// A definite no: nothing was refunded; the next request may take
		// a new number.
		e.dropRefund(o.ClientSN)
		o.History = append(o.History, storage.Transition{At: now, From: o.State, To: o.State,
			Note: fmt.Sprintf("refund closed %s refused: %v", reqNo, err)})
		e.put(o)
		e.emit(Event{Kind: EventFailed, Order: *o, Outcome: OutcomeRefundRefused, Reason: "refund refused: " + err.Error()})
	default:
		// NotSent or Unknown: the same request goes out again by itself.
		if gateway.ClassOf(err) == gateway.NotSent {
			e.setOnline(false)
		}
		e.mu.Lock()
		r := e.refunds[o.ClientSN]
		n := 1
		if r != nil {
			n = r.attempts + 1
		}
		e.mu.Unlock()
		e.keepRefund(o, reqNo, amountCents, now.Add(e.backoff(n)))
		e.emitChecking(o, OutcomeRefundPending, fmt.Sprintf("refund %s of %s not confirmed yet; asking again with the same number", reqNo, Yuan(amountCents)))
	}
	return fmt.Errorf("agent: refund %s of %s: %w", reqNo, o.ClientSN, err)
}

func (e *Engine) keepRefund(o *storage.Order, reqNo string, amount int64, next time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.refunds[o.ClientSN]
	if r == nil || r.reqNo != reqNo {
		r = &openRefundState{reqNo: reqNo, amount: amount}
		e.refunds[o.ClientSN] = r
	}
	r.attempts++
	r.next = next
}

func (e *Engine) dropRefund(clientSN string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.refunds, clientSN)
	delete(e.checking, clientSN)
	delete(e.calls, clientSN) // refunds are of final orders only
}

// dueRefunds lists the unconfirmed refunds whose next try is due.
func (e *Engine) dueRefunds(now time.Time) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var due []string
	for _, sn := range sortedKeys(e.refunds) {
		if !e.refunds[sn].next.After(now) {
			due = append(due, sn)
		}
	}
	return due
}

// resolveRefund resends an unconfirmed refund with its own number.
func (e *Engine) resolveRefund(ctx context.Context, sn string) {
	o, err := e.store.GetOrder(sn)
	if err != nil {
		e.log.Error("reading order", "client_sn", sn, "err", err)
		return
	}
	reqNo, amount := openRefund(o)
	if reqNo == "" {
		e.dropRefund(sn)
		return
	}
	if ri, ok := e.gw.(interface{ RefundIdempotent() bool }); ok && !ri.RefundIdempotent() {
		// No idempotency key at this gateway: never resend blind. Look
		// the order up first; resend only if the refund is not there.
		seen, err := e.refundSeen(ctx, &o, amount)
		if seen {
			e.dropRefund(sn)
			return
		}
		if err != nil {
			e.keepRefund(&o, reqNo, amount, e.clock.Now().Add(e.backoff(e.refundTries(sn)+1)))
			return
		}
	}
	if err := e.sendRefund(ctx, &o, reqNo, amount); err != nil {
		e.log.Warn("refund still unconfirmed", "client_sn", sn, "request_no", reqNo, "err", err)
	}
}

// refundSeen queries o and reports whether the gateway's refunded total
// already covers the open refund of amount (the refunds confirmed before
// it plus this one); if so, it records the refund as done.
func (e *Engine) refundSeen(ctx context.Context, o *storage.Order, amount int64) (bool, error) {
	now := e.clock.Now()
	if _, ok := e.spend(o, now); !ok {
		return false, errBudget
	}
	cctx, cancel := e.callCtx(ctx)
	g, err := e.gw.Query(cctx, e.ref(o))
	cancel()
	if err != nil {
		return false, err
	}
	if g.AmountCents-g.NetAmountCents < doneRefunds(*o)+amount {
		return false, nil
	}
	reqNo, _ := openRefund(*o)
	o.History = append(o.History, storage.Transition{At: e.clock.Now(), From: o.State, To: o.State,
		Note: fmt.Sprintf("refund closed %s done (the gateway's query shows it)", reqNo)})
	before := o.State
	e.adopt(o, g, e.clock.Now(), "refund "+reqNo)
	if o.State == before {
		if err := e.put(o); err != nil {
			return true, err
		}
		e.emit(Event{Kind: EventRefunded, Order: *o, Outcome: OutcomeRefunded})
	}
	return true, nil
}

func (e *Engine) refundTries(sn string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.refunds[sn]; r != nil {
		return r.attempts
	}
	return 0
}

// doneRefunds is the sum of o's refunds confirmed done.
func doneRefunds(o storage.Order) int64 {
	amounts := map[string]int64{}
	var sum int64
	for _, t := range o.History {
		var no string
		var amt int64
		if n, _ := fmt.Sscanf(t.Note, "refund requested %s %d", &no, &amt); n == 2 {
			amounts[no] = amt
		} else if f := strings.Fields(t.Note); len(f) >= 4 && f[0] == "refund" && f[1] == "closed" && f[3] == "done" {
			sum += amounts[f[2]]
			delete(amounts, f[2])
		}
	}
	return sum
}

// refundLookback bounds the search for refunds a previous run left
// unconfirmed: a refund is made at the counter within days of the sale
// and resolved within minutes, so the newest orders hold them all. Paid
// orders stay final in storage, outside the pending index, so this bounded
// read is the one place that finds them after a restart; it runs from
// Run, after start-up, so it never delays the first sale.
const (
	refundLookback      = 7 * 24 * time.Hour
	refundLookbackLimit = 5000
)

// orderWalker is the part of *storage.DB that streams recent orders,
// newest first, without holding them all in memory.
type orderWalker interface {
	EachOrder(f storage.Filter, fn func(storage.Order) error) error
}

// findOpenRefunds schedules every recent refund left unconfirmed.
func (e *Engine) findOpenRefunds() {
	w, ok := e.store.(orderWalker)
	if !ok {
		return
	}
	now := e.clock.Now()
	err := w.EachOrder(storage.Filter{Since: now.Add(-refundLookback), Limit: refundLookbackLimit}, func(o storage.Order) error {
		if no, amt, open := RefundPending(o); open {
			e.log.Info("refund left unconfirmed by the last run; asking again with the same number", "client_sn", o.ClientSN, "request_no", no)
			e.keepRefund(&o, no, amt, now)
		}
		return nil
	})
	if err != nil {
		e.log.Error("looking for unconfirmed refunds", "err", err)
	}
}

// RefundPending returns the request number and amount of o's refund whose
// outcome is not confirmed, if any: such an order is not final for the
// cashier (issue 13, point 4), whatever its state says.
func RefundPending(o storage.Order) (requestNo string, amountCents int64, ok bool) {
	no, amt := openRefund(o)
	return no, amt, no != ""
}

// openRefund returns the last refund request that has no outcome yet; the
// notes it reads are the ones this file writes.
func openRefund(o storage.Order) (string, int64) { return storage.PendingRefund(o) }

func refundCount(o storage.Order) int {
	n := 0
	for _, t := range o.History {
		if strings.HasPrefix(t.Note, "refund requested ") {
			n++
		}
	}
	return n
}

// Alive reports whether the engine answers within ctx. The engine's lock
// is never held across a gateway call, so only a hung database (or a bug)
// makes it miss, and the watchdog stops pinging.
func (e *Engine) Alive(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.mu.Lock()
		e.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("agent: engine busy past the watchdog deadline")
	}
}
