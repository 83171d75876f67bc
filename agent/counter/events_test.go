package counter

import (
	"testing"
	"time"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/display"
	"posagent/printer"
)

// TestBadAmountThenGoodSale is the sequence of issue 15 ("After a bad
// amount the keypad sticks"): 0.001, Enter, 7 must end on "7", and
// 99999999999 must not trap the cashier either.
func TestBadAmountThenGoodSale(t *testing.T) {
	m := newMachine(t)
	press(t, m, keypad.Digit0, keypad.Dot, keypad.Digit0, keypad.Digit0, keypad.Digit1)
	s := m.Screen()
	if s.Kind != display.Error || s.Reason != "amount.decimals" || s.Typed != "0.00" {
		t.Fatalf("0.001: %+v; want the decimals error with 0.00 shown", s)
	}
	press(t, m, keypad.Enter)
	if s := m.Screen(); s.Kind != display.Error || s.Reason != "amount.zero" || s.Typed != "0.00" {
		t.Fatalf("Enter on 0.00: %+v", s)
	}
	press(t, m, keypad.Digit7)
	if s := m.Screen(); s.Kind != display.Entering || s.Typed != "7" {
		t.Fatalf("7 after a refused Enter: %+v; want a new amount 7", s)
	}
	if a := m.Key(keypad.Enter); a.Kind != ActSale || a.Cents != 700 {
		t.Fatalf("Enter on 7: %+v", a)
	}

	m = newMachine(t)
	for range 11 {
		m.Key(keypad.Digit9)
	}
	if s := m.Screen(); s.Kind != display.Error || s.Reason != "amount.digits" || s.Typed != "99999999" {
		t.Fatalf("11 nines: %+v", s)
	}
	press(t, m, keypad.Enter)
	if s := m.Screen(); s.Reason != "amount.over_max" || s.AmountCents != 500000 {
		t.Fatalf("Enter on 99999999: %+v", s)
	}
	press(t, m, keypad.Digit1, keypad.Digit2)
	if s := m.Screen(); s.Kind != display.Entering || s.Typed != "12" {
		t.Fatalf("12 after over-max: %+v", s)
	}
}

// TestOutcomeScreens: every way a sale ends has its own screen and words
// (issue 15, "Every outcome has its own screen"). The engine names the
// outcome (agent/event.go, Outcome); for an event without one, the notes
// agent/engine.go writes on the move to canceling ("cancelled by the
// cashier", "payment window closed") decide.
func TestOutcomeScreens(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ev     agent.Event
		kind   display.Kind
		reason string
		mode   Mode
	}{
		{"paid", agent.Event{Kind: agent.EventPaid, Order: order("A1", 500, agent.Paid)}, display.Paid, "", ModeOutcome},
		{"declined by the payer", agent.Event{Kind: agent.EventCanceled, Order: order("A1", 500, agent.PayFailed), Outcome: agent.OutcomeDeclined},
			display.Declined, "not_charged", ModeOutcome},
		{"refused by the gateway", agent.Event{Kind: agent.EventFailed, Order: order("A1", 500, agent.Failed), Outcome: agent.OutcomeRefused},
			display.Declined, "not_charged", ModeOutcome},
		{"cancelled (engine outcome)", agent.Event{Kind: agent.EventCanceled, Order: order("A1", 500, agent.Canceled), Outcome: agent.OutcomeCanceled},
			display.Canceled, "canceled_by_cashier", ModeOutcome},
		{"expired (engine outcome)", agent.Event{Kind: agent.EventCanceled, Order: order("A1", 500, agent.Canceled), Outcome: agent.OutcomeExpired},
			display.Expired, "not_paid_in_time", ModeOutcome},
		{"late paid (engine event)", agent.Event{Kind: agent.EventLatePaid, Order: order("A1", 500, agent.Paid), Outcome: agent.OutcomeLatePaid},
			display.LatePaid, "keep_or_refund", ModeLatePaid},
		{"watching: not confirmed closed", agent.Event{Kind: agent.EventWatching, Order: order("A1", 500, agent.Awaiting, "canceling:payment window closed"),
			Outcome: agent.OutcomeNotCanceled}, display.Expired, "watching", ModeOutcome},
		{"cancelled by the cashier", agent.Event{Kind: agent.EventCanceled,
			Order: order("A1", 500, agent.Canceled, "canceling:cancelled by the cashier")}, display.Canceled, "canceled_by_cashier", ModeOutcome},
		{"not paid in time", agent.Event{Kind: agent.EventCanceled,
			Order: order("A1", 500, agent.Canceled, "canceling:payment window closed")}, display.Expired, "not_paid_in_time", ModeOutcome},
		{"queued too long", agent.Event{Kind: agent.EventCanceled, Order: order("A1", 500, agent.Expired)}, display.Expired, "not_paid_in_time", ModeOutcome},
		{"paid after the cashier cancelled", agent.Event{Kind: agent.EventPaid,
			Order: order("A1", 500, agent.Paid, "canceling:cancelled by the cashier")}, display.LatePaid, "keep_or_refund", ModeLatePaid},
		{"refunded", agent.Event{Kind: agent.EventRefunded, Order: order("A1", 500, agent.Refunded)}, display.Refunded, "", ModeOutcome},
		{"checking", agent.Event{Kind: agent.EventChecking, Order: order("A1", 500, agent.Unknown)}, display.Checking, "do_not_hand_over", ModeChecking},
		{"refund refused keeps the screen", agent.Event{Kind: agent.EventFailed, Order: order("A1", 500, agent.Awaiting), Outcome: agent.OutcomeRefundRefused},
			display.AwaitingPayment, "", ModeAwaiting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			toAwaiting(t, m)
			m.Event(tc.ev, PrintConfig{})
			s := m.Screen()
			if s.Kind != tc.kind || s.Reason != tc.reason || m.Mode() != tc.mode || s.AmountCents != 500 || s.OrderNo != "A1" {
				t.Fatalf("screen %s %q mode %s (%+v); want %s %q %s", s.Kind, s.Reason, m.Mode(), s, tc.kind, tc.reason, tc.mode)
			}
			if tc.kind == display.Paid && s.Channel != "支付宝" {
				t.Fatalf("paid screen without its channel: %+v", s)
			}
		})
	}
}

