package counter

import (
	"errors"
	"strings"
	"time"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/agent/report"
	"posagent/display"
	"posagent/storage"
)

// Mode is where the counter is: what the keys mean now.
type Mode int

// The modes. Each shows one kind of screen (see Machine.Screen).
const (
	ModeIdle         Mode = iota // ready; Idle or Offline screen
	ModeEntering                 // typing an amount
	ModeAmountError              // an amount key or Enter was refused
	ModeConnecting               // Enter pressed; the order goes to the gateway
	ModeAwaiting                 // the QR is shown
	ModeChecking                 // outcome unknown: do not hand over goods
	ModeOutcome                  // paid, declined, cancelled, expired, refunded, offline or an error
	ModeLatePaid                 // paid after the cashier cancelled: keep or refund
	ModePIN                      // typing a PIN
	ModeMenu                     // the supervisor's or technician's menu
	ModeOrderNo                  // typing an order number to refund
	ModeRefundAmount             // typing the amount to refund (empty: all)
	ModeCode                     // typing an activation code
	ModeBusy                     // a menu action runs
	ModeResult                   // a menu action's result (Info or Report)
	numModes
)

var modeNames = [numModes]string{"idle", "entering", "amount-error", "connecting", "awaiting", "checking", "outcome",
	"late-paid", "pin", "menu", "order-no", "refund-amount", "code", "busy", "result"}

func (m Mode) String() string {
	if m >= 0 && m < numModes {
		return modeNames[m]
	}
	return "Mode(?)"
}

// Role is who a PIN belongs to.
type Role string

// The roles. A supervisor runs the shop's day (refunds, reports); a
// technician commissions the terminal.
const (
	Supervisor Role = "supervisor"
	Technician Role = "technician"
)

// Menu item ids, named in the locale by the renderer.
const (
	ItemRefundLast  = "refund_last"
	ItemRefundOrder = "refund_order"
	ItemReprint     = "reprint"
	ItemXReport     = "x_report"
	ItemZReport     = "z_report"
	ItemSelfTest    = "selftest"
	ItemNetwork     = "network"
	ItemCheckin     = "checkin"
	ItemActivate    = "activate"
)

// Menus per role.
var (
	supervisorMenu = []string{ItemRefundLast, ItemRefundOrder, ItemReprint, ItemXReport, ItemZReport, ItemSelfTest, ItemNetwork, ItemCheckin}
	technicianMenu = []string{ItemActivate, ItemSelfTest, ItemNetwork, ItemCheckin}
)

// ActionKind says what the counter must do for a key.
type ActionKind int

// The actions. ActNone: the key changed at most the screen.
const (
	ActNone      ActionKind = iota
	ActSale                 // Cents
	ActCancel               // cancel the sale on the screen
	ActRecheck              // ask the gateway again about the sale on the screen
	ActVerifyPIN            // Text
	ActFindLast             // the last refundable sale
	ActFindOrder            // Text: the typed order number
	ActRefund               // ClientSN, Cents (0: all that is left)
	ActReprint              // the last receipt
	ActReport               // Report
	ActSelfTest             // print the self-test slip
	ActNetwork              // network and gateway status
	ActCheckin              // check in now
	ActActivate             // Text: activation code
	ActQuit                 // leave (demo)
)

var actionNames = [...]string{"none", "sale", "cancel", "recheck", "verify-pin", "find-last", "find-order", "refund",
	"reprint", "report", "selftest", "network", "checkin", "activate", "quit"}

func (a ActionKind) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "ActionKind(?)"
}

// Action is what a key asks the counter to do besides changing the screen.
type Action struct {
	Kind     ActionKind
	Cents    int64
	ClientSN string
	Text     string
	Report   report.Kind
}

// Result is the outcome of an Action, fed back with Machine.Done.
type Result struct {
	Kind    ActionKind
	Err     error
	Order   storage.Order   // ActSale, ActFindLast, ActFindOrder, ActRefund
	Role    Role            // ActVerifyPIN: "" when the PIN is wrong
	Locked  time.Duration   // ActVerifyPIN: entry is locked for this long
	Summary *report.Summary // ActReport
	Facts   []display.Fact  // ActNetwork, ActCheckin, ActActivate, ActSelfTest, ActReprint
}

