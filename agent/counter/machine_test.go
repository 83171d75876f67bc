package counter

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/display"
	"posagent/storage"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func newMachine(t *testing.T) *Machine {
	t.Helper()
	m, err := New(Config{Merchant: "Shop", MaxCents: 500000})
	if err != nil {
		t.Fatal(err)
	}
	m.Tick(t0)
	return m
}

func press(t *testing.T, m *Machine, keys ...keypad.Key) {
	t.Helper()
	for _, k := range keys {
		m.Key(k)
	}
}

// order is a sale as the engine reports it.
func order(sn string, cents int64, state agent.State, notes ...string) storage.Order {
	o := storage.Order{ClientSN: sn, AmountCents: cents, State: string(state), QRCode: "https://qr.example/" + sn,
		Deadline: t0.Add(4 * time.Minute), Channel: "支付宝", UpdatedAt: t0}
	for _, n := range notes {
		to, note, _ := strings.Cut(n, ":")
		o.History = append(o.History, storage.Transition{At: t0, To: to, Note: note})
	}
	return o
}

// setups drive a fresh Machine to each mode through its public inputs
// only: keys, engine events and action results.
var setups = map[string]func(t *testing.T, m *Machine){
	"idle": func(t *testing.T, m *Machine) {},
	"offline-queued": func(t *testing.T, m *Machine) {
		press(t, m, keypad.Digit5, keypad.Enter)
		m.Event(agent.Event{Kind: agent.EventSubmitting, Order: order("A1", 500, agent.Submitting)}, PrintConfig{})
		m.Event(agent.Event{Kind: agent.EventQueued, Order: order("A1", 500, agent.Queued), Queued: 1}, PrintConfig{})
	},
	"entering": func(t *testing.T, m *Machine) { press(t, m, keypad.Digit1) },
	"amount-error-key": func(t *testing.T, m *Machine) {
		press(t, m, keypad.Digit1, keypad.Dot, keypad.Digit2, keypad.Digit3, keypad.Digit4)
	},
	"amount-error-enter": func(t *testing.T, m *Machine) { press(t, m, keypad.Digit0, keypad.Enter) },
	"connecting":         func(t *testing.T, m *Machine) { press(t, m, keypad.Digit5, keypad.Enter) },
	"awaiting":           toAwaiting,
	"checking": func(t *testing.T, m *Machine) {
		press(t, m, keypad.Digit5, keypad.Enter)
		m.Event(agent.Event{Kind: agent.EventSubmitting, Order: order("A1", 500, agent.Submitting)}, PrintConfig{})
		m.Event(agent.Event{Kind: agent.EventChecking, Order: order("A1", 500, agent.Unknown)}, PrintConfig{})
	},
	"paid": func(t *testing.T, m *Machine) {
		toAwaiting(t, m)
		m.Event(agent.Event{Kind: agent.EventPaid, Order: order("A1", 500, agent.Paid)}, PrintConfig{})
	},
	"late-paid": func(t *testing.T, m *Machine) {
		toAwaiting(t, m)
		m.Event(agent.Event{Kind: agent.EventPaid, Order: order("A1", 500, agent.Paid, "canceling:cancelled by the cashier")}, PrintConfig{})
	},
	"pin":  func(t *testing.T, m *Machine) { press(t, m, keypad.Menu, keypad.Digit1, keypad.Digit2) },
	"menu": toMenu,
	"order-no": func(t *testing.T, m *Machine) {
		toMenu(t, m)
		press(t, m, keypad.Digit2)
	},
	"refund-amount": func(t *testing.T, m *Machine) {
		toMenu(t, m)
		press(t, m, keypad.Digit1)
		m.Done(Result{Kind: ActFindLast, Order: order("A1", 500, agent.Paid)})
	},
	"code": func(t *testing.T, m *Machine) {
		press(t, m, keypad.Menu, keypad.Digit1, keypad.Digit2, keypad.Digit3, keypad.Digit4, keypad.Enter)
		m.Done(Result{Kind: ActVerifyPIN, Role: Technician})
		press(t, m, keypad.Digit1, keypad.Digit1) // open item 1 (activate), type 1
	},
	"busy": toBusy,
	"result": func(t *testing.T, m *Machine) {
		toBusy(t, m)
		m.Done(Result{Kind: ActReprint, Facts: []display.Fact{{Label: "order", Value: "A1"}}})
	},
}

