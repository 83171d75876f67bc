package counter

import (
	"strings"

	"posagent/agent"
	"posagent/display"
	"posagent/printer"
	"posagent/storage"
)

// Doc is one thing to print: a printer job (exactly one of its documents
// is set).
type Doc = printer.Job

// PrintConfig says what the counter prints by itself.
type PrintConfig struct {
	QR       bool // a QR slip for every order (counters without a customer screen)
	Receipts bool // a receipt when paid or refunded
}

// Queue tells the Machine how many sales wait for the network and their sum.
func (m *Machine) Queue(n int, cents int64) {
	m.queued, m.qCents = n, cents
	if m.mode == ModeIdle {
		m.idle()
	}
}

func (m *Machine) saleScreen(o storage.Order) display.Screen {
	return display.Screen{AmountCents: o.AmountCents, OrderNo: o.ClientSN, Subject: m.cfg.Subject,
		Channel: o.Channel, RefundedCents: o.RefundedCents, Recovered: m.screen.Recovered && o.ClientSN == m.screen.OrderNo}
}

// Event takes what the engine reports and returns what to print for it.
func (m *Machine) Event(ev agent.Event, pc PrintConfig) []Doc {
	o := ev.Order
	var docs []Doc
	switch ev.Kind {
	case agent.EventOffline:
		m.online = false
	case agent.EventOnline, agent.EventAwaitingPayment, agent.EventPaid:
		m.online = true
	}
	if ev.Kind == agent.EventSubmitting && m.mode == ModeConnecting && m.current == "" && o.AmountCents == m.saleCents {
		m.current = o.ClientSN
	}
	// While the menu is open the supervisor's screen stays: a refund made
	// from the menu says its result there, not as a sale screen.
	mine := o.ClientSN != "" && o.ClientSN == m.current && !m.menuOpen()
	// A sale that reaches the gateway (or is found open after a restart)
	// while the counter is idle takes the screen: its customer may be
	// waiting. A late payment takes an idle or finished screen too: the
	// money is in, the cashier must decide.
	// The sale the engine recovers after a restart is its active sale: it
	// takes the screen whatever the cashier started meanwhile (the menu
	// aside), or Cancel could not reach it.
	free := m.mode == ModeIdle || (m.mode == ModeOutcome && ev.Kind == agent.EventLatePaid) ||
		(ev.Recovered && !m.menuOpen())
	if !mine && o.ClientSN != "" && free &&
		(ev.Kind == agent.EventAwaitingPayment || ev.Kind == agent.EventChecking || ev.Kind == agent.EventLatePaid) {
		m.current, mine = o.ClientSN, true
		m.screen.Recovered, m.screen.OrderNo = ev.Recovered, o.ClientSN
	}
	s := m.saleScreen(o)
	switch ev.Kind {
	case agent.EventSubmitting:
		if mine {
			s.Kind = display.Connecting
			m.show(ModeConnecting, s)
		}
	case agent.EventAwaitingPayment:
		if o.QRCode != "" && pc.QR {
			docs = append(docs, Doc{ID: o.ClientSN, Slip: &printer.Slip{Merchant: m.cfg.Merchant, AmountCents: o.AmountCents,
				ClientSN: o.ClientSN, QR: o.QRCode, ExpiresAt: o.Deadline}})
			m.slips[o.ClientSN] = true
		}
		if mine {
			m.deadline = o.Deadline
			s.Kind, s.QR = display.AwaitingPayment, o.QRCode
			s.Remaining = max(o.Deadline.Sub(m.now), 0)
			m.show(ModeAwaiting, s)
		}
	case agent.EventChecking:
		if mine {
			s.Kind, s.Reason = display.Checking, "do_not_hand_over"
			m.deadline = o.Deadline
			m.show(ModeChecking, s)
		}
	case agent.EventPaid, agent.EventRefunded, agent.EventLatePaid:
		late := ev.Kind == agent.EventLatePaid || (ev.Kind == agent.EventPaid && ev.Outcome == "" && latePaid(o))
		if pc.Receipts {
			r := receipt(m.cfg.Merchant, o, ev.Kind)
			if late {
				r.Kind = printer.ReceiptLatePaid
			}
			docs = append(docs, Doc{ID: o.ClientSN, Receipt: r})
		}
		delete(m.slips, o.ClientSN)
		if mine {
			switch {
			case ev.Kind == agent.EventRefunded:
				s.Kind = display.Refunded
				m.show(ModeOutcome, s)
			case late:
				s.Kind, s.Reason = display.LatePaid, "keep_or_refund"
				m.show(ModeLatePaid, s)
			default:
				s.Kind = display.Paid
				m.show(ModeOutcome, s)
			}
		}
	case agent.EventWatching:
		// The sale left the screen but the gateway did not confirm it is
		// closed: the keypad is free; a payment would come as late paid.
		if m.slips[o.ClientSN] {
			docs = append(docs, m.void(o, display.Expired))
		}
		if mine {
			s.Kind, s.Reason = display.Canceled, "watching"
			if k, _ := outcome(agent.Event{Kind: agent.EventCanceled, Order: o}); k == display.Expired {
				s.Kind = display.Expired
			}
			m.show(ModeOutcome, s)
		}
	case agent.EventFailed:
		if ev.Outcome == agent.OutcomeRefundRefused {
			break // the refund's own result says so (menu), the sale stays paid
		}
		fallthrough
	case agent.EventCanceled:
		kind, reason := outcome(ev)
		if m.slips[o.ClientSN] && (kind == display.Canceled || kind == display.Expired || kind == display.Declined) {
			docs = append(docs, m.void(o, kind))
		}
		delete(m.slips, o.ClientSN)
		if mine {
			s.Kind, s.Reason = kind, reason
			m.show(ModeOutcome, s)
		}
	case agent.EventQueued:
		if mine {
			m.queued = max(m.queued, ev.Queued)
			s.Kind, s.Queued, s.QueuedCents = display.Offline, m.queued, m.qCents
			// ModeIdle: the next amount can be typed; Cancel drops this one.
			m.show(ModeIdle, s)
		}
	case agent.EventOffline:
		if m.mode == ModeIdle {
			m.idle()
		}
	case agent.EventOnline:
		if m.mode == ModeIdle && m.current == "" {
			m.idle()
		}
	case agent.EventClockWait, agent.EventClockOK:
		m.clockWait = ev.Kind == agent.EventClockWait
		if m.mode == ModeIdle {
			m.idle()
		}
	case agent.EventError:
		if m.mode != ModeBusy && m.mode != ModeMenu && m.mode != ModePIN {
			m.show(ModeOutcome, display.Screen{Kind: display.Error, Reason: "save_failed", OrderNo: o.ClientSN})
		}
	}
	return docs
}