// ErrNotFound is the Result.Err of ActFindLast and ActFindOrder when there
// is no such order.
var ErrNotFound = errors.New("counter: no such order")

// Config is what the Machine needs to know of the shop.
type Config struct {
	Merchant string
	Subject  string
	Currency string // ISO 4217; "" is CNY
	// MaxCents is the largest sale, in cents.
	MaxCents int64
	// MinPIN and MaxPIN bound a PIN's length; 0 means 4 and 8.
	MinPIN, MaxPIN int
	// IdleAfter leaves a menu (or PIN entry) after this long without a key,
	// so that a supervisor who walks away does not leave refunds open.
	// 0 means 60 s.
	IdleAfter time.Duration
}

// Machine is the counter's logic: keys and engine events in, screens and
// actions out. It does no I/O and keeps no clock of its own (Tick gives it
// the time), so every screen × key is tested without a binary, a gateway
// or a display. Counter runs it. Not safe for concurrent use.
type Machine struct {
	cfg    Config
	mode   Mode
	screen display.Screen
	entry  *keypad.Entry
	fresh  bool // the text on screen was refused on Enter: a new digit starts over

	// The sale on the screen, and the amount of the one being started.
	current   string
	saleCents int64
	online    bool
	queued    int
	qCents    int64

	digits  []byte // PIN, order number or activation code being typed
	menu    []string
	sel     int
	back    Mode          // where Cancel goes from a result
	target  storage.Order // the order a refund is for
	refund  *keypad.Entry
	lastKey time.Time
	now     time.Time

	clockWait bool            // the engine takes no sale until the clock is right
	deadline  time.Time       // of the sale on the QR screen
	slips     map[string]bool // QR slips printed, for their void slips
}

// New returns a Machine on the Idle screen.
func New(cfg Config) (*Machine, error) {
	if cfg.MinPIN == 0 {
		cfg.MinPIN = 4
	}
	if cfg.MaxPIN == 0 {
		cfg.MaxPIN = 8
	}
	if cfg.IdleAfter <= 0 {
		cfg.IdleAfter = time.Minute
	}
	e, err := keypad.NewEntry(keypad.EntryOptions{Max: cfg.MaxCents})
	if err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, entry: e, online: true, slips: map[string]bool{}}
	m.idle()
	return m, nil
}

// Mode returns where the counter is.
func (m *Machine) Mode() Mode { return m.mode }

// Current returns the client_sn of the sale on the screen, if any.
func (m *Machine) Current() string { return m.current }

// Screen returns what to show now, with the hints of the keys that do
// something.
func (m *Machine) Screen() display.Screen {
	s := m.screen
	if s.Merchant == "" {
		s.Merchant = m.cfg.Merchant
	}
	if s.Currency == "" {
		s.Currency = m.cfg.Currency
	}
	s.Keys = m.hints()
	return s
}

// hints lists the keys that do something in the current mode, as message
// ids (display.Screen.Keys). It follows Key: a test checks the two agree.
func (m *Machine) hints() []string {
	switch m.mode {
	case ModeIdle:
		if m.screen.Kind == display.Offline && m.current != "" {
			return []string{"key.cancel", "key.menu"}
		}
		return []string{"key.menu"}
	case ModeEntering, ModeAmountError:
		return []string{"key.enter", "key.cancel"}
	case ModeConnecting, ModeAwaiting:
		return []string{"key.cancel"}
	case ModeChecking:
		return []string{"key.check", "key.cancel"}
	case ModeOutcome:
		return []string{"key.ok", "key.back", "key.menu"}
	case ModeLatePaid:
		return []string{"key.keep", "key.refund"}
	case ModePIN, ModeOrderNo, ModeRefundAmount, ModeCode:
		return []string{"key.enter", "key.back"}
	case ModeMenu:
		return []string{"key.enter", "key.down", "key.back"}
	case ModeResult:
		return []string{"key.ok", "key.back"}
	}
	return nil // ModeBusy: wait
}

func (m *Machine) show(mode Mode, s display.Screen) {
	m.mode = mode
	m.screen = s
}