func toAwaiting(t *testing.T, m *Machine) {
	press(t, m, keypad.Digit5, keypad.Enter)
	m.Event(agent.Event{Kind: agent.EventSubmitting, Order: order("A1", 500, agent.Submitting)}, PrintConfig{})
	m.Event(agent.Event{Kind: agent.EventAwaitingPayment, Order: order("A1", 500, agent.Awaiting)}, PrintConfig{})
}

func toMenu(t *testing.T, m *Machine) {
	press(t, m, keypad.Menu, keypad.Digit1, keypad.Digit2, keypad.Digit3, keypad.Digit4, keypad.Enter)
	m.Done(Result{Kind: ActVerifyPIN, Role: Supervisor})
}

func toBusy(t *testing.T, m *Machine) {
	toMenu(t, m)
	press(t, m, keypad.Digit3) // reprint
}

// cell is what one key does on one screen: the action started and the
// screen after it. "-" is nothing at all: same screen, no action.
type cell struct {
	act    ActionKind
	screen display.Kind
	mode   Mode
}

var nothing = cell{act: -1}

// keyClasses: every key of keypad.Key, grouped where the keys of a group
// must behave alike.
var keyClasses = map[string][]keypad.Key{
	"1-9":       {keypad.Digit1, keypad.Digit2, keypad.Digit5, keypad.Digit9},
	"0":         {keypad.Digit0},
	"00":        {keypad.DoubleZero},
	"dot":       {keypad.Dot},
	"enter":     {keypad.Enter},
	"cancel":    {keypad.Cancel},
	"clear":     {keypad.Clear},
	"backspace": {keypad.Backspace},
	"refund":    {keypad.Refund},
	"menu":      {keypad.Menu},
	"quit":      {keypad.Quit},
}

