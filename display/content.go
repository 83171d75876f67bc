package display

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"posagent/agent/report"
	"posagent/display/locale"
)

// content turns a Screen into the items of its picture, in the locale's
// words. Every word comes from package locale; the Screen's own text
// (merchant, subject, a gateway's message) is shown as it is.
type content struct {
	s Screen
	o Options
	l *locale.Locale
}

// Priorities: 0 is never left out; when the panel is full the highest
// numbers go first.
const (
	pKeep    = 0
	pMain    = 1 // the second thing to read: "not charged", "do not hand over goods"
	pKeys    = 2 // key hints
	pMore    = 3 // a reason, a channel
	pName    = 4 // merchant, subject
	pOrderNo = 5 // for support calls only
)

func (c content) h() int { return c.o.Size.Y }

func (c content) title(id string, band uint8) item {
	return item{role: "title", text: c.l.T(id), min: minText(c.o), max: min(32, max(16, c.h()/7)), bold: true, band: true, bandC: band, color: cBG}
}

func (c content) bodyMax() int { return min(24, max(minText(c.o), c.h()/10)) }

func (c content) line(role, text string, color uint8, prio int) item {
	return item{role: role, text: text, min: minText(c.o), max: c.bodyMax(), color: color, prio: prio}
}

func (c content) para(role, text string, color uint8, prio, lines int) item {
	it := c.line(role, text, color, prio)
	it.wrap = lines
	if color == cBad && c.o.Format == Mono {
		// A warning cannot be red on a 1-bit panel: it is drawn light on
		// dark instead, so it still stands out.
		it.selected = true
	}
	return it
}

func (c content) small(role, text string, prio int) item {
	return item{role: role, text: text, min: minText(c.o), max: minText(c.o), color: cMuted, prio: prio}
}

// amount is the amount item: the currency sign small, the digits at least
// amountFloor high.
func (c content) amount(cents int64) item {
	m := locale.Money(cents, c.s.Currency)
	sign := locale.Symbol(c.s.Currency)
	digits := strings.TrimPrefix(strings.TrimPrefix(m, "-"), sign)
	if strings.HasPrefix(m, "-") {
		digits = "-" + digits
	}
	return c.amountText(sign, digits)
}

func (c content) amountText(sign, text string) item {
	return item{role: "amount", sign: strings.TrimSpace(sign), text: text, min: amountSize(amountFloor(c.h())), max: 56, color: cFG, bold: true}
}

func (c content) keys() item {
	var parts []string
	for _, k := range c.s.Keys {
		label := c.l.Text(k)
		// The action of Enter and Cancel says which key does it.
		switch k {
		case "key.ok":
			label = c.l.T("key.enter") // "OK" is what Enter does
		case "key.check", "key.keep":
			label = c.l.T("key.enter") + ":" + label
		case "key.back":
			label = c.l.T("key.cancel") + ":" + label
		}
		parts = append(parts, label)
	}
	return item{role: "keys", text: strings.Join(parts, "  "), min: minText(c.o), max: minText(c.o), color: cAccent, prio: pKeys}
}

func (c content) orderNo() item { return c.small("order", c.s.OrderNo, pOrderNo) }