func (m *Machine) idle() {
	m.entry.Reset()
	m.fresh = false
	m.digits = m.digits[:0]
	s := display.Screen{Kind: display.Idle, Subject: m.cfg.Subject}
	if !m.online || m.queued > 0 {
		s = display.Screen{Kind: display.Offline, Queued: m.queued, QueuedCents: m.qCents}
	}
	if m.clockWait {
		s = display.Screen{Kind: display.Error, Reason: "clock_wait"}
	}
	m.show(ModeIdle, s)
}

// Key applies one key press and returns what must be done for it.
func (m *Machine) Key(k keypad.Key) Action {
	m.lastKey = m.now
	if k == keypad.Quit {
		return Action{Kind: ActQuit}
	}
	switch m.mode {
	case ModeIdle, ModeOutcome:
		switch {
		case k == keypad.Menu || k == keypad.Refund:
			m.startPIN()
			return Action{}
		case k == keypad.Cancel && m.mode == ModeIdle && m.screen.Kind == display.Offline && m.current != "":
			// The queued sale on the Offline screen: drop it.
			return Action{Kind: ActCancel}
		case m.mode == ModeOutcome && (k == keypad.Enter || k == keypad.Cancel || k == keypad.Clear):
			m.idle()
			return Action{}
		case isAmountKey(k):
			// A new amount: the sale that was on the screen (finished, or
			// queued and left to the engine) no longer takes it back.
			m.current = ""
			m.entry.Reset()
			return m.amountKey(k)
		}
		return Action{}
	case ModeEntering, ModeAmountError:
		return m.amountKey(k)
	case ModeConnecting, ModeAwaiting:
		if k == keypad.Cancel || k == keypad.Clear {
			return Action{Kind: ActCancel}
		}
	case ModeChecking:
		switch k {
		case keypad.Enter:
			return Action{Kind: ActRecheck}
		case keypad.Cancel, keypad.Clear:
			return Action{Kind: ActCancel}
		}
	case ModeLatePaid:
		switch k {
		case keypad.Enter:
			m.idle() // keep: the receipt was printed with the payment
		case keypad.Refund:
			m.busy(ModeIdle)
			return Action{Kind: ActRefund, ClientSN: m.current}
		}
	case ModePIN:
		return m.typed(k, m.cfg.MaxPIN, func(s string) Action {
			if len(s) < m.cfg.MinPIN {
				return Action{}
			}
			m.busy(ModeIdle)
			return Action{Kind: ActVerifyPIN, Text: s}
		}, m.idle)
	case ModeMenu:
		switch {
		case k == keypad.Menu:
			m.sel = (m.sel + 1) % len(m.menu)
			m.screen.Selected = m.sel
		case k == keypad.Enter:
			return m.open(m.menu[m.sel])
		case k.IsDigit() && k.Digit() >= 1 && k.Digit() <= len(m.menu):
			m.sel = k.Digit() - 1
			return m.open(m.menu[m.sel])
		case k == keypad.Cancel || k == keypad.Clear:
			m.idle()
		}
	case ModeOrderNo:
		return m.typed(k, storage.MaxClientSNLen, func(s string) Action {
			if s == "" {
				return Action{}
			}
			m.busy(ModeMenu)
			return Action{Kind: ActFindOrder, Text: s}
		}, m.showMenu)
	case ModeCode:
		return m.typed(k, 32, func(s string) Action {
			if s == "" {
				return Action{}
			}
			m.busy(ModeMenu)
			return Action{Kind: ActActivate, Text: s}
		}, m.showMenu)
	case ModeRefundAmount:
		return m.refundKey(k)
	case ModeResult:
		switch k {
		case keypad.Enter, keypad.Cancel, keypad.Clear:
			if m.back == ModeMenu {
				m.showMenu()
			} else {
				m.idle()
			}
		}
	}
	return Action{}
}

func isAmountKey(k keypad.Key) bool {
	return k.IsDigit() || k == keypad.DoubleZero || k == keypad.Dot
}