// table says, for every screen and every key, what happens. It is the
// behaviour asked for by issue 15 ("What to build"): an error clears on
// the next key, Cancel always leaves, checking offers check-again and
// cancel, a late payment offers keep or refund, the menu sits behind a
// PIN. Keys not listed for a screen do nothing there (checked too).
var table = map[string]map[string]cell{
	"idle": {
		"1-9": {ActNone, display.Entering, ModeEntering}, "0": {ActNone, display.Entering, ModeEntering},
		"00": {ActNone, display.Entering, ModeEntering}, "dot": {ActNone, display.Entering, ModeEntering},
		"refund": {ActNone, display.PIN, ModePIN}, "menu": {ActNone, display.PIN, ModePIN},
	},
	"offline-queued": {
		"1-9": {ActNone, display.Entering, ModeEntering}, "0": {ActNone, display.Entering, ModeEntering},
		"00": {ActNone, display.Entering, ModeEntering}, "dot": {ActNone, display.Entering, ModeEntering},
		"cancel": {ActCancel, display.Offline, ModeIdle},
		"refund": {ActNone, display.PIN, ModePIN}, "menu": {ActNone, display.PIN, ModePIN},
	},
	"entering": {
		"1-9": {ActNone, display.Entering, ModeEntering}, "0": {ActNone, display.Entering, ModeEntering},
		"00": {ActNone, display.Entering, ModeEntering}, "dot": {ActNone, display.Entering, ModeEntering},
		"enter":  {ActSale, display.Connecting, ModeConnecting},
		"cancel": {ActNone, display.Idle, ModeIdle}, "clear": {ActNone, display.Idle, ModeIdle},
		"backspace": {ActNone, display.Idle, ModeIdle},
	},
	// "1.23" then 4: the third decimal is refused; 1.23 stays typed.
	"amount-error-key": {
		"1-9": {ActNone, display.Error, ModeAmountError}, "0": {ActNone, display.Error, ModeAmountError},
		"00": {ActNone, display.Error, ModeAmountError}, "dot": {ActNone, display.Error, ModeAmountError},
		"enter":  {ActSale, display.Connecting, ModeConnecting},
		"cancel": {ActNone, display.Idle, ModeIdle}, "clear": {ActNone, display.Idle, ModeIdle},
		"backspace": {ActNone, display.Entering, ModeEntering},
	},
	// "0" Enter: refused; the next digit starts a new amount.
	"amount-error-enter": {
		"1-9": {ActNone, display.Entering, ModeEntering}, "0": {ActNone, display.Entering, ModeEntering},
		"00": {ActNone, display.Entering, ModeEntering}, "dot": {ActNone, display.Entering, ModeEntering},
		"enter":  {ActNone, display.Error, ModeAmountError},
		"cancel": {ActNone, display.Idle, ModeIdle}, "clear": {ActNone, display.Idle, ModeIdle},
		"backspace": {ActNone, display.Idle, ModeIdle},
	},
	"connecting": {"cancel": {ActCancel, display.Connecting, ModeConnecting}, "clear": {ActCancel, display.Connecting, ModeConnecting}},
	"awaiting": {"cancel": {ActCancel, display.AwaitingPayment, ModeAwaiting},
		"clear": {ActCancel, display.AwaitingPayment, ModeAwaiting}},
	"checking": {"enter": {ActRecheck, display.Checking, ModeChecking},
		"cancel": {ActCancel, display.Checking, ModeChecking}, "clear": {ActCancel, display.Checking, ModeChecking}},
	"paid": {
		"1-9": {ActNone, display.Entering, ModeEntering}, "0": {ActNone, display.Entering, ModeEntering},
		"00": {ActNone, display.Entering, ModeEntering}, "dot": {ActNone, display.Entering, ModeEntering},
		"enter": {ActNone, display.Idle, ModeIdle}, "cancel": {ActNone, display.Idle, ModeIdle},
		"clear":  {ActNone, display.Idle, ModeIdle},
		"refund": {ActNone, display.PIN, ModePIN}, "menu": {ActNone, display.PIN, ModePIN},
	},
	"late-paid": {"enter": {ActNone, display.Idle, ModeIdle}, "refund": {ActRefund, display.Info, ModeBusy}},
	// "12" typed: too short for Enter.
	"pin": {
		"1-9": {ActNone, display.PIN, ModePIN}, "0": {ActNone, display.PIN, ModePIN}, "00": {ActNone, display.PIN, ModePIN},
		"backspace": {ActNone, display.PIN, ModePIN},
		"cancel":    {ActNone, display.Idle, ModeIdle}, "clear": {ActNone, display.Idle, ModeIdle},
	},
	// Supervisor menu: digit n opens item n, Enter opens the highlighted
	// one, Menu moves down.
	"menu": {
		"1-9":    {-2, 0, 0}, // checked item by item in TestMenuDigits
		"enter":  {ActFindLast, display.Info, ModeBusy},
		"menu":   {ActNone, display.Menu, ModeMenu},
		"cancel": {ActNone, display.Idle, ModeIdle}, "clear": {ActNone, display.Idle, ModeIdle},
	},
	"order-no": {
		"1-9": {ActNone, display.Info, ModeOrderNo}, "0": {ActNone, display.Info, ModeOrderNo},
		"00": {ActNone, display.Info, ModeOrderNo}, "backspace": {ActNone, display.Info, ModeOrderNo},
		"cancel": {ActNone, display.Menu, ModeMenu}, "clear": {ActNone, display.Menu, ModeMenu},
	},
	"refund-amount": {
		"1-9": {ActNone, display.Entering, ModeRefundAmount}, "0": {ActNone, display.Entering, ModeRefundAmount},
		"00": {ActNone, display.Entering, ModeRefundAmount}, "dot": {ActNone, display.Entering, ModeRefundAmount},
		"enter":  {ActRefund, display.Info, ModeBusy},
		"cancel": {ActNone, display.Menu, ModeMenu},
	},
	// "1" typed.
	"code": {
		"1-9": {ActNone, display.Info, ModeCode}, "0": {ActNone, display.Info, ModeCode}, "00": {ActNone, display.Info, ModeCode},
		"enter":     {ActActivate, display.Info, ModeBusy},
		"backspace": {ActNone, display.Info, ModeCode},
		"cancel":    {ActNone, display.Menu, ModeMenu}, "clear": {ActNone, display.Menu, ModeMenu},
	},
	"busy": {},
	"result": {"enter": {ActNone, display.Menu, ModeMenu}, "cancel": {ActNone, display.Menu, ModeMenu},
		"clear": {ActNone, display.Menu, ModeMenu}},
}

