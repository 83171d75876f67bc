package storage

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestRefundNotConfirmedIsNotFinal: a paid order with a refund request that
// has no outcome yet is not final in `orders show` or the exports, until
// the refund is closed (issue 13: "An order with an unconfirmed refund is
// not final"; `orders show` used to say final: true with the lower
// refunded total). The history notes are the engine's (agent/refund.go).
func TestRefundNotConfirmedIsNotFinal(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	o := Order{ClientSN: "T1-1", AmountCents: 1250, State: "paid", Final: true, CreatedAt: at,
		History: []Transition{{At: at, From: "awaiting_payment", To: "paid", Note: "query: PAID"},
			{At: at, From: "paid", To: "paid", Note: "refund requested T1-1R1 500"}}}

	var show bytes.Buffer
	if err := WriteOrderDetail(&show, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(show.String(), "final: false") || !strings.Contains(show.String(), "T1-1R1 not confirmed") {
		t.Errorf("orders show of an order with an open refund:\n%s", show.String())
	}
	if exportRow(o).Final || Settled(o) || Archivable(o) {
		t.Error("an order with an open refund counts as final")
	}

	o.History = append(o.History, Transition{At: at, From: "paid", To: "partial_refunded", Note: "refund closed T1-1R1 REFUND_SUCCESS"})
	show.Reset()
	if err := WriteOrderDetail(&show, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(show.String(), "final: true") || !exportRow(o).Final || !Settled(o) {
		t.Errorf("a closed refund leaves the order not final:\n%s", show.String())
	}
}