// amountKey types an amount. An error clears on the next key: the text
// that stands stays on the screen with the reason (what is shown is what
// is typed), the next key works on it, and after a refused Enter a new
// digit starts a new amount.
func (m *Machine) amountKey(k keypad.Key) Action {
	if k == keypad.Menu || k == keypad.Refund {
		return Action{}
	}
	if m.fresh && isAmountKey(k) {
		m.entry.Reset()
	}
	m.fresh = false
	cents, done, err := m.entry.Press(k)
	var ae *keypad.AmountError
	switch {
	case errors.As(err, &ae):
		m.fresh = k == keypad.Enter
		s := display.Screen{Kind: display.Error, Reason: amountReason(ae), Typed: m.entry.Text()}
		if errors.Is(ae, keypad.ErrOverMax) {
			s.AmountCents = m.cfg.MaxCents
		}
		m.show(ModeAmountError, s)
	case done:
		m.current = "" // the next Submitting event of this amount names the new sale
		m.saleCents = cents
		m.show(ModeConnecting, display.Screen{Kind: display.Connecting, AmountCents: cents, Subject: m.cfg.Subject})
		return Action{Kind: ActSale, Cents: cents}
	case m.entry.Text() == "":
		m.idle()
	default:
		m.show(ModeEntering, display.Screen{Kind: display.Entering, Typed: m.entry.Text()})
	}
	return Action{}
}

// amountReason is the message id for a refused amount.
func amountReason(ae *keypad.AmountError) string {
	switch {
	case errors.Is(ae, keypad.ErrZero):
		return "amount.zero"
	case errors.Is(ae, keypad.ErrDecimals):
		return "amount.decimals"
	case errors.Is(ae, keypad.ErrDigits), errors.Is(ae, keypad.ErrTooLarge):
		return "amount.digits"
	case errors.Is(ae, keypad.ErrDot):
		return "amount.dot"
	case errors.Is(ae, keypad.ErrOverMax):
		return "amount.over_max"
	}
	return "amount.syntax"
}

// typed collects digits (PIN, order number, code): Backspace removes one,
// Enter hands them to enter, Cancel leaves through cancel.
func (m *Machine) typed(k keypad.Key, max int, enter func(string) Action, cancel func()) Action {
	switch {
	case k.IsDigit():
		if len(m.digits) < max {
			m.digits = append(m.digits, byte('0'+k.Digit()))
		}
	case k == keypad.DoubleZero:
		for range 2 {
			if len(m.digits) < max {
				m.digits = append(m.digits, '0')
			}
		}
	case k == keypad.Backspace:
		if len(m.digits) > 0 {
			m.digits = m.digits[:len(m.digits)-1]
		}
	case k == keypad.Enter:
		s := string(m.digits)
		a := enter(s)
		if a.Kind != ActNone {
			clear(m.digits)
			m.digits = m.digits[:0]
		}
		return a
	case k == keypad.Cancel || k == keypad.Clear:
		clear(m.digits)
		m.digits = m.digits[:0]
		cancel()
		return Action{}
	default:
		return Action{}
	}
	m.screen.Reason = "" // an error clears on the next key
	m.screen.Typed = string(m.digits)
	if m.mode == ModePIN {
		m.screen.Typed = strings.Repeat("*", len(m.digits))
	}
	return Action{}
}

func (m *Machine) startPIN() {
	m.digits = m.digits[:0]
	m.show(ModePIN, display.Screen{Kind: display.PIN})
}

func (m *Machine) showMenu() {
	m.digits = m.digits[:0]
	m.show(ModeMenu, display.Screen{Kind: display.Menu, Menu: m.menu, Selected: m.sel})
}

// busy shows that an action runs; back is where its result returns to.
func (m *Machine) busy(back Mode) {
	m.back = back
	m.show(ModeBusy, display.Screen{Kind: display.Info, Title: "please_wait"})
}