// TestEveryScreenEveryKey walks the table: every screen, every key.
func TestEveryScreenEveryKey(t *testing.T) {
	for name, setup := range setups {
		row, ok := table[name]
		if !ok {
			t.Fatalf("screen %s has no row in the table", name)
		}
		for class, keys := range keyClasses {
			want, listed := row[class]
			if !listed {
				want = nothing
			}
			if class == "quit" {
				want = cell{act: ActQuit, screen: -1}
			}
			if want.act == -2 {
				continue
			}
			for _, k := range keys {
				t.Run(fmt.Sprintf("%s/%s", name, k), func(t *testing.T) {
					m := newMachine(t)
					setup(t, m)
					before, mode := m.Screen(), m.Mode()
					a := m.Key(k)
					after := m.Screen()
					switch {
					case want == nothing:
						if a.Kind != ActNone || m.Mode() != mode || !reflect.DeepEqual(before, after) {
							t.Fatalf("key %s on %s did something: action %s, mode %s → %s\nbefore %+v\nafter  %+v",
								k, name, a.Kind, mode, m.Mode(), before, after)
						}
					case want.screen == -1:
						if a.Kind != want.act {
							t.Fatalf("action %s, want %s", a.Kind, want.act)
						}
					default:
						if a.Kind != want.act || after.Kind != want.screen || m.Mode() != want.mode {
							t.Fatalf("key %s on %s: action %s, screen %s, mode %s; want %s, %s, %s",
								k, name, a.Kind, after.Kind, m.Mode(), want.act, want.screen, want.mode)
						}
					}
				})
			}
		}
	}
	for name := range table {
		if setups[name] == nil {
			t.Errorf("table row %s has no setup", name)
		}
	}
}

// TestKeyHintsMatchTable: each screen's key hints name exactly the
// command keys (Enter, Cancel, Menu, Refund) that do something on it.
func TestKeyHintsMatchTable(t *testing.T) {
	hintKey := map[string]string{"key.enter": "enter", "key.check": "enter", "key.keep": "enter", "key.ok": "enter",
		"key.cancel": "cancel", "key.back": "cancel", "key.menu": "menu", "key.down": "menu", "key.refund": "refund"}
	for name, setup := range setups {
		m := newMachine(t)
		setup(t, m)
		hinted := map[string]bool{}
		for _, h := range m.Screen().Keys {
			k, ok := hintKey[h]
			if !ok {
				t.Fatalf("%s: unknown hint %q", name, h)
			}
			hinted[k] = true
		}
		for _, k := range []string{"enter", "cancel", "menu"} {
			_, does := table[name][k]
			if name == "pin" && k == "enter" || name == "order-no" && k == "enter" {
				does = true // Enter submits once enough digits are typed
			}
			if does != hinted[k] {
				t.Errorf("%s: key %s does something: %v; hinted: %v (hints %q)", name, k, does, hinted[k], m.Screen().Keys)
			}
		}
		// Refund either has a hint of its own or opens the menu like Menu.
		if _, does := table[name]["refund"]; does && !hinted["refund"] && !hinted["menu"] {
			t.Errorf("%s: refund key does something but has no hint", name)
		}
	}
}

