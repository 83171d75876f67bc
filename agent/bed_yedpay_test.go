package agent

import (
	"testing"
	"time"

	"posagent/gateway/yedpay"
	yedpaysandbox "posagent/gateway/yedpay/sandbox"
)

func init() { gateways["yedpay"] = newYedpay }

func newYedpay(t testing.TB, clock *FakeClock, w wire) sandboxed {
	sb := yedpaysandbox.New(yedpaysandbox.Options{Now: clock.Now, OrderTTL: 240 * time.Second})
	base, tr := w.connect(t, sb)
	sb.SetBaseURL(base)
	cfg := sb.ClientConfig(base)
	cfg.Transport = tr
	c, err := yedpay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sandboxed{c, sb.Pay, sb.Decline, sb.Ledger, sb.Faults(), sb.SetPersonalities}
}
