package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/display"
	"posagent/storage"
)

// recorder is a Display that keeps every screen it was asked to show.
type recorder struct{ shown []display.Screen }

func (r *recorder) Show(s display.Screen) error { r.shown = append(r.shown, s); return nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) last() display.Screen        { return r.shown[len(r.shown)-1] }

func newTestTerminal(t *testing.T) (*Terminal, *recorder) {
	t.Helper()
	term, err := newTerminal(slog.New(slog.DiscardHandler), "Shop", 500000)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	term.disp = rec
	return term, rec
}

func TestKeypadUnplugAndBack(t *testing.T) {
	term, rec := newTestTerminal(t)
	ctx := context.Background()
	term.show(display.Screen{Kind: display.Idle})
	term.keyEvent(ctx, keypad.Event{Kind: keypad.EventDisconnected, Err: errors.New("port closed")})
	if s := rec.last(); s.Kind != display.Error || s.Reason != reasonUnplugged {
		t.Fatalf("after unplug: %+v", s)
	}
	term.keyEvent(ctx, keypad.Event{Kind: keypad.EventConnected})
	if s := rec.last(); s.Kind != display.Idle {
		t.Fatalf("after replug: %+v", s)
	}
	// While a customer is paying, the QR stays on the screen.
	term.engineEvent(agent.Event{Kind: agent.EventSubmitting, Order: storage.Order{ClientSN: "A1", AmountCents: 100}})
	term.engineEvent(agent.Event{Kind: agent.EventAwaitingPayment, Order: storage.Order{ClientSN: "A1", AmountCents: 100, QRCode: "https://x/qr/1"}})
	n := len(rec.shown)
	term.keyEvent(ctx, keypad.Event{Kind: keypad.EventDisconnected, Err: errors.New("port closed")})
	if len(rec.shown) != n || rec.last().Kind != display.AwaitingPayment {
		t.Fatalf("unplug replaced the QR: %+v", rec.last())
	}
}

func TestEngineEventsToScreens(t *testing.T) {
	term, rec := newTestTerminal(t)
	o := storage.Order{ClientSN: "A1", AmountCents: 1250, QRCode: "https://x/qr/1"}
	for _, tc := range []struct {
		ev   agent.Event
		want display.Kind
	}{
		{agent.Event{Kind: agent.EventSubmitting, Order: o}, display.Connecting},
		{agent.Event{Kind: agent.EventAwaitingPayment, Order: o}, display.AwaitingPayment},
		{agent.Event{Kind: agent.EventPaid, Order: o}, display.Paid},
		{agent.Event{Kind: agent.EventSubmitting, Order: storage.Order{ClientSN: "A2"}}, display.Connecting},
		{agent.Event{Kind: agent.EventQueued, Order: storage.Order{ClientSN: "A2"}, Queued: 1}, display.Offline},
		{agent.Event{Kind: agent.EventCanceled, Order: storage.Order{ClientSN: "A2", State: string(agent.Expired)}}, display.Expired},
		{agent.Event{Kind: agent.EventSubmitting, Order: storage.Order{ClientSN: "A3"}}, display.Connecting},
		{agent.Event{Kind: agent.EventFailed, Order: storage.Order{ClientSN: "A3"}, Reason: "refused"}, display.Error},
	} {
		term.engineEvent(tc.ev)
		if got := rec.last().Kind; got != tc.want {
			t.Fatalf("%s: screen %s, want %s", tc.ev.Kind, got, tc.want)
		}
	}
	// An event about another order (reconciliation in the background)
	// does not take the screen from the sale the cashier is on.
	n := len(rec.shown)
	term.engineEvent(agent.Event{Kind: agent.EventPaid, Order: storage.Order{ClientSN: "OLD"}})
	if len(rec.shown) != n {
		t.Fatalf("a background order took the screen: %+v", rec.last())
	}
	if s := rec.shown[1]; s.QR != o.QRCode || s.AmountCents != 1250 || s.OrderNo != "A1" {
		t.Fatalf("QR screen: %+v", s)
	}
}

func TestAmountEntryOnScreen(t *testing.T) {
	term, rec := newTestTerminal(t)
	ctx := context.Background()
	for _, k := range []keypad.Key{keypad.Digit1, keypad.Dot, keypad.Digit2, keypad.Digit3, keypad.Digit4} {
		term.keyEvent(ctx, keypad.Event{Kind: keypad.EventKey, Key: k})
	}
	if s := rec.last(); s.Kind != display.Error || s.Reason == "" {
		t.Fatalf("three decimals: %+v", s)
	}
	term.keyEvent(ctx, keypad.Event{Kind: keypad.EventKey, Key: keypad.Clear})
	if s := rec.last(); s.Kind != display.Idle {
		t.Fatalf("after clear: %+v", s)
	}
	term.keyEvent(ctx, keypad.Event{Kind: keypad.EventKey, Key: keypad.Digit7})
	if s := rec.last(); s.Kind != display.Entering || s.Typed == "" {
		t.Fatalf("typing: %+v", s)
	}
}