func TestMenuDigits(t *testing.T) {
	want := []struct {
		act  ActionKind
		mode Mode
	}{{ActFindLast, ModeBusy}, {ActNone, ModeOrderNo}, {ActReprint, ModeBusy}, {ActReport, ModeBusy},
		{ActReport, ModeBusy}, {ActSelfTest, ModeBusy}, {ActNetwork, ModeBusy}, {ActCheckin, ModeBusy}}
	for i, w := range want {
		m := newMachine(t)
		toMenu(t, m)
		if got := m.Screen().Menu[i]; got != supervisorMenu[i] {
			t.Fatalf("item %d is %s", i+1, got)
		}
		a := m.Key(keypad.Digit1 + keypad.Key(i))
		if a.Kind != w.act || m.Mode() != w.mode {
			t.Errorf("digit %d (%s): %s, %s; want %s, %s", i+1, supervisorMenu[i], a.Kind, m.Mode(), w.act, w.mode)
		}
	}
	m := newMachine(t)
	toMenu(t, m)
	if a := m.Key(keypad.Digit9); a.Kind != ActNone || m.Mode() != ModeMenu {
		t.Fatalf("digit 9 with 8 items: %s %s", a.Kind, m.Mode())
	}
	// Menu moves the highlight; Enter opens it.
	press(t, m, keypad.Menu, keypad.Menu)
	if s := m.Screen(); s.Selected != 2 {
		t.Fatalf("selected %d after two Menu presses", s.Selected)
	}
	if a := m.Key(keypad.Enter); a.Kind != ActReprint {
		t.Fatalf("Enter on the third item: %s", a.Kind)
	}
}

// FuzzNeverStuck: whatever keys come (and whatever the actions answer),
// Cancel gets the cashier out: at most three presses reach the idle
// screen, or cancel the sale on the screen. Issue 15: "The keypad never
// gets stuck".
func FuzzNeverStuck(f *testing.F) {
	f.Add([]byte{1, 12, 2, 3, 4, 13, 13, 5}, []byte{0})
	f.Add([]byte{18, 1, 2, 3, 4, 13, 1, 13}, []byte{1, 2})
	f.Add([]byte{11, 11, 11, 12, 12, 13, 17}, []byte{3})
	f.Fuzz(func(t *testing.T, keys, answers []byte) {
		m := newMachine(t)
		answer := func(a Action, i int) {
			if a.Kind == ActNone || a.Kind == ActQuit {
				return
			}
			var n byte
			if len(answers) > 0 {
				n = answers[i%len(answers)]
			}
			r := Result{Kind: a.Kind}
			switch n % 4 {
			case 0:
				r.Err = ErrNotFound
			case 1:
				r.Role = Supervisor
				r.Order = order("A1", 500, agent.Paid)
			case 2:
				r.Role = Technician
				r.Order = order("A1", 500, agent.PartialRefunded)
			case 3:
				r.Locked = time.Minute
			}
			m.Done(r)
		}
		for i, b := range keys {
			k := keypad.Key(b%uint8(keypad.Quit-1)) + 1 // Digit0..Menu: every key but KeyNone and Quit
			answer(m.Key(k), i)
			if len(m.Screen().Keys) == 0 && m.Mode() != ModeBusy {
				t.Fatalf("mode %s shows no key hints", m.Mode())
			}
		}
		for i := 0; i < 3 && m.Mode() != ModeIdle; i++ {
			a := m.Key(keypad.Cancel)
			if a.Kind == ActCancel {
				return // the sale on the screen is being cancelled
			}
			answer(a, i)
		}
		if m.Mode() != ModeIdle {
			t.Fatalf("three Cancels left the counter in %s (%+v)", m.Mode(), m.Screen())
		}
	})
}