// open runs a menu item.
func (m *Machine) open(item string) Action {
	switch item {
	case ItemRefundLast:
		m.busy(ModeMenu)
		return Action{Kind: ActFindLast}
	case ItemRefundOrder:
		m.digits = m.digits[:0]
		m.show(ModeOrderNo, display.Screen{Kind: display.Info, Title: "refund_order", Facts: []display.Fact{{Label: "order"}}})
		return Action{}
	case ItemReprint:
		m.busy(ModeMenu)
		return Action{Kind: ActReprint}
	case ItemXReport, ItemZReport:
		m.busy(ModeMenu)
		k := report.X
		if item == ItemZReport {
			k = report.Z
		}
		return Action{Kind: ActReport, Report: k}
	case ItemSelfTest:
		m.busy(ModeMenu)
		return Action{Kind: ActSelfTest}
	case ItemNetwork:
		m.busy(ModeMenu)
		return Action{Kind: ActNetwork}
	case ItemCheckin:
		m.busy(ModeMenu)
		return Action{Kind: ActCheckin}
	case ItemActivate:
		m.digits = m.digits[:0]
		m.show(ModeCode, display.Screen{Kind: display.Info, Title: "activation", Facts: []display.Fact{{Label: "code"}}})
	}
	return Action{}
}

// refundKey types the amount to refund of m.target; Enter on nothing
// refunds all that is left.
func (m *Machine) refundKey(k keypad.Key) Action {
	switch k {
	case keypad.Cancel:
		m.showMenu()
		return Action{}
	case keypad.Enter:
		if m.refund.Text() == "" {
			m.busy(ModeMenu)
			return Action{Kind: ActRefund, ClientSN: m.target.ClientSN}
		}
	}
	if !isAmountKey(k) && k != keypad.Enter && k != keypad.Backspace && k != keypad.Clear {
		return Action{}
	}
	cents, done, err := m.refund.Press(k)
	s := m.refundScreen()
	var ae *keypad.AmountError
	switch {
	case errors.As(err, &ae):
		s.Reason = amountReason(ae)
	case done:
		m.busy(ModeMenu)
		return Action{Kind: ActRefund, ClientSN: m.target.ClientSN, Cents: cents}
	}
	m.screen = s
	return Action{}
}

func (m *Machine) refundScreen() display.Screen {
	left := m.target.AmountCents - m.target.RefundedCents
	return display.Screen{Kind: display.Entering, Title: "refund", Typed: m.refund.Text(), OrderNo: m.target.ClientSN,
		AmountCents: left, Channel: m.target.Channel, Facts: []display.Fact{{Label: "amount", Value: keypad.FormatCents(left)}}}
}