// menuOpen reports whether the menu (or a PIN, or one of its actions) has
// the screen.
func (m *Machine) menuOpen() bool {
	switch m.mode {
	case ModePIN, ModeMenu, ModeOrderNo, ModeRefundAmount, ModeCode, ModeResult:
		return true
	case ModeBusy:
		return m.back == ModeMenu
	}
	return false
}

// void is the void slip for o's printed QR slip.
func (m *Machine) void(o storage.Order, kind display.Kind) Doc {
	r := "canceled"
	if kind == display.Expired {
		r = "expired"
	}
	delete(m.slips, o.ClientSN)
	return Doc{ID: o.ClientSN, Void: &printer.Void{ClientSN: o.ClientSN, AmountCents: o.AmountCents, Reason: r,
		At: o.UpdatedAt, Merchant: m.cfg.Merchant}}
}

// outcome names how a sale ended without payment, in the words the
// cashier needs: the cashier cancelled it, nobody paid in time, or the
// payment was declined (nobody was charged in any of these).
func outcome(ev agent.Event) (display.Kind, string) {
	switch ev.Outcome {
	case agent.OutcomeCanceled:
		return display.Canceled, "canceled_by_cashier"
	case agent.OutcomeExpired, agent.OutcomeNeverSent:
		return display.Expired, "not_paid_in_time"
	case agent.OutcomeDeclined, agent.OutcomeRefused:
		return display.Declined, "not_charged"
	}
	// Without an Outcome (an older engine), read the order's history.
	o := ev.Order
	if ev.Kind == agent.EventFailed || agent.State(o.State) == agent.PayFailed || agent.State(o.State) == agent.Failed {
		return display.Declined, "not_charged"
	}
	if agent.State(o.State) == agent.Expired {
		return display.Expired, "not_paid_in_time"
	}
	for _, t := range o.History {
		if t.To != string(agent.Canceling) {
			continue
		}
		if strings.Contains(t.Note, "cashier") {
			return display.Canceled, "canceled_by_cashier"
		}
		return display.Expired, "not_paid_in_time"
	}
	return display.Canceled, "not_charged"
}

// latePaid reports whether o was paid after it was being cancelled (by the
// cashier or at the end of the payment window): the money is in although
// the counter had given the sale up.
func latePaid(o storage.Order) bool {
	for _, t := range o.History {
		if t.To == string(agent.Canceling) {
			return true
		}
	}
	return false
}

func receipt(merchant string, o storage.Order, k agent.EventKind) *printer.Receipt {
	kind := printer.Paid
	if k == agent.EventRefunded {
		kind = printer.Refunded
	}
	return &printer.Receipt{Kind: kind, Merchant: merchant, AmountCents: o.AmountCents, RefundedCents: o.RefundedCents,
		At: o.UpdatedAt, ClientSN: o.ClientSN, SN: o.SN, TradeNo: o.TradeNo, Channel: ChannelName(o.Channel)}
}

// ChannelName gives the payment channel in Latin letters for paper: most
// receipt printers have no Chinese font, and gateways name channels in
// Chinese.
func ChannelName(c string) string {
	switch c {
	case "支付宝":
		return "Alipay"
	case "微信", "微信支付":
		return "WeChat Pay"
	case "银联云闪付", "银联":
		return "UnionPay"
	}
	return c
}
