package sandbox

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/sandboxkit"
)

// TestStrictLookup: by default the path finds Yedpay's own id only and a
// GET body is never read (field-notes.md, Yedpay: "A GET body is dropped by
// many servers and proxies"), so every lookup by custom_id is a 404.
func TestStrictLookup(t *testing.T) {
	_, ts, _ := startOpts(t, nil)
	id := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("S1")).body["data"].(map[string]any)["id"].(string)
	if a := call(t, ts, "GET", "/v1/transactions/"+id, "Bearer T0K", nil); a.status != 200 {
		t.Fatalf("by id: %d", a.status)
	}
	if a := call(t, ts, "GET", "/v1/transactions/S1?query=custom_id", "Bearer T0K", nil); a.status != 404 {
		t.Fatalf("by custom_id in the URL: %d, want 404", a.status)
	}
	// The owner API page's reading: query as a body field of the GET.
	req, _ := http.NewRequest("GET", ts.URL+"/v1/transactions/S1", strings.NewReader("query=custom_id"))
	req.Header.Set("Authorization", "Bearer T0K")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("by custom_id in a GET body: %d, want 404 (body ignored)", resp.StatusCode)
	}
}

// TestStrictRefundsAreNotIdempotent: yedpay/php-library src/Client.php
// refund() sends refund_reason and amount, no idempotency key: by default
// each POST refunds.
func TestStrictRefundsAreNotIdempotent(t *testing.T) {
	s, ts, _ := startOpts(t, nil)
	id := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("R1")).body["data"].(map[string]any)["id"].(string)
	if err := s.Pay(id); err != nil {
		t.Fatal(err)
	}
	f := url.Values{"refund_reason": {"same"}, "amount": {"2.30"}}
	call(t, ts, "POST", "/v1/transactions/"+id+"/refund", "Bearer T0K", f)
	a := call(t, ts, "POST", "/v1/transactions/"+id+"/refund", "Bearer T0K", f)
	if a.status != 200 || a.body["data"].(map[string]any)["refunded"] != "4.60" {
		t.Fatalf("second refund with the same reason: %d %v", a.status, a.body)
	}
}

func TestIdempotentCustomID(t *testing.T) {
	_, ts, _ := startOpts(t, func(o *Options) { o.IdempotentCustomID = true })
	a := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("I1"))
	b := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("I1"))
	if b.status != 200 || b.body["data"].(map[string]any)["id"] != a.body["data"].(map[string]any)["id"] {
		t.Fatalf("repeat: %d %v", b.status, b.body)
	}
	f := okForm("I1")
	f.Set("amount", "1.00")
	if c := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", f); c.status != 422 {
		t.Fatalf("repeat with another amount: %d", c.status)
	}
}

func TestPersonalities(t *testing.T) {
	t.Run("no cancel, late payment", func(t *testing.T) {
		s, ts, clk := startOpts(t, nil)
		id := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("N1")).body["data"].(map[string]any)["id"].(string)
		s.SetPersonalities(sandboxkit.NoCancel, sandboxkit.LatePayAfterCancel)
		clk.Add(20 * time.Second)
		if a := call(t, ts, "PUT", "/v1/transactions/"+id+"/close", "Bearer T0K", url.Values{}); a.status != 404 || a.body["message"] != "Not Found" {
			t.Fatalf("close: %d %v", a.status, a.body)
		}
		// TTL 1 min: the close came at 20 s, the payer pays at 40 s.
		clk.Add(19 * time.Second)
		if a := call(t, ts, "GET", "/v1/transactions/"+id, "Bearer T0K", nil); a.body["data"].(map[string]any)["status"] != "pending" {
			t.Fatalf("paid too early: %v", a.body)
		}
		clk.Add(time.Second)
		if a := call(t, ts, "GET", "/v1/transactions/"+id, "Bearer T0K", nil); a.body["data"].(map[string]any)["status"] != "paid" {
			t.Fatalf("late payment missing: %v", a.body)
		}
		if e := s.Ledger().Orders[0]; e.Charges != 1 || e.Status != gateway.StatusPaid {
			t.Fatalf("ledger %+v", e)
		}
	})
	t.Run("cancel refused", func(t *testing.T) {
		s, ts, _ := startOpts(t, nil)
		id := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("C1")).body["data"].(map[string]any)["id"].(string)
		s.SetPersonalities(sandboxkit.CancelRefused)
		if a := call(t, ts, "PUT", "/v1/transactions/"+id+"/close", "Bearer T0K", url.Values{}); a.status != 400 {
			t.Fatalf("close: %d %v", a.status, a.body)
		}
		if e := s.Ledger().Orders[0]; e.Status != gateway.StatusCreated {
			t.Fatalf("ledger %+v", e)
		}
	})
	t.Run("confirmed then not found", func(t *testing.T) {
		s, ts, _ := startOpts(t, func(o *Options) { o.LookupByCustomID, o.IdempotentCustomID = true, true })
		id := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("F1")).body["data"].(map[string]any)["id"].(string)
		s.SetPersonalities(sandboxkit.ConflictThenNotFound)
		if a := call(t, ts, "GET", "/v1/transactions/F1?query=custom_id", "Bearer T0K", nil); a.status != 404 {
			t.Fatalf("by custom_id: %d", a.status)
		}
		if a := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("F1")); a.status != 422 {
			t.Fatalf("repeat: %d", a.status)
		}
		if a := call(t, ts, "GET", "/v1/transactions/"+id, "Bearer T0K", nil); a.status != 200 {
			t.Fatalf("by id: %d", a.status)
		}
	})
	t.Run("500 after commit, over the control endpoint", func(t *testing.T) {
		s, ts, _ := startOpts(t, nil)
		resp, err := http.Post(ts.URL+"/sandbox/faults", "application/json", strings.NewReader(`{"personalities":["error_500_after_commit"]}`))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("control: %v %v", resp, err)
		}
		resp.Body.Close()
		call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("E1"))
		a := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("E2"))
		// seed 004, line 89: {"success": false, "message": "Internal Error", "status": 500}
		if a.status != 500 || a.body["message"] != "Internal Error" {
			t.Fatalf("second call: %d %v", a.status, a.body)
		}
		if n := len(s.Ledger().Orders); n != 2 {
			t.Fatalf("the call behind the 500 was not applied: %d orders", n)
		}
		resp, _ = http.Post(ts.URL+"/sandbox/faults", "application/json", strings.NewReader(`{"personalities":["nope"]}`))
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("unknown personality: %d", resp.StatusCode)
		}
	})
}
