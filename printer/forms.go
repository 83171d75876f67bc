package printer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"posagent/agent/report"
	"posagent/printer/escpos"
)

// Void is a void slip: printed when a sale whose QR slip is lying on the
// counter was cancelled or expired, so that nobody scans a slip that can no
// longer be paid (issue 15: a printed slip must not stay valid-looking).
type Void struct {
	ClientSN    string
	AmountCents int64
	Reason      string // "canceled" or "expired"
	At          time.Time
	Merchant    string // optional
}

// Void encodes a void slip: a large VOID (作废 / 作廢) title, why, the amount
// and order number of the slip it voids, and when.
func (l *Layout) Void(v Void) ([]byte, error) {
	var why string
	switch v.Reason {
	case "canceled", "cancelled":
		why = l.t("void.canceled")
	case "expired":
		why = l.t("void.expired")
	default:
		return nil, fmt.Errorf("printer: void reason %q, want \"canceled\" or \"expired\"", v.Reason)
	}
	if v.ClientSN == "" {
		return nil, errors.New("printer: void slip without an order number")
	}
	b := l.newDoc().Align(escpos.Center)
	if v.Merchant != "" {
		l.title(b, v.Merchant)
	}
	l.title(b, "*** "+l.t("void.title")+" ***")
	b.Style(escpos.Style{Bold: true})
	for _, line := range l.wrap(why, l.cols) {
		b.Line(line)
	}
	b.Style(escpos.Style{})
	b.Align(escpos.Left)
	rule := strings.Repeat("-", l.cols)
	b.Line(rule)
	if v.AmountCents > 0 {
		l.kv(b, l.t("receipt.amount"), l.money(v.AmountCents))
	}
	l.kv(b, l.t("receipt.order"), v.ClientSN)
	if !v.At.IsZero() {
		l.kv(b, l.t("receipt.time"), l.when(v.At))
	}
	b.Line(rule)
	for _, line := range l.wrap(l.t("void.note"), l.cols) {
		b.Line(line)
	}
	b.b.Cut(l.cut)
	return b.b.Bytes()
}

// Report encodes an X or Z report: counts and sums per outcome, channel and
// cashier, refunds, the net, and every order that is not final or on which
// the device and the gateway disagree, with both answers.
func (l *Layout) Report(s report.Summary) ([]byte, error) {
	var head string
	switch s.Kind {
	case report.X:
		head = l.t("report.x")
	case report.Z:
		head = l.t("report.z")
	default:
		return nil, fmt.Errorf("printer: report kind %q, want X or Z", s.Kind)
	}
	saved := l.currency
	if s.Currency != "" {
		l.currency = s.Currency
	}
	defer func() { l.currency = saved }()

	b := l.newDoc().Align(escpos.Center)
	if s.Merchant != "" {
		l.title(b, s.Merchant)
	}
	l.title(b, head)
	b.Align(escpos.Left)
	rule := strings.Repeat("-", l.cols)
	b.Line(rule)
	if s.Terminal != "" {
		l.kv(b, l.t("terminal"), s.Terminal)
	}
	if !s.From.IsZero() {
		l.kv(b, l.t("report.from"), l.when(s.From))
	}
	if !s.To.IsZero() {
		l.kv(b, l.t("report.to"), l.when(s.To))
	}
	section := func(id string, lines []report.Line, name func(string) string) {
		b.Line(rule)
		b.Style(escpos.Style{Bold: true}).Line(l.t(id)).Style(escpos.Style{})
		if len(lines) == 0 {
			b.Line("  " + l.t("report.none"))
			return
		}
		for _, ln := range lines {
			l.kv(b, name(ln.Key)+" ×"+strconv.Itoa(ln.Count), l.money(ln.Cents))
		}
	}
	same := func(s string) string { return s }
	section("report.by_outcome", s.ByOutcome, l.lc.Outcome)
	section("report.by_channel", s.ByChannel, l.lc.Channel)
	section("report.by_operator", s.ByOperator, same)
	b.Line(rule)
	l.kv(b, l.t("report.refunds")+" ×"+strconv.Itoa(s.Refunds.Count), l.money(s.Refunds.Cents))
	b.Style(escpos.Style{Bold: true})
	l.kv(b, l.t("report.net"), l.money(s.NetCents))
	b.Style(escpos.Style{})
	orders := func(id string, os []report.Order) {
		b.Line(rule)
		b.Style(escpos.Style{Bold: true}).Line(l.t(id) + " (" + strconv.Itoa(len(os)) + ")").Style(escpos.Style{})
		if len(os) == 0 {
			b.Line("  " + l.t("report.none"))
			return
		}
		for _, o := range os {
			l.kv(b, o.ClientSN, l.money(o.AmountCents))
			if !o.CreatedAt.IsZero() {
				b.Line("  " + l.when(o.CreatedAt))
			}
			for _, line := range l.wrap("  "+l.t("report.device")+": "+l.lc.Outcome(o.Device), l.cols) {
				b.Line(line)
			}
			for _, line := range l.wrap("  "+l.t("report.gateway")+": "+o.Gateway, l.cols) {
				b.Line(line)
			}
		}
	}
	orders("report.open", s.Open)
	orders("report.differences", s.Differences)
	b.Line(rule)
	b.b.Cut(l.cut)
	return b.b.Bytes()
}

// Commissioning is the slip a technician leaves with the shop after
// activating a terminal: who it is, what it talks to, what was checked,
// and how to reach support.
type Commissioning struct {
	Terminal, Store, Gateway, Version string
	Checks                            []Check
	// SupportQR is printed as a QR code (a support contact, or a test
	// payment); empty prints none.
	SupportQR string
}

// Check is one line of the doctor summary.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Commissioning encodes the commissioning slip.
func (l *Layout) Commissioning(c Commissioning) ([]byte, error) {
	if c.Terminal == "" {
		return nil, errors.New("printer: commissioning slip without a terminal id")
	}
	b := l.newDoc().Align(escpos.Center)
	l.title(b, l.t("commission.title"))
	b.Align(escpos.Left)
	rule := strings.Repeat("-", l.cols)
	b.Line(rule)
	for _, f := range [][2]string{{"terminal", c.Terminal}, {"store", c.Store}, {"gateway", c.Gateway}, {"version", c.Version}} {
		if f[1] != "" {
			l.kv(b, l.t(f[0]), f[1])
		}
	}
	b.Line(rule)
	b.Style(escpos.Style{Bold: true}).Line(l.t("commission.checks")).Style(escpos.Style{})
	ok := true
	for _, ch := range c.Checks {
		mark := "[" + l.t("ok") + "]"
		if !ch.OK {
			mark = "[" + l.t("failed") + "]"
			ok = false
		}
		l.kv(b, ch.Name, mark)
		if ch.Detail != "" {
			for _, line := range l.wrap("  "+ch.Detail, l.cols) {
				b.Line(line)
			}
		}
	}
	b.Line(rule)
	sum := l.t("commission.all_ok")
	if !ok {
		sum = l.t("commission.some_failed")
	}
	b.Align(escpos.Center).Style(escpos.Style{Bold: true}).Line(sum).Style(escpos.Style{})
	if c.SupportQR != "" {
		b.Line(l.t("commission.support"))
		if err := l.qr(b, c.SupportQR); err != nil {
			return nil, err
		}
	}
	b.b.Cut(l.cut)
	return b.b.Bytes()
}
