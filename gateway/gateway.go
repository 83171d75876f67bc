// Package gateway defines what the sale engine needs from a payment gateway,
// in the way periph.io/x/conn defines spi.Conn and leaves the drivers to
// other packages: a four-method interface, the order it talks about, and the
// three classes of failure the engine must tell apart.
//
// The classes matter more than anything else here. A counter terminal that
// mistakes "the gateway may have created the order" for "the request failed"
// either charges the customer twice (it creates a second order) or hands
// over goods that were never paid for. So every error a Gateway returns
// carries a Class:
//
//   - NotSent: the request never left the terminal (validation failed, DNS
//     or dial failed). Nothing happened on the gateway; the same call may be
//     repeated.
//   - Rejected: the gateway answered and said no (bad signature, bad params,
//     business failure). Nothing changed on the gateway because of this call.
//   - Unknown: the request may have been applied (timeout after the request
//     was written, connection reset, 5xx without a parsable answer, a
//     truncated or malformed body, a body whose signature does not verify).
//     Only a Query with the same client_sn can tell. Unknown is never failure.
//
// Implementations: posagent/gateway/upay (Shouqianba),
// posagent/gateway/alipay and posagent/gateway/yedpay. Each has a sandbox
// server in a sibling package that speaks the same wire protocol and shares
// the fault injection of posagent/gateway/faults (on the wire, or in memory
// with faults.Transport) and the payer page, ledger and gateway
// personalities of posagent/gateway/sandboxkit.
package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Gateway is the part of a payment gateway the sale engine uses. Every order
// is named by the terminal's own client_sn, so that an unknown outcome can be
// resolved by asking about the same order again.
type Gateway interface {
	// Precreate creates an order and returns the QR payload to show.
	Precreate(ctx context.Context, req PrecreateRequest) (Order, error)
	// Query returns the order's current state. An order the gateway has
	// never seen is reported as an error wrapping ErrOrderNotFound.
	Query(ctx context.Context, ref Ref) (Order, error)
	// Cancel asks the gateway to cancel an order that is not final. A
	// cancel that loses the race against a payment leaves the order PAID:
	// the caller must Query to learn the final state.
	Cancel(ctx context.Context, ref Ref) (Order, error)
	// Refund refunds all or part of a paid order. RequestNo makes it
	// idempotent: repeating the same request refunds once.
	Refund(ctx context.Context, req RefundRequest) (Order, error)
}

// Status is a gateway's order status, normalised to Upay's vocabulary
// (upay-v2.md, "Order status"), which the other gateways map onto.
type Status string

// Order statuses. Final ones never change again except by a refund.
const (
	StatusCreated          Status = "CREATED"           // waiting for the payer
	StatusPaid             Status = "PAID"              // final
	StatusPayCanceled      Status = "PAY_CANCELED"      // final: payment failed and was reversed
	StatusPayError         Status = "PAY_ERROR"         // not final: reversal outcome unknown, call support
	StatusRefunded         Status = "REFUNDED"          // final
	StatusPartialRefunded  Status = "PARTIAL_REFUNDED"  // final
	StatusRefundError      Status = "REFUND_ERROR"      // not final
	StatusCanceled         Status = "CANCELED"          // final: cancelled by the terminal or by timeout
	StatusCancelError      Status = "CANCEL_ERROR"      // not final
	StatusCancelInProgress Status = "CANCEL_INPROGRESS" // not final
)

// Final reports whether s can no longer change by itself.
func (s Status) Final() bool {
	switch s {
	case StatusPaid, StatusPayCanceled, StatusRefunded, StatusPartialRefunded, StatusCanceled:
		return true
	}
	return false
}

// Paid reports whether money was captured for the order (it may since have
// been refunded in part or in full).
func (s Status) Paid() bool {
	return s == StatusPaid || s == StatusRefunded || s == StatusPartialRefunded
}

// Order is a gateway's view of one order.
type Order struct {
	ClientSN       string
	SN             string // the gateway's order number
	TradeNo        string // the payment provider's number, once paid
	Status         Status
	AmountCents    int64
	NetAmountCents int64 // amount minus refunds
	QRCode         string
	Subject        string
	Channel        string    // payment channel name, e.g. "支付宝"
	FinishedAt     time.Time // zero until final
	// ExpiresAt is when the gateway itself stops accepting payment for an
	// unpaid order, when the answer or the gateway's documents say so
	// (Yedpay: 24 h after precreate); zero when unknown. An order the
	// terminal could not cancel is watched until then.
	ExpiresAt time.Time
}

