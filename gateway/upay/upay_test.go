package upay_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/upay"
	"posagent/gateway/upay/sandbox"
)

// fakeClock is moved by the test; the sandbox reads it for TTLs.
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

type env struct {
	sb    *sandbox.Server
	srv   *httptest.Server
	c     *upay.Client
	clock *fakeClock
}

// newEnv starts a sandbox on loopback and an activated client.
func newEnv(t *testing.T, tls bool) *env {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	sb := sandbox.New(sandbox.Options{Now: clock.Now, ActivationCodes: map[string]int{"12345678": 1, "multi": 5}})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(sb)
	} else {
		srv = httptest.NewServer(sb)
	}
	t.Cleanup(srv.Close)
	sb.SetBaseURL(srv.URL)
	cfg := sb.ClientConfig(srv.URL)
	if tls {
		cfg.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	}
	c, err := upay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	term, err := c.Activate(context.Background(), upay.ActivateRequest{AppID: "posagent", Code: "12345678", DeviceID: "pi-0001"})
	if err != nil {
		t.Fatalf("activate: %v", err)
	}
	c.SetTerminal(term.SN, term.Key)
	return &env{sb: sb, srv: srv, c: c, clock: clock}
}

func req(clientSN string, cents int64) gateway.PrecreateRequest {
	return gateway.PrecreateRequest{ClientSN: clientSN, AmountCents: cents, Subject: "Corner Shop", Operator: "cashier"}
}

func wantClass(t *testing.T, err error, want gateway.Class, is error) {
	t.Helper()
	if got := gateway.ClassOf(err); got != want {
		t.Fatalf("error class %v, want %v (err: %v)", got, want, err)
	}
	if is != nil && !errors.Is(err, is) {
		t.Fatalf("error %v does not wrap %v", err, is)
	}
}

// The signature vector was computed outside Go, with coreutils:
//
//	printf '%s' '<body><key>' | md5sum
func TestSignVector(t *testing.T) {
	body := `{"terminal_sn":"00101010029201012912","client_sn":"18348290098298292838","total_amount":"1000"}`
	key := "7eb6a6bcd1ac9ad3cdb8c5d5b2b0c0aa"
	if got, want := upay.Sign([]byte(body), key), "3e8d8736b3569536cc1cf0f4e3e891e6"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if got := upay.Sign(nil, ""); got != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Fatalf("Sign(empty) = %s", got)
	}
}

// TestSignsBytesOnTheWire checks the Authorization header against the body
// bytes the server actually received, for both credential pairs.
func TestSignsBytesOnTheWire(t *testing.T) {
	type seen struct{ auth, body string }
	var got []seen
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Header.Get("Authorization"), string(b)})
		mu.Unlock()
		io.WriteString(w, `{"result_code":"200","biz_response":{"terminal_sn":"T1","terminal_key":"K2"}}`)
	}))
	defer srv.Close()
	c, _ := upay.New(upay.Config{BaseURL: srv.URL, VendorSN: "V1", VendorKey: "vk", TerminalSN: "T1", TerminalKey: "tk"})
	ctx := context.Background()
	if _, err := c.Activate(ctx, upay.ActivateRequest{AppID: "a", Code: "c", DeviceID: "d", Name: "店铺 1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkin(ctx, upay.CheckinRequest{DeviceID: "d"}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ sn, key string }{{"V1", "vk"}, {"T1", "tk"}} {
		sum := md5.Sum([]byte(got[i].body + want.key))
		if exp := want.sn + " " + hex.EncodeToString(sum[:]); got[i].auth != exp {
			t.Errorf("call %d: Authorization %q, want %q", i, got[i].auth, exp)
		}
	}
}

