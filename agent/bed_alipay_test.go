package agent

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"posagent/gateway/alipay"
	alipaysandbox "posagent/gateway/alipay/sandbox"
)

func init() { gateways["alipay"] = newAlipay }

func newAlipay(t testing.TB, clock *FakeClock, tr http.RoundTripper) sandboxed {
	sb := alipaysandbox.New(alipaysandbox.Options{Now: clock.Now})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	sb.SetBaseURL(srv.URL)
	cfg := sb.ClientConfig(srv.URL)
	cfg.Transport = tr
	c, err := alipay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sandboxed{c, sb.Pay, sb.Decline, sb.Ledger, sb.Faults()}
}