// TestOtherOrdersKeepOffTheScreen: an order reconciled in the background
// does not take the screen from the sale the cashier is on.
func TestOtherOrdersKeepOffTheScreen(t *testing.T) {
	m := newMachine(t)
	toAwaiting(t, m)
	before := m.Screen()
	m.Event(agent.Event{Kind: agent.EventPaid, Order: order("OLD", 100, agent.Paid)}, PrintConfig{})
	m.Event(agent.Event{Kind: agent.EventCanceled, Order: order("OLD2", 100, agent.Canceled)}, PrintConfig{})
	if s := m.Screen(); s.Kind != before.Kind || s.OrderNo != "A1" {
		t.Fatalf("a background order took the screen: %+v", s)
	}
}

// TestVoidSlips: a QR slip printed for a sale that was then cancelled or
// expired gets a void slip; a paid one does not; nor does a sale whose QR
// was never printed.
func TestVoidSlips(t *testing.T) {
	pc := PrintConfig{QR: true, Receipts: true}
	for _, tc := range []struct {
		end    agent.Event
		reason string
	}{
		{agent.Event{Kind: agent.EventCanceled, Order: order("A1", 500, agent.Canceled, "canceling:cancelled by the cashier")}, "canceled"},
		{agent.Event{Kind: agent.EventCanceled, Order: order("A1", 500, agent.Canceled, "canceling:payment window closed")}, "expired"},
		{agent.Event{Kind: agent.EventPaid, Order: order("A1", 500, agent.Paid)}, ""},
	} {
		m := newMachine(t)
		press(t, m, keypad.Digit5, keypad.Enter)
		m.Event(agent.Event{Kind: agent.EventSubmitting, Order: order("A1", 500, agent.Submitting)}, pc)
		docs := m.Event(agent.Event{Kind: agent.EventAwaitingPayment, Order: order("A1", 500, agent.Awaiting)}, pc)
		if len(docs) != 1 || docs[0].Slip == nil || docs[0].Slip.QR == "" {
			t.Fatalf("QR slip: %+v", docs)
		}
		docs = m.Event(tc.end, pc)
		var void *printer.Void
		for _, d := range docs {
			if d.Void != nil {
				void = d.Void
			}
		}
		switch {
		case tc.reason == "" && void != nil:
			t.Errorf("%s: void slip for a paid sale", tc.end.Kind)
		case tc.reason != "" && (void == nil || void.Reason != tc.reason || void.ClientSN != "A1" || void.AmountCents != 500):
			t.Errorf("%s: void %+v, want reason %s", tc.end.Kind, void, tc.reason)
		}
	}
	// No slip printed: no void.
	m := newMachine(t)
	toAwaiting(t, m)
	for _, d := range m.Event(agent.Event{Kind: agent.EventCanceled, Order: order("A1", 500, agent.Canceled)}, pc) {
		if d.Void != nil {
			t.Fatal("void slip for a QR that was never printed")
		}
	}
}