func TestSaleLifecycle(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := "http"
		if tls {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tls)
			ctx := context.Background()
			o, err := e.c.Precreate(ctx, req("T-1", 1250))
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != gateway.StatusCreated || o.AmountCents != 1250 || !strings.HasPrefix(o.QRCode, e.srv.URL+"/qr/") || o.SN == "" {
				t.Fatalf("precreate: %+v", o)
			}
			// A repeat with the same amount returns the same order.
			o2, err := e.c.Precreate(ctx, req("T-1", 1250))
			if err != nil || o2.SN != o.SN {
				t.Fatalf("idempotent precreate: %+v %v", o2, err)
			}
			// A different amount is a conflict.
			_, err = e.c.Precreate(ctx, req("T-1", 999))
			wantClass(t, err, gateway.Rejected, gateway.ErrConflict)

			q, err := e.c.Query(ctx, gateway.Ref{ClientSN: "T-1"})
			if err != nil || q.Status != gateway.StatusCreated {
				t.Fatalf("query: %+v %v", q, err)
			}
			// The payer opens the QR URL and presses Pay, over HTTP like a phone.
			page, err := e.srv.Client().Get(o.QRCode)
			if err != nil || page.StatusCode != 200 {
				t.Fatalf("qr page: %v %v", page, err)
			}
			b, _ := io.ReadAll(page.Body)
			page.Body.Close()
			if !strings.Contains(string(b), "12.50") || !strings.Contains(string(b), `action="/sandbox/orders/`+o.SN+`/pay"`) {
				t.Fatalf("qr page lacks amount or Pay button:\n%s", b)
			}
			resp, err := e.srv.Client().Post(e.srv.URL+"/sandbox/orders/"+o.SN+"/pay", "application/json", nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("pay: %v %v", resp, err)
			}
			resp.Body.Close()
			q, err = e.c.Query(ctx, gateway.Ref{ClientSN: "T-1"})
			if err != nil || q.Status != gateway.StatusPaid || q.TradeNo == "" || q.FinishedAt.IsZero() {
				t.Fatalf("after pay: %+v %v", q, err)
			}
			// Paying twice fails: a payer is charged once.
			if err := e.sb.Pay(o.SN); !errors.Is(err, sandbox.ErrNotPayable) {
				t.Fatalf("second pay: %v", err)
			}
			// Cancel after payment is refused (UPAY_CANCEL_INVALID_ORDER_STATE)
			// and the order stays paid: Cancel reports it as the query finds it.
			if c, err := e.c.Cancel(ctx, gateway.Ref{ClientSN: "T-1"}); err != nil || c.Status != gateway.StatusPaid {
				t.Fatalf("cancel after pay: %+v %v", c, err)
			}
			if q, _ := e.c.Query(ctx, gateway.Ref{ClientSN: "T-1"}); q.Status != gateway.StatusPaid {
				t.Fatalf("cancel changed a paid order: %+v", q)
			}
			// Partial refund, idempotent by request number, then the rest.
			r, err := e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "T-1", RequestNo: "R1", AmountCents: 250})
			if err != nil || r.Status != gateway.StatusPartialRefunded || r.NetAmountCents != 1000 {
				t.Fatalf("refund: %+v %v", r, err)
			}
			if r, err = e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "T-1", RequestNo: "R1", AmountCents: 250}); err != nil || r.NetAmountCents != 1000 {
				t.Fatalf("repeated refund: %+v %v", r, err)
			}
			_, err = e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "T-1", RequestNo: "R2", AmountCents: 1001})
			wantClass(t, err, gateway.Rejected, nil)
			if r, err = e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "T-1", RequestNo: "R3", AmountCents: 1000}); err != nil || r.Status != gateway.StatusRefunded {
				t.Fatalf("final refund: %+v %v", r, err)
			}
			l := e.sb.Ledger()
			if len(l.Orders) != 1 || l.Orders[0].Charges != 1 || l.Orders[0].RefundedCents != 1250 || l.Orders[0].Creates != 3 {
				t.Fatalf("ledger: %+v", l)
			}
		})
	}
}

