package agent

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"posagent/gateway/yedpay"
	yedpaysandbox "posagent/gateway/yedpay/sandbox"
)

func init() { gateways["yedpay"] = newYedpay }

func newYedpay(t testing.TB, clock *FakeClock, tr http.RoundTripper) sandboxed {
	sb := yedpaysandbox.New(yedpaysandbox.Options{Now: clock.Now, OrderTTL: 240 * time.Second})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	sb.SetBaseURL(srv.URL)
	cfg := sb.ClientConfig(srv.URL)
	cfg.Transport = tr
	c, err := yedpay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sandboxed{c, sb.Pay, sb.Decline, sb.Ledger, sb.Faults()}
}
