// Package report holds the data of the counter's reports: the X report
// (today's totals so far) and the Z report (end of day). It is data only,
// like display.Screen: the words (in the terminal's locale) come from the
// screen and paper renderers, the numbers from the counter that builds a
// Summary from the order store and the gateway's answers.
//
// It is a leaf package so that display and printer, which import nothing
// of the engine, can render a Summary.
package report

import "time"

// Kind says which report a Summary is.
type Kind string

const (
	// X is a read of today's totals; it changes nothing.
	X Kind = "X"
	// Z is the end-of-day report, printed when the shop closes.
	Z Kind = "Z"
)

// Summary is one report.
type Summary struct {
	Kind     Kind
	Terminal string    // terminal id (Upay terminal_sn, Alipay app id, Yedpay store id)
	Merchant string    // the shop's name, as configured
	Currency string    // ISO 4217: "CNY", "HKD"
	From, To time.Time // the period covered; To is when the report was made
	// ByOutcome has one line per outcome, keyed by the order's state
	// ("paid", "canceled", "expired", "pay_failed", "failed", "refunded",
	// "partial_refunded", and the non-final ones).
	ByOutcome []Line
	// ByChannel sums paid orders per payment channel (e.g. "支付宝", "微信").
	ByChannel []Line
	// ByOperator sums paid orders per cashier.
	ByOperator []Line
	// Refunds counts the refunds made (confirmed by the gateway) in the
	// period and sums them, whatever day their sales were made: a refund
	// today of yesterday's sale is in today's report, as on the gateways'
	// settlement statements.
	Refunds Line
	// NetCents is what the shop keeps from the period: the amounts of the
	// orders created in it that were paid (paid, partially refunded or
	// refunded since) minus Refunds.Cents.
	NetCents int64
	// Open lists every order that is not final, with the gateway's
	// current answer for it: what the cashier must still look at.
	Open []Order
	// Differences lists orders where the device's ledger and the gateway's
	// answer disagree (after reconciling); empty when they agree.
	Differences []Order
}

// Line is a count and a sum, under a key that says what is counted.
type Line struct {
	Key   string
	Count int
	Cents int64
}

// Order is one order as a report lists it.
type Order struct {
	ClientSN    string
	AmountCents int64
	CreatedAt   time.Time
	Device      string // the device's state for it
	Gateway     string // the gateway's answer ("PAID", "not found", "no answer: …")
}