// TestRecoveredSale: after a restart the engine re-announces the open
// sale with Recovered set (agent/event.go, Event.Recovered); it becomes the
// sale on the screen, says so, and Cancel acts on it.
func TestRecoveredSale(t *testing.T) {
	m := newMachine(t)
	m.Event(agent.Event{Kind: agent.EventAwaitingPayment, Order: order("A7", 1250, agent.Awaiting), Recovered: true}, PrintConfig{})
	s := m.Screen()
	if s.Kind != display.AwaitingPayment || !s.Recovered || s.OrderNo != "A7" || s.QR == "" {
		t.Fatalf("recovered screen: %+v", s)
	}
	if a := m.Key(keypad.Cancel); a.Kind != ActCancel {
		t.Fatalf("Cancel on the recovered sale: %s", a.Kind)
	}
	m.Event(agent.Event{Kind: agent.EventCanceled, Order: order("A7", 1250, agent.Canceled), Outcome: agent.OutcomeCanceled}, PrintConfig{})
	if s := m.Screen(); s.Kind != display.Canceled || s.OrderNo != "A7" {
		t.Fatalf("after cancel: %+v", s)
	}
	// An order whose outcome was unknown at the crash: Checking, recovered.
	m = newMachine(t)
	m.Event(agent.Event{Kind: agent.EventChecking, Order: order("A8", 100, agent.Unknown), Recovered: true, Outcome: agent.OutcomeUnknown}, PrintConfig{})
	if s := m.Screen(); s.Kind != display.Checking || !s.Recovered || s.Reason != "do_not_hand_over" {
		t.Fatalf("recovered unknown: %+v", s)
	}
	// The same order's later events keep the recovered mark.
	m.Event(agent.Event{Kind: agent.EventAwaitingPayment, Order: order("A8", 100, agent.Awaiting)}, PrintConfig{})
	if s := m.Screen(); s.Kind != display.AwaitingPayment || !s.Recovered {
		t.Fatalf("recovered then awaiting: %+v", s)
	}
}

// TestOfflineScreen: the offline screen counts the waiting sales and their
// sum; Cancel drops the queued sale on the screen.
func TestOfflineScreen(t *testing.T) {
	m := newMachine(t)
	press(t, m, keypad.Digit5, keypad.Enter)
	m.Event(agent.Event{Kind: agent.EventSubmitting, Order: order("A1", 500, agent.Submitting)}, PrintConfig{})
	m.Queue(2, 800)
	m.Event(agent.Event{Kind: agent.EventQueued, Order: order("A1", 500, agent.Queued), Queued: 2}, PrintConfig{})
	s := m.Screen()
	if s.Kind != display.Offline || s.Queued != 2 || s.QueuedCents != 800 {
		t.Fatalf("offline: %+v", s)
	}
	if a := m.Key(keypad.Cancel); a.Kind != ActCancel {
		t.Fatalf("Cancel on a queued sale: %s", a.Kind)
	}
}

// TestPINScreen: the PIN shows as stars, a wrong one and a locked entry
// say so, and the next key clears the message.
func TestPINScreen(t *testing.T) {
	m := newMachine(t)
	press(t, m, keypad.Menu, keypad.Digit1, keypad.Digit2, keypad.Digit3)
	if s := m.Screen(); s.Typed != "***" {
		t.Fatalf("PIN shown as %q", s.Typed)
	}
	if a := m.Key(keypad.Digit4); a.Kind != ActNone {
		t.Fatal(a)
	}
	a := m.Key(keypad.Enter)
	if a.Kind != ActVerifyPIN || a.Text != "1234" {
		t.Fatalf("Enter: %+v", a)
	}
	m.Done(Result{Kind: ActVerifyPIN})
	if s := m.Screen(); s.Kind != display.PIN || s.Reason != "pin_wrong" || s.Typed != "" {
		t.Fatalf("wrong PIN: %+v", s)
	}
	press(t, m, keypad.Digit5)
	if s := m.Screen(); s.Reason != "" || s.Typed != "*" {
		t.Fatalf("next key after a wrong PIN: %+v", s)
	}
	press(t, m, keypad.Digit5, keypad.Digit5, keypad.Digit5, keypad.Enter)
	m.Done(Result{Kind: ActVerifyPIN, Locked: 300e9})
	if s := m.Screen(); s.Reason != "pin_locked" || s.Remaining != 300e9 {
		t.Fatalf("locked: %+v", s)
	}
}