// items lays out every kind but the payment screen.
func (c content) items() ([]item, error) {
	s, l := c.s, c.l
	var it []item
	switch s.Kind {
	case Idle:
		it = []item{c.title("idle", cAccent),
			c.para("merchant", s.Merchant, cFG, pName, 2),
			c.line("instruction", l.T("enter_amount"), cMuted, pMain)}
	case Entering:
		typed := s.Typed
		if typed == "" {
			typed = "0"
		}
		t := c.title("entering", cAccent)
		if s.Title != "" {
			t.text = l.Text(s.Title) // e.g. "refund": the amount to refund
		}
		it = []item{t, c.amountText(locale.Symbol(s.Currency), typed+"_")}
		if s.Reason != "" {
			it = append(it, c.para("reason", l.Text(s.Reason), cBad, pKeep, 2))
		} else if s.Title == "" {
			it = append(it, c.line("instruction", l.T("press_enter"), cMuted, pMain))
		}
		it = append(it, c.facts()...)
		if s.Title != "" {
			it = append(it, c.orderNo())
		}
	case Connecting:
		it = []item{c.title("connecting", cAccent), c.amount(s.AmountCents), c.line("instruction", l.T("please_wait"), cMuted, pMain)}
	case Paid:
		it = []item{c.title("paid", cGood), c.amount(s.AmountCents),
			c.line("channel", l.Channel(s.Channel), cFG, pMore),
			c.line("thanks", l.T("thank_you"), cFG, pMain), c.orderNo()}
	case Canceled:
		reason := l.T("canceled_by_cashier")
		if s.Reason != "" {
			reason = l.Text(s.Reason)
		}
		it = []item{c.title("canceled", cBad), c.amount(s.AmountCents),
			c.line("charged", l.T("not_charged"), cFG, pMain),
			c.para("reason", reason, cMuted, pMore, 2), c.orderNo()}
	case Expired:
		it = []item{c.title("expired", cWarn), c.amount(s.AmountCents),
			c.line("why", l.T("not_paid_in_time"), cFG, pMain),
			c.line("charged", l.T("not_charged"), cMuted, pMore), c.orderNo()}
	case Refunded:
		it = []item{c.title("refunded", cWarn), c.amount(s.AmountCents)}
		if s.RefundedCents > 0 && s.RefundedCents != s.AmountCents {
			it = append(it, c.line("refunded", l.F("refunded_part", "amount", locale.Money(s.RefundedCents, s.Currency)), cFG, pMain))
		}
		it = append(it, c.orderNo())
	case Offline:
		n := item{role: "queued", text: l.F("queued_n", "n", strconv.Itoa(s.Queued)), min: minText(c.o), max: min(32, max(minText(c.o), c.h()/6)), bold: true, color: cFG}
		it = []item{c.title("offline", cWarn), n}
		if s.QueuedCents > 0 {
			it = append(it, c.line("total", l.F("queued_total", "amount", locale.Money(s.QueuedCents, s.Currency)), cFG, pMore))
		}
		it = append(it, c.line("wait", l.T("offline_wait"), cFG, pMain),
			c.para("todo", l.T("offline_todo"), cBad, pMain, 2),
			c.para("reason", l.Text(s.Reason), cMuted, pOrderNo, 2))
	case Error:
		reason := s.Reason
		if reason == "" {
			reason = l.T("unknown_error")
		}
		it = []item{c.title("error", cBad)}
		if s.AmountCents != 0 {
			it = append(it, c.amount(s.AmountCents))
		}
		it = append(it, c.para("reason", l.Text(reason), cFG, pKeep, 4), c.orderNo())
	case Declined:
		it = []item{c.title("declined", cBad), c.amount(s.AmountCents),
			c.line("charged", l.T("not_charged"), cFG, pMain),
			c.para("reason", l.Text(s.Reason), cMuted, pMore, 2), c.orderNo()}
	case Checking:
		warn := c.para("warning", l.T("do_not_hand_over"), cBad, pKeep, 2)
		warn.bold = true
		it = []item{c.title("checking", cWarn), c.amount(s.AmountCents), warn}
		if s.Recovered {
			it = append(it, c.line("recovered", l.T("recovered"), cMuted, pMain))
		}
		it = append(it, c.para("reason", l.Text(s.Reason), cMuted, pMore, 2), c.orderNo())
	case LatePaid:
		it = []item{c.title("late-paid", cWarn), c.amount(s.AmountCents),
			c.line("money", l.T("money_in"), cFG, pMain),
			c.line("channel", l.Channel(s.Channel), cFG, pMore),
			c.para("todo", l.T("keep_or_refund"), cBad, pKeep, 2), c.orderNo()}
	case Menu:
		it = []item{c.title("menu", cAccent)}
		for i, id := range s.Menu {
			e := c.line("menu", fmt.Sprintf("%d %s", i+1, l.Text(id)), cFG, pKeep)
			e.left = true
			e.selected = i == s.Selected
			// Entries far from the selection go first when the panel is
			// short, so the visible ones are a window around it.
			e.prio = 10 + abs(i-s.Selected)
			switch {
			case e.selected:
				e.prio = pKeep
			case abs(i-s.Selected) == 1:
				e.prio = pMain // the neighbours stay before the key hints
			}
			it = append(it, e)
		}
	case PIN:
		stars := strings.Repeat("*", len([]rune(s.Typed)))
		if stars == "" {
			stars = "_"
		}
		typed := c.amountText("", stars)
		typed.role = "pin"
		it = []item{c.title("pin", cAccent), typed}
		switch {
		case s.Remaining > 0:
			it = append(it, c.para("reason", l.F("pin_locked", "time", formatCountdown(s.Remaining)), cBad, pKeep, 2))
		case s.Reason != "":
			it = append(it, c.para("reason", l.Text(s.Reason), cBad, pKeep, 2))
		}
	case Report:
		it = c.report()
	case Info:
		title := s.Title
		if title == "" {
			title = "info"
		}
		t := c.title("info", cAccent)
		t.text = l.Text(title)
		it = append([]item{t}, c.facts()...)
		if s.AmountCents > 0 {
			it = append(it, c.line("amount.fact", locale.Money(s.AmountCents, s.Currency), cFG, pMore))
		}
		if s.Typed != "" {
			typed := c.amountText("", s.Typed+"_")
			typed.role = "typed"
			it = append(it, typed)
		}
		it = append(it, c.orderNo())
	default:
		return nil, fmt.Errorf("display: unknown screen kind %d", int(s.Kind))
	}
	if len(s.Keys) > 0 {
		it = append(it, c.keys())
	}
	return dedupe(it), nil
}