// Done takes the result of an action the counter ran.
func (m *Machine) Done(r Result) {
	switch r.Kind {
	case ActSale:
		if r.Err == nil || (m.mode != ModeConnecting && m.mode != ModeIdle) {
			return
		}
		if errors.Is(r.Err, agent.ErrBusy) && r.Order.ClientSN != "" {
			// The engine still has a sale open (r.Order): put it back on
			// the screen, so Cancel reaches it instead of the counter
			// refusing every amount.
			m.current = r.Order.ClientSN
			m.deadline = r.Order.Deadline
			s := m.saleScreen(r.Order)
			if agent.State(r.Order.State) == agent.Awaiting && r.Order.QRCode != "" {
				s.Kind, s.QR = display.AwaitingPayment, r.Order.QRCode
				s.Remaining = max(r.Order.Deadline.Sub(m.now), 0)
				m.show(ModeAwaiting, s)
				return
			}
			s.Kind, s.Reason = display.Checking, "do_not_hand_over"
			m.show(ModeChecking, s)
			return
		}
		m.show(ModeOutcome, display.Screen{Kind: display.Error, Reason: saleReason(r.Err), AmountCents: r.Order.AmountCents})
		return
	case ActCancel, ActRecheck:
		if r.Err != nil {
			m.show(ModeOutcome, display.Screen{Kind: display.Error, Reason: saleReason(r.Err), OrderNo: m.current})
		}
		return
	}
	if m.mode != ModeBusy {
		return // the menu timed out or the screen moved on
	}
	switch r.Kind {
	case ActVerifyPIN:
		switch {
		case r.Locked > 0:
			m.show(ModePIN, display.Screen{Kind: display.PIN, Reason: "pin_locked", Remaining: r.Locked})
		case errors.Is(r.Err, ErrNoPIN):
			m.show(ModePIN, display.Screen{Kind: display.PIN, Reason: "pin_not_set"})
		case r.Err != nil || r.Role == "":
			m.show(ModePIN, display.Screen{Kind: display.PIN, Reason: "pin_wrong"})
		default:
			m.menu = supervisorMenu
			if r.Role == Technician {
				m.menu = technicianMenu
			}
			m.sel = 0
			m.showMenu()
		}
	case ActFindLast, ActFindOrder:
		if r.Err != nil {
			m.result(display.Screen{Kind: display.Info, Title: "refund", Facts: []display.Fact{{Label: "result", Value: errID(r.Err)}}})
			return
		}
		m.target = r.Order
		left := r.Order.AmountCents - r.Order.RefundedCents
		m.refund, _ = keypad.NewEntry(keypad.EntryOptions{Max: max(left, 1)})
		m.show(ModeRefundAmount, m.refundScreen())
	case ActRefund:
		s := display.Screen{Kind: display.Info, Title: "refund", OrderNo: r.Order.ClientSN, AmountCents: r.Order.AmountCents,
			RefundedCents: r.Order.RefundedCents}
		if r.Err != nil {
			s.Facts = []display.Fact{{Label: "result", Value: "failed"}, {Label: "reason", Value: errID(r.Err)}}
		} else {
			s.Facts = []display.Fact{{Label: "result", Value: "ok"}, {Label: "refunded", Value: keypad.FormatCents(r.Order.RefundedCents)}}
		}
		m.result(s)
	case ActReport:
		if r.Err != nil || r.Summary == nil {
			m.result(display.Screen{Kind: display.Info, Title: "report", Facts: []display.Fact{{Label: "result", Value: errID(r.Err)}}})
			return
		}
		m.result(display.Screen{Kind: display.Report, Report: r.Summary})
	default:
		title := map[ActionKind]string{ActReprint: ItemReprint, ActSelfTest: ItemSelfTest, ActNetwork: ItemNetwork,
			ActCheckin: ItemCheckin, ActActivate: "activation"}[r.Kind]
		facts := r.Facts
		if r.Err != nil {
			facts = append([]display.Fact{{Label: "result", Value: "failed"}, {Label: "reason", Value: errID(r.Err)}}, facts...)
		} else if len(facts) == 0 {
			facts = []display.Fact{{Label: "result", Value: "ok"}}
		}
		m.result(display.Screen{Kind: display.Info, Title: title, Facts: facts})
	}
}

func (m *Machine) result(s display.Screen) {
	m.show(ModeResult, s)
}

// errID is an error as a value on an Info screen: the error's text without
// the package prefixes (it is an order number or a gateway's code that
// support asks for, not a sentence).
func errID(err error) string {
	if err == nil {
		return "failed"
	}
	if errors.Is(err, ErrNotFound) {
		return "not_found"
	}
	if errors.Is(err, agent.ErrNotRefundable) {
		return "not_refundable"
	}
	s := err.Error()
	for {
		i := strings.Index(s, ": ")
		if i < 0 || strings.ContainsAny(s[:i], " ") {
			return s
		}
		s = s[i+2:]
	}
}

// saleReason is the message id for a sale the engine did not start.
func saleReason(err error) string {
	var ae *keypad.AmountError
	switch {
	case errors.As(err, &ae):
		return amountReason(ae)
	case errors.Is(err, agent.ErrBusy):
		return "busy"
	case errors.Is(err, agent.ErrAmount):
		return "amount.over_max"
	}
	return "unknown_error"
}

// Tick gives the Machine the time: the countdown on the QR screen, the
// PIN lockout, and leaving an unattended menu. It reports whether the
// screen changed.
func (m *Machine) Tick(now time.Time) bool {
	m.now = now
	if m.lastKey.IsZero() {
		m.lastKey = now
	}
	switch m.mode {
	case ModeAwaiting:
		if !m.deadline.IsZero() {
			m.screen.Remaining = max(m.deadline.Sub(now), 0)
			return true
		}
	case ModePIN, ModeMenu, ModeOrderNo, ModeRefundAmount, ModeCode, ModeResult:
		if now.Sub(m.lastKey) >= m.cfg.IdleAfter {
			m.idle()
			return true
		}
		if m.mode == ModePIN && m.screen.Remaining > 0 {
			m.screen.Remaining = max(m.screen.Remaining-time.Second, 0)
			return true
		}
	}
	return false
}
