package agent

import (
	"fmt"

	"posagent/gateway"
)

// State is where one order is in its life. All states and the moves
// between them are in this file; the engine changes state only through
// (*Engine).move, which checks the table below.
type State string

// The states. The non-final ones are all "the gateway may know more than
// we do": each is driven forward by the engine until it is final.
const (
	// Submitting: persisted with its client_sn; precreate may or may not
	// have reached the gateway. Written before anything is sent.
	Submitting State = "submitting"
	// Queued: the gateway could not be reached and nothing was sent. It is
	// retried with backoff until QueueTTL, then expired.
	Queued State = "queued"
	// Unknown: precreate was sent but its outcome is unknown, and the
	// gateway never gave evidence that it holds the order; only a query by
	// the same client_sn may decide it.
	Unknown State = "unknown"
	// Awaiting: the gateway holds the order; the QR is shown and polled.
	Awaiting State = "awaiting_payment"
	// Canceling: the payment window closed (or the cashier cancelled);
	// cancel, then query until the gateway says it is final.
	Canceling State = "canceling"
	// Unresolved: the gateway gave evidence that it holds the order (an
	// sn, a QR code, a precreate answer, a conflict on the client_sn) and
	// then said it has no such order. Contradictory answers prove nothing:
	// the order is watched with backoff until the gateway's own expiry and
	// is never re-created nor concluded "never reached the gateway"
	// (issue 13, point 1).
	Unresolved State = "unresolved"
	// Watching: the sale has left the screen but the gateway could not
	// cancel the order (no cancel call, or cancel refused for good), so it
	// may still be paid until the gateway's own expiry, which the order's
	// Deadline then holds. It is queried slowly until then; a payment is a
	// late payment (EventLatePaid), never a loss.
	Watching State = "watching"

	// Final states.
	Paid            State = "paid"
	Canceled        State = "canceled"   // the gateway cancelled it, or it never existed there
	PayFailed       State = "pay_failed" // the payer's payment failed (PAY_CANCELED)
	Expired         State = "expired"    // queued too long; never reached the gateway
	Failed          State = "failed"     // the gateway refused to create it
	Refunded        State = "refunded"   // paid, then refunded in full
	PartialRefunded State = "partial_refunded"
)

// Final reports whether s never changes again by itself.
func (s State) Final() bool {
	switch s {
	case Paid, Canceled, PayFailed, Expired, Failed, Refunded, PartialRefunded:
		return true
	}
	return false
}

// Evidenced reports whether being in s means the gateway confirmed the
// order at some point.
func (s State) Evidenced() bool {
	switch s {
	case Awaiting, Unresolved, Watching:
		return true
	}
	return false
}

// transitions lists every allowed move. A refund moves a final paid order
// on to a refunded state; nothing else leaves a final state. Nothing with
// evidence (Awaiting, Unresolved, Watching) goes back to Submitting, to
// Failed or to Expired: the gateway knows the order.
var transitions = map[State][]State{
	Submitting:      {Awaiting, Queued, Unknown, Unresolved, Failed, Paid, Canceled, PayFailed, Canceling},
	Queued:          {Awaiting, Queued, Unknown, Unresolved, Failed, Expired, Paid, Canceled, PayFailed, Canceling},
	Unknown:         {Awaiting, Unknown, Unresolved, Submitting, Canceling, Watching, Canceled, Paid, PayFailed, Failed, Refunded, PartialRefunded},
	Awaiting:        {Awaiting, Unresolved, Canceling, Paid, Canceled, PayFailed, Refunded, PartialRefunded},
	Unresolved:      {Unresolved, Awaiting, Canceling, Watching, Paid, Canceled, PayFailed, Refunded, PartialRefunded},
	Canceling:       {Canceling, Unresolved, Watching, Paid, Canceled, PayFailed, Refunded, PartialRefunded},
	Watching:        {Watching, Paid, Canceled, PayFailed, Refunded, PartialRefunded},
	Paid:            {PartialRefunded, Refunded},
	PartialRefunded: {PartialRefunded, Refunded},
}

// CanMove reports whether an order may go from one state to another.
func CanMove(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// fromGateway is the local state for a gateway status, and whether the
// engine should keep polling.
func fromGateway(st gateway.Status) State {
	switch st {
	case gateway.StatusPaid:
		return Paid
	case gateway.StatusCanceled:
		return Canceled
	case gateway.StatusPayCanceled:
		return PayFailed
	case gateway.StatusRefunded:
		return Refunded
	case gateway.StatusPartialRefunded:
		return PartialRefunded
	case gateway.StatusCreated:
		return Awaiting
	}
	// PAY_ERROR, CANCEL_ERROR, CANCEL_INPROGRESS, REFUND_ERROR: the
	// gateway itself does not know yet; keep asking.
	return Unknown
}

// errBadMove is a bug in the engine, never an input problem.
func errBadMove(clientSN string, from, to State) error {
	return fmt.Errorf("agent: order %s: no move from %s to %s", clientSN, from, to)
}
