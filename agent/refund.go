package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"posagent/gateway"
	"posagent/storage"
)

// ErrNotRefundable is wrapped by Refund's errors for an order that is not
// paid, or an amount above what is left to refund.
var ErrNotRefundable = errors.New("not refundable")

// Refund refunds amountCents of a paid order (0 means all that is left).
//
// Write first, as for a sale: the refund request, with its request number,
// is committed to the order's history before it is sent. If the answer is
// lost, running the same refund again reuses that request number, so the
// gateway refunds once however often the cashier retries.
func (e *Engine) Refund(ctx context.Context, clientSN string, amountCents int64) (storage.Order, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o, err := e.store.GetOrder(clientSN)
	if err != nil {
		return o, fmt.Errorf("agent: order %s: %w", clientSN, err)
	}
	if s := State(o.State); s != Paid && s != PartialRefunded {
		return o, fmt.Errorf("agent: order %s is %s: %w", clientSN, o.State, ErrNotRefundable)
	}
	left := o.AmountCents - o.RefundedCents
	if amountCents == 0 {
		amountCents = left
	}
	if amountCents <= 0 || amountCents > left {
		return o, fmt.Errorf("agent: %s asked, %s left to refund on %s: %w", Yuan(amountCents), Yuan(left), clientSN, ErrNotRefundable)
	}
	reqNo, pendingAmount := openRefund(o)
	if reqNo != "" && pendingAmount != amountCents {
		return o, fmt.Errorf("agent: refund %s of %s for %s is still unconfirmed; repeat it with that amount first", reqNo, Yuan(pendingAmount), clientSN)
	}
	if reqNo == "" {
		reqNo = fmt.Sprintf("R%d", refundCount(o)+1)
		o.History = append(o.History, storage.Transition{At: e.clock.Now(), From: o.State, To: o.State,
			Note: fmt.Sprintf("refund requested %s %d", reqNo, amountCents)})
		if err := e.put(&o); err != nil {
			return o, err
		}
	}
	cctx, cancel := e.callCtx(ctx)
	g, err := e.gw.Refund(cctx, gateway.RefundRequest{ClientSN: clientSN, RequestNo: reqNo, AmountCents: amountCents, Operator: e.cfg.Operator})
	cancel()
	if err != nil {
		if gateway.ClassOf(err) == gateway.Rejected {
			o.History = append(o.History, storage.Transition{At: e.clock.Now(), From: o.State, To: o.State,
				Note: fmt.Sprintf("refund closed %s refused: %v", reqNo, err)})
			e.put(&o)
		}
		return o, fmt.Errorf("agent: refund %s of %s: %w", reqNo, clientSN, err)
	}
	o.History = append(o.History, storage.Transition{At: e.clock.Now(), From: o.State, To: o.State,
		Note: fmt.Sprintf("refund closed %s done", reqNo)})
	e.adopt(&o, g, e.clock.Now(), "refund "+reqNo)
	if State(o.State) == Paid || State(o.State) == PartialRefunded {
		// adopt committed the gateway's news; make sure the note is on disk.
		e.put(&o)
	}
	return o, nil
}

// openRefund returns the last refund request that has no outcome yet.
func openRefund(o storage.Order) (string, int64) {
	open := map[string]int64{}
	var order []string
	for _, t := range o.History {
		var no string
		var amt int64
		if n, _ := fmt.Sscanf(t.Note, "refund requested %s %d", &no, &amt); n == 2 {
			open[no] = amt
			order = append(order, no)
		} else if strings.HasPrefix(t.Note, "refund closed ") {
			f := strings.Fields(t.Note)
			if len(f) >= 3 {
				delete(open, f[2])
			}
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		if a, ok := open[order[i]]; ok {
			return order[i], a
		}
	}
	return "", 0
}

func refundCount(o storage.Order) int {
	n := 0
	for _, t := range o.History {
		if strings.HasPrefix(t.Note, "refund requested ") {
			n++
		}
	}
	return n
}

// Alive reports whether the engine answers within ctx: a hung gateway
// call or database holds its lock, and the watchdog stops pinging.
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