func TestCancelAndTTL(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	if _, err := e.c.Precreate(ctx, req("C-1", 100)); err != nil {
		t.Fatal(err)
	}
	o, err := e.c.Cancel(ctx, gateway.Ref{ClientSN: "C-1"})
	if err != nil || o.Status != gateway.StatusCanceled {
		t.Fatalf("cancel: %+v %v", o, err)
	}
	if o, err = e.c.Cancel(ctx, gateway.Ref{ClientSN: "C-1"}); err != nil || o.Status != gateway.StatusCanceled {
		t.Fatalf("cancel again: %+v %v", o, err)
	}
	if err := e.sb.Pay("C-1"); !errors.Is(err, sandbox.ErrNotPayable) {
		t.Fatalf("paid a cancelled order: %v", err)
	}
	// Nothing to cancel.
	_, err = e.c.Cancel(ctx, gateway.Ref{ClientSN: "nope"})
	wantClass(t, err, gateway.Rejected, gateway.ErrOrderNotFound)

	// TTL: unpaid orders cancel themselves.
	if _, err := e.c.Precreate(ctx, req("C-2", 100)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(239 * time.Second)
	if o, _ := e.c.Query(ctx, gateway.Ref{ClientSN: "C-2"}); o.Status != gateway.StatusCreated {
		t.Fatalf("expired early: %+v", o)
	}
	e.clock.Add(time.Second)
	if o, _ := e.c.Query(ctx, gateway.Ref{ClientSN: "C-2"}); o.Status != gateway.StatusCanceled {
		t.Fatalf("not expired at TTL: %+v", o)
	}
	// Decline.
	e.c.Precreate(ctx, req("C-3", 100))
	if err := e.sb.Decline("C-3"); err != nil {
		t.Fatal(err)
	}
	if o, _ := e.c.Query(ctx, gateway.Ref{ClientSN: "C-3"}); o.Status != gateway.StatusPayCanceled {
		t.Fatalf("decline: %+v", o)
	}
	// Revoke a paid order on the same day.
	e.c.Precreate(ctx, req("C-4", 300))
	e.sb.Pay("C-4")
	if o, err := e.c.Revoke(ctx, "C-4"); err != nil || o.Status != gateway.StatusRefunded {
		t.Fatalf("revoke: %+v %v", o, err)
	}
	_, err = e.c.Query(ctx, gateway.Ref{ClientSN: "never"})
	wantClass(t, err, gateway.Rejected, gateway.ErrOrderNotFound)
}

func TestActivationAndCheckin(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	cfg := e.sb.ClientConfig(e.srv.URL)

	// The code had one use and it is gone.
	c2, _ := upay.New(cfg)
	_, err := c2.Activate(ctx, upay.ActivateRequest{AppID: "posagent", Code: "12345678", DeviceID: "pi-2"})
	wantClass(t, err, gateway.Rejected, gateway.ErrInvalid)
	_, err = c2.Activate(ctx, upay.ActivateRequest{AppID: "posagent", Code: "99999999", DeviceID: "pi-2"})
	wantClass(t, err, gateway.Rejected, gateway.ErrInvalid)
	// Wrong vendor key.
	bad := cfg
	bad.VendorKey = "wrong"
	c3, _ := upay.New(bad)
	_, err = c3.Activate(ctx, upay.ActivateRequest{AppID: "posagent", Code: "multi", DeviceID: "pi-3"})
	wantClass(t, err, gateway.Rejected, gateway.ErrAuth)

	// Check-in rotates; the old key works until the next rotation.
	old := e.c
	sn := old.TerminalSN()
	k1 := currentKey(t, e)
	t2, err := old.Checkin(ctx, upay.CheckinRequest{DeviceID: "pi-0001"})
	if err != nil || t2.SN != sn || t2.Key == k1 {
		t.Fatalf("checkin: %v %v", t2, err)
	}
	// The answer was "lost": keep signing with k1.
	if _, err := old.Precreate(ctx, req("K-1", 100)); err != nil {
		t.Fatalf("previous key refused after one rotation: %v", err)
	}
	// Check in again with k1, as after a lost response.
	t3, err := old.Checkin(ctx, upay.CheckinRequest{DeviceID: "pi-0001"})
	if err != nil {
		t.Fatalf("re-checkin with old key: %v", err)
	}
	old.SetTerminal(sn, t3.Key)
	if _, err := old.Query(ctx, gateway.Ref{ClientSN: "K-1"}); err != nil {
		t.Fatalf("new key: %v", err)
	}
	// Two rotations later t2's key is dead.
	old.SetTerminal(sn, t2.Key)
	if _, err := old.Checkin(ctx, upay.CheckinRequest{DeviceID: "pi-0001"}); err == nil {
		// After the re-checkin signed with k1: current t3, previous k1.
		t.Fatal("a key that was rotated away still works")
	}
	_, err = old.Query(ctx, gateway.Ref{ClientSN: "K-1"})
	wantClass(t, err, gateway.Rejected, gateway.ErrAuth)
	// Unknown terminal.
	old.SetTerminal("100999", "x")
	_, err = old.Query(ctx, gateway.Ref{ClientSN: "K-1"})
	wantClass(t, err, gateway.Rejected, gateway.ErrAuth)
	if s := t3.String(); strings.Contains(s, t3.Key) {
		t.Fatalf("Terminal.String leaks the key: %s", s)
	}
}

func TestValidationBeforeSending(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ }))
	defer srv.Close()
	c, _ := upay.New(upay.Config{BaseURL: srv.URL, TerminalSN: "T", TerminalKey: "K"})
	ctx := context.Background()
	long := strings.Repeat("x", 33)
	for name, p := range map[string]upay.PrecreateParams{
		"client_sn too long":  {ClientSN: long, TotalAmount: 1, Payway: "3", Subject: "s", Operator: "o"},
		"zero amount":         {ClientSN: "a", TotalAmount: 0, Payway: "3", Subject: "s", Operator: "o"},
		"negative amount":     {ClientSN: "a", TotalAmount: -5, Payway: "3", Subject: "s", Operator: "o"},
		"11 digits":           {ClientSN: "a", TotalAmount: 10_000_000_000, Payway: "3", Subject: "s", Operator: "o"},
		"no subject":          {ClientSN: "a", TotalAmount: 1, Payway: "3", Operator: "o"},
		"subject 65 chars":    {ClientSN: "a", TotalAmount: 1, Payway: "3", Subject: strings.Repeat("店", 65), Operator: "o"},
		"operator too long":   {ClientSN: "a", TotalAmount: 1, Payway: "3", Subject: "s", Operator: long},
		"description 256":     {ClientSN: "a", TotalAmount: 1, Payway: "3", Subject: "s", Operator: "o", Description: strings.Repeat("d", 256)},
		"longitude alone":     {ClientSN: "a", TotalAmount: 1, Payway: "3", Subject: "s", Operator: "o", Longitude: "121.6"},
		"payway letters":      {ClientSN: "a", TotalAmount: 1, Payway: "x", Subject: "s", Operator: "o"},
		"QQ has no precreate": {ClientSN: "a", TotalAmount: 1, Payway: "6", Subject: "s", Operator: "o"},
		"notify_url 129":      {ClientSN: "a", TotalAmount: 1, Payway: "3", Subject: "s", Operator: "o", NotifyURL: strings.Repeat("u", 129)},
		"bad goods":           {ClientSN: "a", TotalAmount: 1, Payway: "3", Subject: "s", Operator: "o", GoodsDetails: []upay.Goods{{GoodsID: "1", GoodsName: "n", Quantity: 1, PromotionType: 2}}},
		"invalid utf8":        {ClientSN: "a", TotalAmount: 1, Payway: "3", Subject: "\xff", Operator: "o"},
	} {
		_, err := c.PrecreateParams(ctx, p)
		if gateway.ClassOf(err) != gateway.NotSent || !errors.Is(err, gateway.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ext := map[string]string{}
	for i := range 25 {
		ext[strings.Repeat("k", i+1)] = "v"
	}
	if _, err := c.PrecreateParams(ctx, upay.PrecreateParams{ClientSN: "a", TotalAmount: 1, Payway: "3", Subject: "s", Operator: "o", Extended: ext}); gateway.ClassOf(err) != gateway.NotSent {
		t.Errorf("25 extended keys: %v", err)
	}
	if _, err := c.Refund(ctx, gateway.RefundRequest{ClientSN: "a", RequestNo: strings.Repeat("1", 21), AmountCents: 1}); gateway.ClassOf(err) != gateway.NotSent {
		t.Errorf("refund_request_no 21: %v", err)
	}
	if _, err := c.Query(ctx, gateway.Ref{ClientSN: ""}); gateway.ClassOf(err) != gateway.NotSent {
		t.Errorf("empty client_sn: %v", err)
	}
	if calls != 0 {
		t.Fatalf("%d invalid requests reached the server", calls)
	}
	// Edge values that are allowed.
	if err := (&upay.PrecreateParams{ClientSN: strings.Repeat("1", 32), TotalAmount: upay.MaxAmountCents, Payway: "3", Subject: strings.Repeat("店", 64), Operator: strings.Repeat("o", 32), Description: strings.Repeat("d", 255)}).Validate(); err != nil {
		t.Fatalf("limits rejected: %v", err)
	}
}

// faultCases is what a precreate meets under each fault: the class the
// client must report and whether the gateway committed the order. The wire
// (TestFaultClasses) and the in-memory transport (TestFaultClassesInMemory)
// must agree on every row.
var faultCases = []struct {
	kind      faults.Kind
	want      gateway.Class // 0 = success
	committed bool
}{
	{faults.None, 0, true},
	{faults.Latency, 0, true},
	{faults.Status502, gateway.Unknown, false},
	{faults.Status500After, gateway.Unknown, true},
	{faults.DropBefore, gateway.Unknown, false},
	{faults.DropAfter, gateway.Unknown, true},
	{faults.HangAfter, gateway.Unknown, true},
	{faults.Malformed, gateway.Unknown, true},
	{faults.Truncated, gateway.Unknown, true},
	{faults.Duplicate, 0, true},
}

// TestFaultClasses runs every fault on the wire and checks the client's
// classification and, where the gateway committed, that a query finds it.
func TestFaultClasses(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(string(tc.kind)+"_", func(t *testing.T) {
			e := newEnv(t, false)
			e.sb.Faults().Script(tc.kind)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if tc.kind == faults.HangAfter {
				ctx, cancel = context.WithTimeout(context.Background(), 150*time.Millisecond)
			}
			defer cancel()
			_, err := e.c.Precreate(ctx, req("F-1", 500))
			if gateway.ClassOf(err) != tc.want {
				t.Fatalf("class %v, want %v: %v", gateway.ClassOf(err), tc.want, err)
			}
			// The unknown outcome is resolved by query with the same client_sn.
			q, qerr := e.c.Query(context.Background(), gateway.Ref{ClientSN: "F-1"})
			if tc.committed {
				if qerr != nil || q.Status != gateway.StatusCreated {
					t.Fatalf("committed order not found by query: %+v %v", q, qerr)
				}
			} else {
				wantClass(t, qerr, gateway.Rejected, gateway.ErrOrderNotFound)
			}
			if n := len(e.sb.Ledger().Orders); (n == 1) != tc.committed {
				t.Fatalf("ledger has %d orders", n)
			}
		})
	}
}

