package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"posagent/agent/metrics"
	"posagent/gateway"
	yedpaysandbox "posagent/gateway/yedpay/sandbox"
)

// TestObservedGatewayCountsErrorsByClass: a query for an order the Yedpay
// sandbox never saw is refused (not found: rejected), and the metric
// posagent_gateway_errors_total{op="query",class="rejected"} counts it; the
// wrapper keeps the client's RefundIdempotent (false for Yedpay: its public
// library's refund has no idempotency key, yedpay/php-library
// src/Client.php), which the engine reads before resending a refund.
func TestObservedGatewayCountsErrorsByClass(t *testing.T) {
	sb := yedpaysandbox.New(yedpaysandbox.Options{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	cc := sb.ClientConfig(srv.URL)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte(cc.AccessToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw, err := fileGateway(GatewayConfig{Kind: "yedpay", URL: srv.URL, StoreID: cc.StoreID, AccessTokenFile: token, GatewayID: int(cc.GatewayID)})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Options{Version: "test"})
	obs := observe(gw, m, "yedpay")

	_, err = obs.Query(context.Background(), gateway.Ref{ClientSN: "NEVER-MADE-1"})
	if !errors.Is(err, gateway.ErrOrderNotFound) {
		t.Fatalf("query of an order never made: %v", err)
	}
	if ri, ok := obs.(interface{ RefundIdempotent() bool }); !ok || ri.RefundIdempotent() {
		t.Fatal("the wrapper hides Yedpay's RefundIdempotent() == false from the engine")
	}

	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64
	for _, mf := range mfs {
		if mf.GetName() != "posagent_gateway_errors_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range mt.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["gateway"] == "yedpay" && l["op"] == "query" && l["class"] == "rejected" {
				got = mt.GetCounter().GetValue()
			}
		}
	}
	if got != 1 {
		t.Fatalf(`posagent_gateway_errors_total{gateway="yedpay",op="query",class="rejected"} = %v, want 1`, got)
	}
}
