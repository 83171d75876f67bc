package agent

import (
	"errors"
	"testing"

	"posagent/gateway"
	"posagent/gateway/faults"
)

func TestRefund(t *testing.T) {
	b := newBed(t, "upay", Config{})
	o, _ := b.eng.Sale(ctx, 1000)
	if _, err := b.eng.Refund(ctx, o.ClientSN, 0); !errors.Is(err, ErrNotRefundable) {
		t.Fatalf("refund of an unpaid order: %v", err)
	}
	b.pay(o.SN)
	b.runUntilIdle(10 * 60e9)
	// The answer to the first refund is lost after the gateway applied it.
	b.faults.Script(faults.DropAfter)
	if _, err := b.eng.Refund(ctx, o.ClientSN, 300); gateway.ClassOf(err) != gateway.Unknown {
		t.Fatalf("want unknown, got %v", err)
	}
	// A different amount while that one is unconfirmed is refused.
	if _, err := b.eng.Refund(ctx, o.ClientSN, 200); err == nil {
		t.Fatal("a second refund went out while the first was unconfirmed")
	}
	// Retried: same request number, refunded once.
	got, err := b.eng.Refund(ctx, o.ClientSN, 300)
	if err != nil || State(got.State) != PartialRefunded || got.RefundedCents != 300 {
		t.Fatalf("retry: %s %d %v", got.State, got.RefundedCents, err)
	}
	if _, err := b.eng.Refund(ctx, o.ClientSN, 701); !errors.Is(err, ErrNotRefundable) {
		t.Fatalf("over-refund: %v", err)
	}
	got, err = b.eng.Refund(ctx, o.ClientSN, 0)
	if err != nil || State(got.State) != Refunded || got.RefundedCents != 1000 {
		t.Fatalf("rest: %s %d %v", got.State, got.RefundedCents, err)
	}
	l := b.ledger().Orders[0]
	if l.RefundedCents != 1000 || l.Status != gateway.StatusRefunded {
		t.Fatalf("ledger: %+v", l)
	}
	if err := b.checkInvariant(); err != nil {
		t.Fatal(err)
	}
}