func TestNotSentWhenNothingListens(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c, _ := upay.New(upay.Config{BaseURL: url, TerminalSN: "T", TerminalKey: "K"})
	_, err := c.Precreate(context.Background(), req("N-1", 100))
	wantClass(t, err, gateway.NotSent, nil)
}

func TestTLSVerificationStaysOn(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewTLSServer(sb)
	defer srv.Close()
	c, _ := upay.New(upay.Config{BaseURL: srv.URL, TerminalSN: "T", TerminalKey: "K"}) // no CA pool
	_, err := c.Query(context.Background(), gateway.Ref{ClientSN: "x"})
	wantClass(t, err, gateway.NotSent, nil)
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a certificate error, got %v", err)
	}
}

func TestHostileResponses(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		want   gateway.Class
	}{
		"html 200":        {200, "<html>hi</html>", gateway.Unknown},
		"empty":           {200, "", gateway.Unknown},
		"other client_sn": {200, `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"OTHER","order_status":"PAID","total_amount":"1"}}}`, gateway.Unknown},
		"status unknown":  {200, `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"H","order_status":"MAYBE","total_amount":"1"}}}`, gateway.Unknown},
		"amount negative": {200, `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"H","order_status":"PAID","total_amount":"-1"}}}`, gateway.Unknown},
		"amount number":   {200, `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"H","order_status":"PAID","total_amount":1}}}`, gateway.Unknown},
		"net over total":  {200, `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"H","order_status":"PAID","total_amount":"1","net_amount":"2"}}}`, gateway.Unknown},
		"no data":         {200, `{"result_code":"200","biz_response":{"result_code":"SUCCESS"}}`, gateway.Unknown},
		"in progress":     {200, `{"result_code":"200","biz_response":{"result_code":"PAY_IN_PROGRESS"}}`, gateway.Unknown},
		"5xx json":        {503, `{"result_code":"200","biz_response":{}}`, gateway.Unknown},
		// upay-v2.md, "Response envelope": an outer 500 promises nothing.
		"outer 500":          {200, `{"result_code":"500","error_code":"UNKNOWN_SYSTEM_ERROR"}`, gateway.Unknown},
		"404 html":           {404, `<html>Not Found</html>`, gateway.Rejected},
		"illegal sign":       {200, `{"result_code":"400","error_code":"ILLEGAL_SIGN"}`, gateway.Rejected},
		"biz fail":           {200, `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"TRADE_NOT_EXIST"}}`, gateway.Rejected},
		"weird result":       {200, `{"result_code":"302"}`, gateway.Unknown},
		"huge":               {200, `{"result_code":"200","biz_response":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`, gateway.Unknown},
		"ok but 201":         {201, `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"H","order_status":"PAID","total_amount":"1"}}}`, gateway.Unknown},
		"good, for contrast": {200, `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"H","order_status":"PAID","total_amount":"100","net_amount":"100","finish_time":"1449646835244"}}}`, 0},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, _ := upay.New(upay.Config{BaseURL: srv.URL, TerminalSN: "T", TerminalKey: "K"})
			_, err := c.Query(context.Background(), gateway.Ref{ClientSN: "H"})
			if gateway.ClassOf(err) != tc.want {
				t.Fatalf("class %v, want %v: %v", gateway.ClassOf(err), tc.want, err)
			}
		})
	}
}