// TestMenuTimesOut: a menu left alone closes, so refunds are not left open
// for the next person at the counter.
func TestMenuTimesOut(t *testing.T) {
	m := newMachine(t)
	toMenu(t, m)
	if m.Tick(t0.Add(59 * time.Second)); m.Mode() != ModeMenu {
		t.Fatalf("menu closed after 59 s: %s", m.Mode())
	}
	if !m.Tick(t0.Add(61*time.Second)) || m.Mode() != ModeIdle {
		t.Fatalf("menu still open after 61 s: %s", m.Mode())
	}
	// A key restarts the wait.
	m = newMachine(t)
	toMenu(t, m)
	m.Tick(t0.Add(50 * time.Second))
	m.Key(keypad.Menu)
	if m.Tick(t0.Add(100 * time.Second)); m.Mode() != ModeMenu {
		t.Fatalf("menu closed 50 s after a key: %s", m.Mode())
	}
}

// TestMenuKeepsTheScreen: a refund made from the menu of the sale last on
// the screen shows its result in the menu, not as a sale screen.
func TestMenuKeepsTheScreen(t *testing.T) {
	m := newMachine(t)
	toAwaiting(t, m)
	m.Event(agent.Event{Kind: agent.EventPaid, Order: order("A1", 500, agent.Paid)}, PrintConfig{})
	press(t, m, keypad.Menu, keypad.Digit1, keypad.Digit2, keypad.Digit3, keypad.Digit4, keypad.Enter)
	m.Done(Result{Kind: ActVerifyPIN, Role: Supervisor})
	press(t, m, keypad.Digit1)
	m.Done(Result{Kind: ActFindLast, Order: order("A1", 500, agent.Paid)})
	if a := m.Key(keypad.Enter); a.Kind != ActRefund || a.ClientSN != "A1" {
		t.Fatalf("refund action %+v", a)
	}
	m.Event(agent.Event{Kind: agent.EventRefunded, Order: order("A1", 500, agent.Refunded), Outcome: agent.OutcomeRefunded}, PrintConfig{})
	if m.Mode() != ModeBusy {
		t.Fatalf("the refund event took the menu's screen: %s %+v", m.Mode(), m.Screen())
	}
	m.Done(Result{Kind: ActRefund, Order: order("A1", 500, agent.Refunded)})
	if s := m.Screen(); s.Kind != display.Info || s.Title != "refund" {
		t.Fatalf("refund result %+v", s)
	}
	// From a late payment, the refund's outcome is the sale's screen.
	m = newMachine(t)
	toAwaiting(t, m)
	m.Event(agent.Event{Kind: agent.EventLatePaid, Order: order("A1", 500, agent.Paid), Outcome: agent.OutcomeLatePaid}, PrintConfig{})
	if a := m.Key(keypad.Refund); a.Kind != ActRefund {
		t.Fatalf("refund key on late paid: %s", a.Kind)
	}
	m.Event(agent.Event{Kind: agent.EventRefunded, Order: order("A1", 500, agent.Refunded), Outcome: agent.OutcomeRefunded}, PrintConfig{})
	if s := m.Screen(); s.Kind != display.Refunded {
		t.Fatalf("late payment refunded: %+v", s)
	}
}

// TestQueuedSaleDoesNotInterrupt: once the cashier types the next amount,
// a queued sale that reaches the gateway later does not take the screen.
func TestQueuedSaleDoesNotInterrupt(t *testing.T) {
	m := newMachine(t)
	setups["offline-queued"](t, m)
	press(t, m, keypad.Digit3)
	m.Event(agent.Event{Kind: agent.EventAwaitingPayment, Order: order("A1", 500, agent.Awaiting)}, PrintConfig{})
	if s := m.Screen(); s.Kind != display.Entering || s.Typed != "3" {
		t.Fatalf("the queued sale's QR interrupted the typing: %+v", s)
	}
}

// TestBusyEngineShowsItsSale: an amount refused because the engine still
// has a sale open brings that sale back to the screen, where Cancel works
// (issue 15: "After a restart the counter locks").
func TestBusyEngineShowsItsSale(t *testing.T) {
	m := newMachine(t)
	press(t, m, keypad.Digit5, keypad.Enter)
	m.Done(Result{Kind: ActSale, Err: agent.ErrBusy, Order: order("OPEN", 900, agent.Awaiting)})
	s := m.Screen()
	if s.Kind != display.AwaitingPayment || s.OrderNo != "OPEN" || s.QR == "" {
		t.Fatalf("busy: %+v", s)
	}
	if a := m.Key(keypad.Cancel); a.Kind != ActCancel {
		t.Fatalf("Cancel on the engine's open sale: %s", a.Kind)
	}
	// A recovered sale takes the screen even from a cashier typing.
	m = newMachine(t)
	press(t, m, keypad.Digit5)
	m.Event(agent.Event{Kind: agent.EventChecking, Order: order("REC", 100, agent.Unknown), Recovered: true}, PrintConfig{})
	if s := m.Screen(); s.Kind != display.Checking || s.OrderNo != "REC" || !s.Recovered {
		t.Fatalf("recovered while typing: %+v", s)
	}
}