// dedupe leaves out a line that says what an earlier one already says: the
// counter names the reason of an outcome with the same message id as a
// line the screen always has ("not_charged", "do_not_hand_over").
func dedupe(items []item) []item {
	seen := map[string]bool{}
	out := items[:0]
	for _, it := range items {
		key := cleanText(it.text) + "\x00" + it.right
		if it.text != "" && seen[key] && it.role != "amount" {
			continue
		}
		seen[key] = true
		out = append(out, it)
	}
	return out
}

// facts are the label/value rows of s.Facts; labels, and values that are
// message ids ("ok", "failed", "not_found"), in the locale's words.
func (c content) facts() []item {
	var it []item
	for _, f := range c.s.Facts {
		r := c.line("fact", c.l.Text(f.Label), cFG, pMore)
		r.right = c.l.Text(f.Value)
		if r.right == "" {
			r.right = "-"
		}
		it = append(it, r)
	}
	return it
}

// report shows what a shopkeeper checks at the counter: the net, the
// count and sum per outcome, refunds, and how many orders are still open
// or differ from the gateway. The printed report has every line.
func (c content) report() []item {
	l, rep := c.l, c.s.Report
	t := c.title("report", cAccent)
	if rep == nil {
		return []item{t}
	}
	switch rep.Kind {
	case report.X:
		t.text = l.T("report.x")
	case report.Z:
		t.text = l.T("report.z")
	}
	cur := rep.Currency
	if cur == "" {
		cur = c.s.Currency
	}
	row := func(role, label, value string, prio int) item {
		r := c.line(role, label, cFG, prio)
		r.right = value
		return r
	}
	net := row("net", l.T("report.net"), locale.Money(rep.NetCents, cur), pKeep)
	net.bold = true
	it := []item{t, net}
	for i, ln := range rep.ByOutcome {
		it = append(it, row("outcome", l.Outcome(ln.Key)+" ×"+strconv.Itoa(ln.Count), locale.Money(ln.Cents, cur), pMore+i))
	}
	it = append(it, row("refunds", l.T("report.refunds")+" ×"+strconv.Itoa(rep.Refunds.Count), locale.Money(rep.Refunds.Cents, cur), pMain))
	open := row("open", l.T("report.open"), strconv.Itoa(len(rep.Open)), pKeep)
	if len(rep.Open) > 0 {
		open.color = cBad
	}
	it = append(it, open)
	if len(rep.Differences) > 0 {
		d := row("differences", l.T("report.differences"), strconv.Itoa(len(rep.Differences)), pKeep)
		d.color = cBad
		it = append(it, d)
	}
	if !rep.To.IsZero() {
		z := c.o.TimeZone
		if z == nil {
			z = l.Zone
		}
		from, to := rep.From.In(z), rep.To.In(z)
		period := from.Format("01-02 15:04") + "–" + to.Format("01-02 15:04")
		if from.YearDay() == to.YearDay() && from.Year() == to.Year() {
			period = from.Format("01-02 15:04") + "–" + to.Format("15:04")
		}
		p := c.small("period", period, pOrderNo)
		p.alt = []string{from.Format("15:04") + "–" + to.Format("15:04")}
		it = append(it, p)
	}
	return it
}

// qrItems are the texts of the payment screen; the first three are the
// instruction, the amount and the countdown (paintQR sizes the code
// around them).
func (c content) qrItems() []item {
	s, l := c.s, c.l
	step := c.o.CountdownStep
	if step <= 0 {
		step = time.Second
	}
	remaining := (s.Remaining + step - 1) / step * step
	ins := c.line("instruction", l.T("scan_to_pay"), cAccent, pKeep)
	ins.bold = true
	ins.max = min(24, max(minText(c.o), c.h()/7)) // what to do comes first: as large as room allows
	cd := c.line("countdown", formatCountdown(remaining), cMuted, pMain)
	it := []item{ins, c.amount(s.AmountCents), cd}
	if s.Recovered {
		it = append(it, c.line("recovered", l.T("recovered"), cWarn, pMain))
	}
	it = append(it, c.line("merchant", s.Merchant, cFG, pName), c.line("subject", s.Subject, cFG, pName+1))
	if len(s.Keys) > 0 {
		it = append(it, c.keys())
	}
	return append(it, c.orderNo())
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