// Ref names one order. ClientSN, the terminal's own number, is always set;
// SN, the gateway's own number, is set once any answer of the gateway gave it.
// A client looks an order up by SN when it has one (some gateways find an
// order in the path only by their own id: field-notes.md, Yedpay) and by
// ClientSN only for an order whose precreate answer never arrived.
type Ref struct {
	ClientSN string
	SN       string
}

// PrecreateRequest asks for a new QR-code order.
type PrecreateRequest struct {
	ClientSN    string // unique forever on this terminal
	AmountCents int64
	Subject     string
	Operator    string
	Description string
	// PayWindow is how long the QR is shown (terminal.payment_window);
	// gateways that take an order lifetime (Alipay timeout_express) are
	// told this one rather than a fixed value. Zero: the client's default.
	PayWindow time.Duration
}

// RefundRequest refunds part or all of a paid order.
type RefundRequest struct {
	ClientSN    string
	SN          string // the gateway's order number, when known (see Ref)
	RequestNo   string // idempotency key, unique per refund of this order
	AmountCents int64
	Operator    string
}

// Class sorts failures by what the engine may safely do next.
type Class int

// Failure classes; see the package documentation.
const (
	NotSent Class = iota + 1
	Rejected
	Unknown
)

func (c Class) String() string {
	switch c {
	case NotSent:
		return "not sent"
	case Rejected:
		return "rejected"
	case Unknown:
		return "outcome unknown"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Sentinel causes, wrapped by *Error so that errors.Is works.
var (
	// ErrOrderNotFound: the gateway has no order with this client_sn.
	ErrOrderNotFound = errors.New("order not found")
	// ErrAuth: the gateway refused the signature or the terminal; the
	// credentials need a check-in or re-provisioning.
	ErrAuth = errors.New("authentication refused")
	// ErrInvalid: the request failed validation before it was sent.
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the client_sn is already used with different details.
	ErrConflict = errors.New("client_sn conflict")
	// ErrCancelUnsupported: the gateway has no cancel for this order, or
	// refused it for good (e.g. Alipay isv.invalid-method on
	// alipay.trade.close). The order stays payable until the gateway's own
	// expiry; the terminal must keep watching it.
	ErrCancelUnsupported = errors.New("cancel not available")
	// ErrConfig: the gateway refused the terminal's configuration (wrong
	// app id, store id, token or key role). Nothing was created; no retry
	// helps until a technician fixes the configuration.
	ErrConfig = errors.New("configuration refused")
)

// Error is the error every Gateway method returns.
type Error struct {
	Class   Class
	Op      string // "precreate", "query", ...
	Code    string // the gateway's error code, if it gave one
	Message string // the gateway's message, if any
	Err     error  // underlying cause
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.Class.String()
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err. An error that is not a *Error (which a
// correct Gateway never returns) counts as Unknown, the only safe reading.
// A nil error has class 0.
func ClassOf(err error) Class {
	if err == nil {
		return 0
	}
	var ge *Error
	if errors.As(err, &ge) && ge.Class != 0 {
		return ge.Class
	}
	return Unknown
}

// LedgerEntry is one order as a sandbox gateway's ledger reports it at
// GET /sandbox/ledger (a JSON object {"orders": [...]}). Tests compare it
// with the terminal's own records.
type LedgerEntry struct {
	Terminal      string `json:"terminal"`
	ClientSN      string `json:"client_sn"`
	SN            string `json:"sn"`
	Status        Status `json:"status"`
	AmountCents   int64  `json:"amount_cents"`
	RefundedCents int64  `json:"refunded_cents"`
	// Charges counts how many times the payer was charged for this order;
	// anything but 0 or 1 is a double charge.
	Charges int `json:"charges"`
	// Creates counts precreate requests that reached the ledger for this
	// client_sn (idempotent repeats included).
	Creates int `json:"creates"`
}

// Ledger is the body of GET /sandbox/ledger.
type Ledger struct {
	Orders []LedgerEntry `json:"orders"`
}

// DateKeeper remembers the Date header of a gateway's latest answer. The
// clients keep one and expose it as LastDate: a bound for a terminal whose
// own clock may be stale after boot (issue 13, item 6), since a gateway's
// clock is right within seconds. The zero value is ready; safe for
// concurrent use.
type DateKeeper struct{ unixNano atomic.Int64 }

// Note records h's Date, if it has a valid one (RFC 9110 §6.6.1).
func (d *DateKeeper) Note(h http.Header) {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		d.unixNano.Store(t.UnixNano())
	}
}

// LastDate returns the latest Date noted, or the zero time.
func (d *DateKeeper) LastDate() time.Time {
	n := d.unixNano.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// NewTransport is a clone of http.DefaultTransport that trusts roots, if
// given, instead of the system pool. Every gateway client builds its
// transport with it; certificate verification is never turned off.
func NewTransport(roots *x509.CertPool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return t
}
