package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"posagent/gateway"
)

// These tests speak to the sandbox with hand-made requests, not through the
// yedpay client, so that the sandbox's checks are tested on their own.

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start runs the sandbox with the friendlier readings of what Yedpay's
// documents leave open; strict_test.go runs the defaults.
func start(t *testing.T) (*Server, *httptest.Server, *fakeClock) {
	return startOpts(t, func(o *Options) { o.LookupByCustomID, o.RefundReasonIdempotent = true, true })
}

func startOpts(t *testing.T, edit func(*Options)) (*Server, *httptest.Server, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	opts := Options{AccessToken: "T0K", StoreID: "st1", Now: clk.Now, OrderTTL: time.Minute}
	if edit != nil {
		edit(&opts)
	}
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.SetBaseURL(ts.URL)
	return s, ts, clk
}

type answer struct {
	status int
	body   map[string]any
}

func call(t *testing.T, ts *httptest.Server, method, path, auth string, form url.Values) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, ts.URL+path, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return a
}

func okForm(custom string) url.Values {
	return url.Values{"gateway_id": {"1"}, "amount": {"12.30"}, "currency": {"HKD"}, "custom_id": {custom}}
}

func TestToken(t *testing.T) {
	_, ts, _ := start(t)
	for _, auth := range []string{"", "T0K", "Bearer", "Bearer  T0K", "bearer T0K", "Bearer T0k", "Basic T0K"} {
		a := call(t, ts, "POST", "/v1/precreate/st1", auth, okForm("a"))
		if a.status != 401 || a.body["message"] != "Unauthenticated." || a.body["success"] != false {
			t.Errorf("auth %q: %d %v", auth, a.status, a.body)
		}
	}
	if a := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("a")); a.status != 200 || a.body["success"] != true {
		t.Fatalf("good token: %d %v", a.status, a.body)
	}
}

func TestPrecreateChecks(t *testing.T) {
	s, ts, _ := start(t)
	for _, tc := range []struct {
		field, value string
	}{
		{"gateway_id", "2"}, {"gateway_id", ""}, {"amount", "0"}, {"amount", "1.234"}, {"amount", "-1"},
		{"amount", "1e3"}, {"currency", "USD"}, {"custom_id", "has space"},
		{"custom_id", strings.Repeat("a", 37)}, {"extra_parameters", "{not json"},
		{"extra_parameters", `{"a":"` + strings.Repeat("x", 200) + `"}`}, {"wallet", "US"},
		{"notify_url", "https://x/" + strings.Repeat("a", 250)},
	} {
		f := okForm("v")
		f.Set(tc.field, tc.value)
		a := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", f)
		errs, _ := a.body["errors"].(map[string]any)
		if a.status != 422 || errs[tc.field] == nil {
			t.Errorf("%s=%q: %d %v", tc.field, tc.value, a.status, a.body)
		}
	}
	if a := call(t, ts, "POST", "/v1/precreate/other", "Bearer T0K", okForm("v")); a.status != 404 {
		t.Errorf("other store: %d", a.status)
	}
	f := okForm("v")
	f.Set("gateway_id", "4")
	if a := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", f); a.status != 422 {
		t.Errorf("alipay online without urls: %d", a.status)
	}
	if n := len(s.Ledger().Orders); n != 0 {
		t.Fatalf("refused precreates made %d orders", n)
	}
	// Reusing a custom_id is refused, and counted.
	call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("dup"))
	a := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("dup"))
	if a.status != 422 || !strings.Contains(a.body["message"].(string), "custom id has already been taken") {
		t.Fatalf("reuse: %d %v", a.status, a.body)
	}
	if l := s.Ledger(); len(l.Orders) != 1 || l.Orders[0].Creates != 2 {
		t.Fatalf("ledger %+v", l)
	}
}

