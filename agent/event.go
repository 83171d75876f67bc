package agent

import "posagent/storage"

// EventKind says what happened.
type EventKind int

// Events, in the order a sale usually sees them.
const (
	EventSubmitting      EventKind = iota + 1 // Enter pressed; order saved, talking to the gateway
	EventAwaitingPayment                      // the QR is ready: show it
	EventChecking                             // outcome unknown; asking the gateway
	EventPaid                                 // the gateway says paid: hand over the goods, print the receipt
	EventCanceled                             // cancelled, expired or payment failed; Reason says which
	EventFailed                               // the gateway refused the order; Reason says why
	EventRefunded                             // a refund went through
	EventQueued                               // the gateway is unreachable; the sale waits in the queue
	EventOffline                              // the gateway stopped answering
	EventOnline                               // the gateway answers again
	EventError                                // the terminal itself has a problem (disk); Reason says what
)

var kindNames = map[EventKind]string{
	EventSubmitting: "submitting", EventAwaitingPayment: "awaiting_payment", EventChecking: "checking",
	EventPaid: "paid", EventCanceled: "canceled", EventFailed: "failed", EventRefunded: "refunded",
	EventQueued: "queued", EventOffline: "offline", EventOnline: "online", EventError: "error",
}

func (k EventKind) String() string { return kindNames[k] }

// Event is everything the display and printer learn from the engine. The
// engine knows nothing of pixels or paper.
type Event struct {
	Kind   EventKind
	Order  storage.Order // a copy; zero for Offline/Online
	Queued int           // sales waiting in the offline queue
	Reason string        // short, for the screen
}
