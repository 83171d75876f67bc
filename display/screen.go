package display

import (
	"fmt"
	"strconv"
	"time"

	"posagent/agent/report"
)

// Kind says which screen to show.
type Kind int

// The screens of a sale. The zero value is Idle.
const (
	// Idle: ready for the next sale.
	Idle Kind = iota
	// Entering: the cashier is typing the amount (Screen.Typed).
	Entering
	// Connecting: the order is being sent to the gateway ("Connecting…").
	Connecting
	// AwaitingPayment: the QR code (Screen.QR) with amount, merchant,
	// subject and countdown (Screen.Remaining).
	AwaitingPayment
	// Paid: the gateway confirmed the payment.
	Paid
	// Canceled: the sale was canceled (cashier or gateway).
	Canceled
	// Expired: the payment window closed without payment.
	Expired
	// Refunded: the order was refunded.
	Refunded
	// Offline: no gateway; Screen.Queued orders wait to be sent.
	Offline
	// Error: something the cashier must know, Screen.Reason says what.
	Error
	// Declined: the payer's payment failed or the gateway refused the
	// order; nobody was charged.
	Declined
	// Checking: the outcome is not known yet (lost answer, PAY_ERROR,
	// contradictory answers, a refund not yet confirmed). The cashier must
	// not hand over goods; keys: check again, cancel.
	Checking
	// LatePaid: paid after the cashier cancelled or the window closed; the
	// money is in: keep the sale or refund it.
	LatePaid
	// Menu: the supervisor menu; Screen.Menu lists item ids, Selected is
	// the highlighted one.
	Menu
	// PIN: a PIN is being typed (Screen.Typed holds only as many '*' as
	// digits); Screen.Reason says why a PIN was refused or that entry is
	// locked until Screen.Remaining has passed.
	PIN
	// Report: an X or Z report (Screen.Report).
	Report
	// Info: a list of facts (Screen.Facts), e.g. network and gateway
	// status, a refund's result, a commissioning result.
	Info
)

var kindNames = [...]string{"idle", "entering", "connecting", "awaiting-payment", "paid", "canceled", "expired", "refunded", "offline", "error",
	"declined", "checking", "late-paid", "menu", "pin", "report", "info"}

// String returns a short lowercase name, used in file names and logs.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Screen is the view model: everything a screen may show, as plain values.
// Fields a Kind does not use are ignored.
type Screen struct {
	Kind Kind
	// AmountCents is the sale amount in cents (fen).
	AmountCents int64
	// Typed is the amount text as typed so far, e.g. "12.5" (Entering).
	Typed string
	// QR is the payload to encode, the gateway's qr_code (AwaitingPayment).
	QR string
	// Merchant is the shop's name.
	Merchant string
	// Subject is the order subject; may be Chinese (see the package doc).
	Subject string
	// OrderNo is the order's client_sn, shown small for support calls.
	OrderNo string
	// Remaining is the time left to pay (AwaitingPayment countdown).
	Remaining time.Duration
	// Queued is the number of orders waiting for the network (Offline).
	Queued int
	// Reason is a short explanation (Error, Canceled, Offline).
	Reason string

	// Currency is the ISO 4217 code of the amounts: "CNY" (¥) or "HKD"
	// (HK$). Empty means CNY.
	Currency string
	// Channel is the payment channel that paid (Paid, LatePaid), e.g. "支付宝".
	Channel string
	// RefundedCents is the refunded part of a paid order (Refunded).
	RefundedCents int64
	// QueuedCents is the sum of the queued sales (Offline).
	QueuedCents int64
	// Recovered marks a sale taken over after a restart (AwaitingPayment,
	// Checking): the screen says so.
	Recovered bool
	// Menu holds the ids of the menu items (Menu), e.g. "refund_last",
	// "refund_order", "reprint", "x_report", "z_report", "selftest",
	// "network", "checkin", "activate"; the renderer names them in the
	// locale. Selected is the index of the highlighted item.
	Menu     []string
	Selected int
	// Report is the report to show (Report).
	Report *report.Summary
	// Facts are label/value pairs (Info); Label is a message id that the
	// renderer names in the locale, Value is shown as it is.
	Facts []Fact
	// Title is a message id naming an Info screen ("network", "refund",
	// "activation", ...).
	Title string
	// Keys are the hints for the keys that do something on this screen, as
	// message ids in the order to show them: "key.enter", "key.cancel",
	// "key.check" (Enter: ask the gateway again), "key.keep" (Enter),
	// "key.refund", "key.menu", "key.down" (Menu: next item), "key.back"
	// (Cancel), "key.ok" (Enter), "key.any". Set by the counter
	// (agent/counter), which owns what each key does.
	Keys []string
}

// Fact is one line of an Info screen.
type Fact struct {
	Label string
	Value string
}

// FormatAmount formats cents as yuan with the currency sign: 1250 → "¥12.50",
// -5 → "-¥0.05".
func FormatAmount(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign = "-"
		u = uint64(-(cents + 1)) + 1 // safe for math.MinInt64
	}
	return fmt.Sprintf("%s¥%d.%02d", sign, u/100, u%100)
}

// formatCountdown formats a remaining time as m:ss, rounding up so that
// "0:00" only shows when the time is really over.
func formatCountdown(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64((d + time.Second - 1) / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
