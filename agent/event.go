package agent

import (
	"time"

	"posagent/storage"
)

// EventKind says what happened.
type EventKind int

// Events, in the order a sale usually sees them. New kinds are added at the
// end so that stored or logged numbers keep their meaning.
const (
	EventSubmitting      EventKind = iota + 1 // Enter pressed; order saved, talking to the gateway
	EventAwaitingPayment                      // the QR is ready: show it
	EventChecking                             // not final and not payable on screen: do not hand over goods; Reason says why
	EventPaid                                 // the gateway says paid: hand over the goods, print the receipt
	EventCanceled                             // cancelled, expired or payment failed; Outcome says which
	EventFailed                               // the gateway refused the order (or a refund); Reason says why
	EventRefunded                             // a refund went through
	EventQueued                               // the gateway is unreachable; the sale waits in the queue
	EventOffline                              // the gateway stopped answering
	EventOnline                               // the gateway answers again
	EventError                                // the terminal itself has a problem (disk); Reason says what
	// EventWatching: the sale left the screen (the keypad is free) but the
	// gateway could not confirm it is closed, so the order stays payable
	// and is watched until Until (the gateway's own expiry). A payment
	// after this arrives as EventLatePaid.
	EventWatching
	// EventLatePaid: an order paid after its sale left the screen (the
	// cashier cancelled, or the window closed and the gateway could not
	// cancel). The money is in: print it, show it, offer a refund.
	EventLatePaid
	// EventClockWait: the engine makes no signed call, computes no deadline
	// and takes no sale until the clock is known to be right; Reason says
	// why ("waiting for the clock").
	EventClockWait
	// EventClockOK: the clock is right; sales are taken again.
	EventClockOK
)

var kindNames = map[EventKind]string{
	EventSubmitting: "submitting", EventAwaitingPayment: "awaiting_payment", EventChecking: "checking",
	EventPaid: "paid", EventCanceled: "canceled", EventFailed: "failed", EventRefunded: "refunded",
	EventQueued: "queued", EventOffline: "offline", EventOnline: "online", EventError: "error",
	EventWatching: "watching", EventLatePaid: "late_paid", EventClockWait: "clock_wait", EventClockOK: "clock_ok",
}

func (k EventKind) String() string { return kindNames[k] }

// Outcome names how a sale ended (or why it is not over), in the words the
// counter needs to pick a screen: issue 15 wants expired, cancelled by the
// cashier, declined and late paid told apart.
type Outcome string

// Outcomes.
const (
	OutcomePaid          Outcome = "paid"
	OutcomeLatePaid      Outcome = "late_paid"      // paid after the sale left the screen
	OutcomeCanceled      Outcome = "canceled"       // cancelled by the cashier
	OutcomeExpired       Outcome = "expired"        // the payment window closed unpaid
	OutcomeDeclined      Outcome = "declined"       // the payer's payment failed (PAY_CANCELED)
	OutcomeNeverSent     Outcome = "never_sent"     // queued too long, or never reached the gateway
	OutcomeRefused       Outcome = "refused"        // the gateway refused to create the order
	OutcomeUnknown       Outcome = "unknown"        // precreate outcome unknown; asking
	OutcomeUnresolved    Outcome = "unresolved"     // the gateway contradicts itself; watched until its expiry
	OutcomeGatewayUnsure Outcome = "gateway_unsure" // PAY_ERROR, CANCEL_ERROR...: the gateway itself does not know
	OutcomeNotCanceled   Outcome = "not_canceled"   // cancel unavailable or unconfirmed; watched until the gateway's expiry
	OutcomeRefunded      Outcome = "refunded"
	OutcomeRefundPending Outcome = "refund_unconfirmed" // a refund's outcome is unknown; resent with the same number
	OutcomeRefundRefused Outcome = "refund_refused"
)

// Event is everything the display and printer learn from the engine. The
// engine knows nothing of pixels or paper.
type Event struct {
	Kind    EventKind
	Order   storage.Order // a copy; zero for Offline/Online/Clock*
	Queued  int           // sales waiting in the offline queue
	Reason  string        // short, for the screen
	Outcome Outcome       // for sale events: how it ended, or why it is not over
	// Recovered is set on the event that re-announces, after a restart,
	// the sale that was on the screen: it is the active sale again (the
	// Cancel key works on it).
	Recovered bool
	// Until is, for EventWatching, when the gateway's own expiry ends the
	// watch.
	Until time.Time
}