func TestSandboxRejectsBadRequests(t *testing.T) {
	e := newEnv(t, false)
	post := func(path, sn, key, body string) string {
		r, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
		r.Header.Set("Authorization", sn+" "+upay.Sign([]byte(body), key))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	sn := e.c.TerminalSN()
	// Upper-case hex is accepted too: sign by hand.
	body := `{"terminal_sn":"` + sn + `","client_sn":"nope"}`
	r, _ := http.NewRequest("POST", e.srv.URL+upay.PathQuery, strings.NewReader(body))
	r.Header.Set("Authorization", sn+" "+strings.ToUpper(upay.Sign([]byte(body), "wrong")))
	resp, _ := http.DefaultClient.Do(r)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "ILLEGAL_SIGN") {
		t.Fatalf("wrong key accepted: %s", b)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"amount as number":  {`{"terminal_sn":"` + sn + `","client_sn":"a","total_amount":100,"payway":"3","subject":"s","operator":"o"}`, "INVALID_PARAMS"},
		"amount 11 digits":  {`{"terminal_sn":"` + sn + `","client_sn":"a","total_amount":"12345678901","payway":"3","subject":"s","operator":"o"}`, "INVALID_PARAMS"},
		"missing subject":   {`{"terminal_sn":"` + sn + `","client_sn":"a","total_amount":"1","payway":"3","operator":"o"}`, "INVALID_PARAMS"},
		"other terminal_sn": {`{"terminal_sn":"1","client_sn":"a","total_amount":"1","payway":"3","subject":"s","operator":"o"}`, "INVALID_TERMINAL"},
		"not json":          {`hello`, "INVALID_PARAMS"},
	} {
		_ = name
		// Sign correctly with the real key via the client's own request path
		// is not possible for malformed bodies, so use the sandbox-known key.
		got := post(upay.PathPrecreate, sn, currentKey(t, e), tc.body)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
	if got := post(upay.PathPrecreate, "nobody", "k", `{}`); !strings.Contains(got, "INVALID_TERMINAL") {
		t.Errorf("unknown terminal: %s", got)
	}
}

// currentKey checks in to learn a fresh key and installs it in the client,
// so the test knows the key and can sign bodies by hand.
func currentKey(t *testing.T, e *env) string {
	t.Helper()
	term, err := e.c.Checkin(context.Background(), upay.CheckinRequest{DeviceID: "pi-0001"})
	if err != nil {
		t.Fatal(err)
	}
	e.c.SetTerminal(term.SN, term.Key)
	return term.Key
}