func TestTransactionLifecycle(t *testing.T) {
	s, ts, clk := start(t)
	a := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("L1"))
	d := a.body["data"].(map[string]any)
	id := d["id"].(string)
	if d["status"] != "pending" || d["amount"] != "12.30" || d["currency"] != "HKD" || d["custom_id"] != "L1" ||
		d["created_at"] != "2026-01-02 11:04:05" {
		t.Fatalf("precreate data %v", d)
	}
	links := d["_links"].([]any)
	if links[0].(map[string]any)["href"] != ts.URL+"/qr/"+id {
		t.Fatalf("links %v", links)
	}
	// Show by id, by custom_id; an unknown query field is refused.
	if a := call(t, ts, "GET", "/v1/transactions/"+id, "Bearer T0K", nil); a.status != 200 {
		t.Fatalf("show by id: %d", a.status)
	}
	if a := call(t, ts, "GET", "/v1/transactions/L1?query=custom_id", "Bearer T0K", nil); a.status != 200 {
		t.Fatalf("show by custom_id: %d", a.status)
	}
	if a := call(t, ts, "GET", "/v1/transactions/L1", "Bearer T0K", nil); a.status != 404 {
		t.Fatalf("custom_id without query=custom_id: %d", a.status)
	}
	if a := call(t, ts, "GET", "/v1/transactions/L1?query=email", "Bearer T0K", nil); a.status != 422 {
		t.Fatalf("query=email: %d", a.status)
	}
	// A refund before payment is refused.
	if a := call(t, ts, "POST", "/v1/transactions/"+id+"/refund", "Bearer T0K", url.Values{"refund_reason": {"r"}}); a.status != 400 {
		t.Fatalf("refund unpaid: %d", a.status)
	}
	clk.Add(10 * time.Second)
	if err := s.Pay("L1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Pay(id); err == nil {
		t.Fatal("paid twice")
	}
	// Closing a paid transaction fails; it stays paid.
	if a := call(t, ts, "PUT", "/v1/transactions/"+id+"/close", "Bearer T0K", url.Values{"remark": {"late"}}); a.status != 400 {
		t.Fatalf("close paid: %d", a.status)
	}
	a = call(t, ts, "GET", "/v1/transactions/"+id, "Bearer T0K", nil)
	d = a.body["data"].(map[string]any)
	if d["status"] != "paid" || d["paid_at"] != "2026-01-02 11:04:15" || d["transaction_id"] == "" {
		t.Fatalf("after close attempt: %v", d)
	}
	if a := call(t, ts, "GET", "/v1/transactions/"+d["transaction_id"].(string)+"?query=transaction_id", "Bearer T0K", nil); a.status != 200 {
		t.Fatalf("show by transaction_id: %d", a.status)
	}
	// Refunds: partial, repeat with the same reason, another amount with it,
	// too much, the rest without an amount.
	refund := func(reason, amount string) answer {
		f := url.Values{"refund_reason": {reason}}
		if amount != "" {
			f.Set("amount", amount)
		}
		return call(t, ts, "POST", "/v1/transactions/"+id+"/refund", "Bearer T0K", f)
	}
	if a := refund("r1", "2.30"); a.status != 200 || a.body["data"].(map[string]any)["refunded"] != "2.30" {
		t.Fatalf("partial: %d %v", a.status, a.body)
	}
	if a := refund("r1", "2.30"); a.status != 200 || a.body["data"].(map[string]any)["refunded"] != "2.30" {
		t.Fatalf("repeat: %d %v", a.status, a.body)
	}
	if a := refund("r1", "1.00"); a.status != 422 {
		t.Fatalf("reason reused for another amount: %d", a.status)
	}
	if a := refund("r2", "10.01"); a.status != 422 {
		t.Fatalf("too much: %d", a.status)
	}
	a = refund("r3", "")
	d = a.body["data"].(map[string]any)
	if a.status != 200 || d["refunded"] != "12.30" || d["status"] != "refunded" || len(d["refund_details"].([]any)) != 2 {
		t.Fatalf("rest: %d %v", a.status, d)
	}
	e := s.Ledger().Orders[0]
	if e.Status != gateway.StatusRefunded || e.RefundedCents != 1230 || e.Charges != 1 {
		t.Fatalf("ledger %+v", e)
	}
}

func TestCloseAndExpiry(t *testing.T) {
	s, ts, clk := start(t)
	d := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("C1")).body["data"].(map[string]any)
	if a := call(t, ts, "PUT", "/v1/transactions/"+d["id"].(string)+"/close", "Bearer T0K", url.Values{}); a.status != 200 ||
		a.body["message"] != "Successfully close the transaction" {
		t.Fatalf("close: %d %v", a.status, a.body)
	}
	if err := s.Pay("C1"); err == nil {
		t.Fatal("paid a closed order")
	}
	call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm("E1"))
	clk.Add(time.Minute)
	if err := s.Pay("E1"); err == nil {
		t.Fatal("paid an expired order")
	}
	for _, e := range s.Ledger().Orders {
		if e.Status != gateway.StatusCanceled || e.Charges != 0 {
			t.Fatalf("ledger %+v", e)
		}
	}
}

// TestPayRacesClose: whatever the interleaving, an order is charged at most
// once and ends paid exactly when it was charged.
func TestPayRacesClose(t *testing.T) {
	s, ts, _ := start(t)
	const n = 30
	ids := make([]string, n)
	for i := range n {
		d := call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", okForm(fmt.Sprintf("R%d", i))).body["data"].(map[string]any)
		ids[i] = d["id"].(string)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(3)
		go func() { defer wg.Done(); s.Pay(id) }()
		go func() { defer wg.Done(); s.Pay(id) }()
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PUT", ts.URL+"/v1/transactions/"+id+"/close", nil)
			req.Header.Set("Authorization", "Bearer T0K")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	for _, e := range s.Ledger().Orders {
		if !(e.Status == gateway.StatusPaid && e.Charges == 1) && !(e.Status == gateway.StatusCanceled && e.Charges == 0) {
			t.Fatalf("ledger %+v", e)
		}
	}
}

func TestQRPageEscapes(t *testing.T) {
	s, ts, _ := start(t)
	f := okForm("P1")
	f.Set("extra_parameters", `{"subject":"<script>"}`)
	call(t, ts, "POST", "/v1/precreate/st1", "Bearer T0K", f)
	resp, err := http.Get(ts.URL + "/qr/P1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "HKD 12.30") || strings.Contains(string(b), "<script>") {
		t.Fatalf("%d\n%s", resp.StatusCode, b)
	}
	if resp, _ := http.Get(ts.URL + "/qr/nope"); resp.StatusCode != 404 {
		t.Fatalf("unknown order page: %d", resp.StatusCode)
	}
	_ = s
}
