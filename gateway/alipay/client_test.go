package alipay_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"

	"posagent/gateway"
	"posagent/gateway/alipay"
	"posagent/gateway/alipay/sandbox"
	"posagent/gateway/faults"
)

// clock is a fake clock shared by the sandbox and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	sb  *sandbox.Server
	srv *httptest.Server
	c   *alipay.Client
	clk *clock
}

func newEnv(t *testing.T, tls bool, opts sandbox.Options) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)}
	opts.Now = clk.Now
	sb := sandbox.New(opts)
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
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		cfg.RootCAs = pool
	}
	cfg.Timeout = 5 * time.Second
	c, err := alipay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sb: sb, srv: srv, c: c, clk: clk}
}

func (e *env) entry(t *testing.T, clientSN string) gateway.LedgerEntry {
	t.Helper()
	for _, o := range e.sb.Ledger().Orders {
		if o.ClientSN == clientSN {
			return o
		}
	}
	t.Fatalf("ledger has no %s", clientSN)
	return gateway.LedgerEntry{}
}

func precreate(t *testing.T, e *env, sn string, cents int64) gateway.Order {
	t.Helper()
	o, err := e.c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: sn, AmountCents: cents, Subject: "当面付 测试/1", Operator: "op001"})
	if err != nil {
		t.Fatalf("precreate %s: %v", sn, err)
	}
	return o
}

func wantClass(t *testing.T, err error, class gateway.Class, sentinel error) {
	t.Helper()
	if gateway.ClassOf(err) != class {
		t.Fatalf("error %v: class %v, want %v", err, gateway.ClassOf(err), class)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %v does not wrap %v", err, sentinel)
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %T is not *gateway.Error", err)
	}
}

// decodeQR renders the payload as a QR image and reads it back with
// gozxing, an independent decoder.
func decodeQR(t *testing.T, payload string) string {
	t.Helper()
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(q.Image(256))
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("gozxing: %v", err)
	}
	return res.GetText()
}

func TestScanPayFlowOverHTTPS(t *testing.T) {
	e := newEnv(t, true, sandbox.Options{})
	ctx := context.Background()
	o := precreate(t, e, "T1_000001", 1250)
	if o.Status != gateway.StatusCreated || o.AmountCents != 1250 || o.Channel != "支付宝" {
		t.Fatalf("precreate: %+v", o)
	}
	// The payload survives rendering and points back at the sandbox.
	payload := decodeQR(t, o.QRCode)
	if !strings.HasPrefix(payload, e.srv.URL+"/qr/bax") {
		t.Fatalf("QR payload %q", payload)
	}
	// Not scanned yet: Alipay does not know the trade.
	_, err := e.c.Query(ctx, gateway.Ref{ClientSN: "T1_000001"})
	wantClass(t, err, gateway.Rejected, gateway.ErrOrderNotFound)

	// The phone opens the payload: scanned, waiting for the payer.
	resp, err := e.srv.Client().Get(payload)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "¥12.50") || !strings.Contains(string(page), "/pay") {
		t.Fatalf("QR page: %s", page)
	}
	q, err := e.c.Query(ctx, gateway.Ref{ClientSN: "T1_000001"})
	if err != nil || q.Status != gateway.StatusCreated || q.SN == "" {
		t.Fatalf("query after scan: %+v, %v", q, err)
	}
	// The Pay button, as a browser would press it.
	resp, err = e.srv.Client().PostForm(e.srv.URL+"/sandbox/orders/"+q.SN+"/pay", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pay: %v %v", resp, err)
	}
	resp.Body.Close()
	q, err = e.c.Query(ctx, gateway.Ref{ClientSN: "T1_000001"})
	if err != nil || q.Status != gateway.StatusPaid || q.TradeNo == "" || q.NetAmountCents != 1250 || q.FinishedAt.IsZero() {
		t.Fatalf("query after pay: %+v, %v", q, err)
	}
	if l := e.entry(t, "T1_000001"); l.Status != gateway.StatusPaid || l.Charges != 1 || l.Creates != 1 {
		t.Fatalf("ledger %+v", l)
	}
}

func TestPrecreateIdempotentAndConflict(t *testing.T) {
	e := newEnv(t, false, sandbox.Options{})
	a := precreate(t, e, "T1_2", 100)
	b := precreate(t, e, "T1_2", 100)
	if a.QRCode != b.QRCode {
		t.Fatalf("repeat gave another code: %s vs %s", a.QRCode, b.QRCode)
	}
	_, err := e.c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "T1_2", AmountCents: 200, Subject: "当面付 测试/1"})
	wantClass(t, err, gateway.Rejected, gateway.ErrConflict)
	if err := e.sb.Pay("T1_2"); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "T1_2", AmountCents: 100, Subject: "当面付 测试/1"})
	wantClass(t, err, gateway.Rejected, gateway.ErrConflict)
	if l := e.entry(t, "T1_2"); l.Creates != 4 || l.Charges != 1 {
		t.Fatalf("ledger %+v", l)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t, false, sandbox.Options{})
	ctx := context.Background()

	// Never scanned: close says "not exist" but the code is locked.
	precreate(t, e, "C_unscanned", 500)
	o, err := e.c.Cancel(ctx, gateway.Ref{ClientSN: "C_unscanned"})
	if err != nil || o.Status != gateway.StatusCanceled {
		t.Fatalf("cancel unscanned: %+v, %v", o, err)
	}
	if err := e.sb.Pay("C_unscanned"); err == nil {
		t.Fatal("paid a closed trade")
	}

	// Scanned, unpaid: closed.
	precreate(t, e, "C_scanned", 500)
	e.sb.Scan("C_scanned")
	if o, err := e.c.Cancel(ctx, gateway.Ref{ClientSN: "C_scanned"}); err != nil || o.Status != gateway.StatusCanceled {
		t.Fatalf("cancel scanned: %+v, %v", o, err)
	}
	if q, err := e.c.Query(ctx, gateway.Ref{ClientSN: "C_scanned"}); err != nil || q.Status != gateway.StatusCanceled {
		t.Fatalf("query after close: %+v, %v", q, err)
	}

	// The payer was faster: close fails, the order stays PAID, no refund.
	precreate(t, e, "C_paid", 500)
	e.sb.Pay("C_paid")
	if o, err := e.c.Cancel(ctx, gateway.Ref{ClientSN: "C_paid"}); err != nil || o.Status != gateway.StatusPaid {
		t.Fatalf("cancel paid: %+v, %v", o, err)
	}
	if l := e.entry(t, "C_paid"); l.Status != gateway.StatusPaid || l.RefundedCents != 0 || l.Charges != 1 {
		t.Fatalf("ledger %+v", l)
	}
	for _, sn := range []string{"C_unscanned", "C_scanned"} {
		if l := e.entry(t, sn); l.Status != gateway.StatusCanceled || l.Charges != 0 {
			t.Fatalf("ledger %+v", l)
		}
	}
}

func TestOrderTimesOut(t *testing.T) {
	e := newEnv(t, false, sandbox.Options{OrderTTL: 4 * time.Minute})
	precreate(t, e, "TTL_1", 100)
	e.sb.Scan("TTL_1")
	e.clk.Add(4*time.Minute - time.Second)
	if l := e.entry(t, "TTL_1"); l.Status != gateway.StatusCreated {
		t.Fatalf("closed early: %+v", l)
	}
	e.clk.Add(time.Second)
	if err := e.sb.Pay("TTL_1"); err == nil {
		t.Fatal("paid an expired trade")
	}
	q, err := e.c.Query(context.Background(), gateway.Ref{ClientSN: "TTL_1"})
	if err != nil || q.Status != gateway.StatusCanceled {
		t.Fatalf("query: %+v, %v", q, err)
	}
}

func TestRefund(t *testing.T) {
	e := newEnv(t, false, sandbox.Options{})
	ctx := context.Background()
	precreate(t, e, "R_1", 1000)
	_, err := e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "R_1", RequestNo: "R_1_r1", AmountCents: 300})
	wantClass(t, err, gateway.Rejected, gateway.ErrOrderNotFound)
	e.sb.Pay("R_1")

	o, err := e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "R_1", RequestNo: "R_1_r1", AmountCents: 300, Operator: "op1"})
	if err != nil || o.Status != gateway.StatusPartialRefunded || o.NetAmountCents != 700 || o.AmountCents != 1000 {
		t.Fatalf("partial: %+v, %v", o, err)
	}
	// Repeated delivery of the same refund refunds once.
	o, err = e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "R_1", RequestNo: "R_1_r1", AmountCents: 300})
	if err != nil || o.NetAmountCents != 700 {
		t.Fatalf("repeat: %+v, %v", o, err)
	}
	_, err = e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "R_1", RequestNo: "R_1_r1", AmountCents: 400})
	wantClass(t, err, gateway.Rejected, gateway.ErrConflict)
	_, err = e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "R_1", RequestNo: "R_1_r2", AmountCents: 701})
	wantClass(t, err, gateway.Rejected, nil)
	o, err = e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "R_1", RequestNo: "R_1_r2", AmountCents: 700})
	if err != nil || o.Status != gateway.StatusRefunded || o.NetAmountCents != 0 {
		t.Fatalf("full: %+v, %v", o, err)
	}
	if q, err := e.c.Query(ctx, gateway.Ref{ClientSN: "R_1"}); err != nil || q.Status != gateway.StatusRefunded {
		t.Fatalf("query after refund: %+v, %v", q, err)
	}
	if l := e.entry(t, "R_1"); l.RefundedCents != 1000 || l.Status != gateway.StatusRefunded || l.Charges != 1 {
		t.Fatalf("ledger %+v", l)
	}
}

func TestValidationNeverSends(t *testing.T) {
	var hits atomic.Int32
	e := newEnv(t, false, sandbox.Options{})
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); e.sb.ServeHTTP(w, r) })
	ctx := context.Background()
	long := func(n int) string { return strings.Repeat("字", n) }
	ok := gateway.PrecreateRequest{ClientSN: "V_1", AmountCents: 100, Subject: "s"}
	cases := map[string]gateway.PrecreateRequest{}
	add := func(name string, f func(*gateway.PrecreateRequest)) { r := ok; f(&r); cases[name] = r }
	add("empty client_sn", func(r *gateway.PrecreateRequest) { r.ClientSN = "" })
	add("client_sn 65", func(r *gateway.PrecreateRequest) { r.ClientSN = strings.Repeat("a", 65) })
	add("client_sn dash", func(r *gateway.PrecreateRequest) { r.ClientSN = "a-b" })
	add("zero amount", func(r *gateway.PrecreateRequest) { r.AmountCents = 0 })
	add("negative amount", func(r *gateway.PrecreateRequest) { r.AmountCents = -5 })
	add("amount too large", func(r *gateway.PrecreateRequest) { r.AmountCents = alipay.MaxAmountCents + 1 })
	add("no subject", func(r *gateway.PrecreateRequest) { r.Subject = "" })
	add("subject 257", func(r *gateway.PrecreateRequest) { r.Subject = long(257) })
	add("body 129", func(r *gateway.PrecreateRequest) { r.Description = long(129) })
	add("operator 29", func(r *gateway.PrecreateRequest) { r.Operator = long(29) })
	add("bad utf-8", func(r *gateway.PrecreateRequest) { r.Subject = "\xff" })
	add("control char", func(r *gateway.PrecreateRequest) { r.Subject = "a\nb" })
	for name, req := range cases {
		_, err := e.c.Precreate(ctx, req)
		wantClass(t, err, gateway.NotSent, gateway.ErrInvalid)
		if !strings.Contains(err.Error(), "alipay: ") {
			t.Errorf("%s: error does not name the package: %v", name, err)
		}
	}
	_, err := e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "V_1", RequestNo: "", AmountCents: 1})
	wantClass(t, err, gateway.NotSent, gateway.ErrInvalid)
	_, err = e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "V_1", RequestNo: "x", AmountCents: 0})
	wantClass(t, err, gateway.NotSent, gateway.ErrInvalid)
	_, err = e.c.Query(ctx, gateway.Ref{ClientSN: strings.Repeat("9", 65)})
	wantClass(t, err, gateway.NotSent, gateway.ErrInvalid)
	_, err = e.c.Cancel(ctx, gateway.Ref{ClientSN: ""})
	wantClass(t, err, gateway.NotSent, gateway.ErrInvalid)
	if hits.Load() != 0 {
		t.Fatalf("%d invalid requests reached the gateway", hits.Load())
	}
	// The limits themselves are allowed.
	max := gateway.PrecreateRequest{ClientSN: strings.Repeat("a", 64), AmountCents: alipay.MaxAmountCents, Subject: long(256), Description: long(128), Operator: long(28)}
	if _, err := e.c.Precreate(ctx, max); err != nil {
		t.Fatalf("request at the limits: %v", err)
	}
}

// faultCases is what a precreate meets under each fault. The wire
// (TestFaults) and the in-memory transport (TestFaultClassesInMemory) must
// agree on every row.
var faultCases = []struct {
	kind    faults.Kind
	class   gateway.Class
	created bool // whether the sandbox committed the precreate
}{
	{faults.DropBefore, gateway.Unknown, false}, // the request was written
	{faults.Status502, gateway.Unknown, false},
	{faults.Status500After, gateway.Unknown, true},
	{faults.DropAfter, gateway.Unknown, true},
	{faults.HangAfter, gateway.Unknown, true},
	{faults.Malformed, gateway.Unknown, true},
	{faults.Truncated, gateway.Unknown, true},
	{faults.Duplicate, 0, true},
	{faults.Latency, 0, true},
}

func TestFaults(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := newEnv(t, false, sandbox.Options{})
			e.sb.Faults().Script(tc.kind)
			ctx := context.Background()
			if tc.kind == faults.HangAfter {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
			}
			sn := "F_" + strings.ReplaceAll(string(tc.kind), "-", "_")
			o, err := e.c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: sn, AmountCents: 100, Subject: "s"})
			if tc.class == 0 {
				if err != nil || o.QRCode == "" {
					t.Fatalf("%+v, %v", o, err)
				}
			} else {
				wantClass(t, err, tc.class, nil)
			}
			l := e.sb.Ledger()
			if got := len(l.Orders) == 1; got != tc.created {
				t.Fatalf("created %v, want %v (%+v)", got, tc.created, l)
			}
			if tc.kind == faults.Duplicate && l.Orders[0].Creates != 2 {
				t.Fatalf("duplicate: %+v", l.Orders[0])
			}
			// Resolution is by query with the same client_sn: the trade is
			// still payable exactly once.
			if tc.created {
				if err := e.sb.Pay(sn); err != nil {
					t.Fatal(err)
				}
				q, err := e.c.Query(context.Background(), gateway.Ref{ClientSN: sn})
				if err != nil || q.Status != gateway.StatusPaid {
					t.Fatalf("query: %+v, %v", q, err)
				}
			}
		})
	}
}

func TestFaultsOnOtherCalls(t *testing.T) {
	e := newEnv(t, false, sandbox.Options{})
	ctx := context.Background()
	precreate(t, e, "FO_1", 100)
	e.sb.Pay("FO_1")
	e.sb.Faults().Script(faults.DropAfter)
	_, err := e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "FO_1", RequestNo: "FO_1_r", AmountCents: 100})
	wantClass(t, err, gateway.Unknown, nil)
	// The refund happened; repeating it is safe and tells the state.
	o, err := e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "FO_1", RequestNo: "FO_1_r", AmountCents: 100})
	if err != nil || o.Status != gateway.StatusRefunded {
		t.Fatalf("%+v, %v", o, err)
	}
	if l := e.entry(t, "FO_1"); l.RefundedCents != 100 {
		t.Fatalf("ledger %+v", l)
	}
	e.sb.Faults().Script(faults.Truncated)
	_, err = e.c.Query(ctx, gateway.Ref{ClientSN: "FO_1"})
	wantClass(t, err, gateway.Unknown, nil)
	e.sb.Faults().Script(faults.Status502)
	_, err = e.c.Cancel(ctx, gateway.Ref{ClientSN: "FO_1"})
	wantClass(t, err, gateway.Unknown, nil)
}

func TestConnectionRefusedIsNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sb := sandbox.New(sandbox.Options{})
	cfg := sb.ClientConfig("http://" + addr)
	c, err := alipay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "N_1", AmountCents: 1, Subject: "s"})
	wantClass(t, err, gateway.NotSent, nil)
}

func TestUntrustedTLSIsNotSent(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewTLSServer(sb)
	defer srv.Close()
	c, err := alipay.New(sb.ClientConfig(srv.URL)) // no RootCAs: the test CA is not trusted
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), gateway.Ref{ClientSN: "X_1"})
	wantClass(t, err, gateway.NotSent, nil)
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("no hint: %v", err)
	}
}

var otherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func TestSignatures(t *testing.T) {
	ctx := context.Background()
	// An answer signed by someone else is outcome unknown, not success.
	e := newEnv(t, false, sandbox.Options{})
	impostor := sandbox.New(sandbox.Options{AlipayKey: otherKey(), Now: e.clk.Now})
	e.srv.Config.Handler = impostor
	_, err := e.c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "S_1", AmountCents: 1, Subject: "s"})
	wantClass(t, err, gateway.Unknown, nil)
	if !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("%v", err)
	}

	// A request signed with the wrong app key is refused by the gateway,
	// in a signed answer: Rejected, ErrAuth.
	e2 := newEnv(t, false, sandbox.Options{})
	cfg := e2.sb.ClientConfig(e2.srv.URL)
	cfg.AppPrivateKey = otherKey()
	c, err := alipay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(ctx, gateway.Ref{ClientSN: "S_2"})
	wantClass(t, err, gateway.Rejected, gateway.ErrAuth)
	if !strings.Contains(err.Error(), "isv.invalid-signature") {
		t.Fatalf("%v", err)
	}

	// RSA (SHA1) where configured.
	cfg = e2.sb.ClientConfig(e2.srv.URL)
	cfg.SignType = alipay.SignRSA
	c, err = alipay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "S_3", AmountCents: 1, Subject: "s"}); err != nil {
		t.Fatalf("RSA: %v", err)
	}

	// A clock far off: the gateway refuses the timestamp.
	cfg = e2.sb.ClientConfig(e2.srv.URL)
	cfg.Now = func() time.Time { return e2.clk.Now().Add(time.Hour) }
	c, _ = alipay.New(cfg)
	_, err = c.Query(ctx, gateway.Ref{ClientSN: "S_4"})
	wantClass(t, err, gateway.Rejected, nil)
	if !strings.Contains(err.Error(), "clock") {
		t.Fatalf("no clock hint: %v", err)
	}

	// Wrong app id.
	cfg = e2.sb.ClientConfig(e2.srv.URL)
	cfg.AppID = "2021000000000002"
	c, _ = alipay.New(cfg)
	_, err = c.Query(ctx, gateway.Ref{ClientSN: "S_5"})
	wantClass(t, err, gateway.Rejected, gateway.ErrAuth)
}

// TestUnsignedAnswers: answers without a valid signature are never read as
// success, nor as a business failure, whatever they say. (Unsigned
// gateway-level refusals are judged per call: TestUnsignedRefusals.)
func TestUnsignedAnswers(t *testing.T) {
	bodies := []string{
		`{"alipay_trade_query_response":{"code":"10000","msg":"Success","out_trade_no":"U_1","trade_status":"TRADE_SUCCESS","total_amount":"1.00"}}`,
		`{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"},"sign":"bm90IGEgc2lnbmF0dXJl"}`,
		`{"alipay_trade_query_response":{"code":"40004","sub_code":"ACQ.TRADE_NOT_EXIST"},"sign":"bm90IGEgc2lnbmF0dXJl"}`,
		`{"alipay_trade_query_response":{"code":"40004","sub_code":"ACQ.TRADE_NOT_EXIST"}}`,
		`{"error_response":{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}}`,
		`{"alipay_trade_query_response":{"code":"10000"},"sign":"***"}`,
	}
	for _, b := range bodies {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, b) }))
		sb := sandbox.New(sandbox.Options{})
		c, err := alipay.New(sb.ClientConfig(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Query(context.Background(), gateway.Ref{ClientSN: "U_1"})
		srv.Close()
		wantClass(t, err, gateway.Unknown, nil)
	}
}

// TestWireFormat checks what goes on the wire with a reader written apart
// from the client: protocol parameters in the query string and biz_content
// in the body, each parameter once (the official Java SDK's layout:
// alipay/alipay-sdk-java-all AbstractAlipayClient.java getRequestUrl and
// doPost), Beijing timestamp, yuan amounts.
func TestWireFormat(t *testing.T) {
	got := make(chan url.Values, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			t.Errorf("content type %q", ct)
		}
		r.ParseForm()
		q := r.URL.Query()
		for k := range r.PostForm {
			if k != "biz_content" {
				t.Errorf("body carries %q; only biz_content (and app_auth_token) belong there", k)
			}
			if _, dup := q[k]; dup {
				t.Errorf("%q sent twice, in the URL and the body", k)
			}
		}
		if _, ok := q["biz_content"]; ok {
			t.Error("biz_content in the URL")
		}
		for k, vs := range r.Form {
			if len(vs) != 1 {
				t.Errorf("%q sent %d times", k, len(vs))
			}
		}
		got <- r.Form
	}))
	defer srv.Close()
	sb := sandbox.New(sandbox.Options{})
	cfg := sb.ClientConfig(srv.URL)
	cfg.Now = func() time.Time { return time.Date(2014, 7, 23, 19, 7, 50, 0, time.UTC) }
	cfg.OrderTimeout = 10 * time.Minute
	cfg.TerminalID = "NJ_T_001"
	c, err := alipay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// PayWindow 90 s: timeout_express in whole minutes, rounded up, "2m"
	// (seed 002, lines 58-61: "The value of the number must be integer").
	c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "W_1", AmountCents: 8888, Subject: "a&b=c 当面付", PayWindow: 90 * time.Second})
	f := <-got
	want := map[string]string{
		"app_id": sandbox.DefaultAppID, "method": "alipay.trade.precreate", "charset": "utf-8",
		"sign_type": "RSA2", "version": "1.0", "timestamp": "2014-07-24 03:07:50",
	}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, f.Get(k), v)
		}
	}
	biz := f.Get("biz_content")
	for _, frag := range []string{`"total_amount":"88.88"`, `"out_trade_no":"W_1"`, `"timeout_express":"2m"`, `"terminal_id":"NJ_T_001"`} {
		if !strings.Contains(biz, frag) {
			t.Errorf("biz_content %s lacks %s", biz, frag)
		}
	}
	if strings.Contains(biz, `"body"`) {
		t.Errorf("empty body sent: %s", biz)
	}
	if len(f.Get("sign")) != 344 {
		t.Errorf("sign has %d characters, RSA2-2048 gives 344", len(f.Get("sign")))
	}
}

func TestLedgerOverHTTP(t *testing.T) {
	e := newEnv(t, false, sandbox.Options{})
	precreate(t, e, "L_1", 100)
	resp, err := http.Post(e.srv.URL+"/sandbox/orders/L_1/pay", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	resp.Body.Close()
	resp, err = http.Post(e.srv.URL+"/sandbox/orders/L_1/pay", "", nil)
	if err != nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("second pay: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(e.srv.URL + "/sandbox/ledger")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"client_sn":"L_1"`) || !strings.Contains(string(b), `"charges":1`) || !strings.Contains(string(b), `"status":"PAID"`) {
		t.Fatalf("ledger %s", b)
	}
	// Fault control endpoint.
	resp, err = http.Post(e.srv.URL+"/sandbox/faults", "application/json", strings.NewReader(`{"seed":1,"next":["502"]}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	resp.Body.Close()
	_, err = e.c.Query(context.Background(), gateway.Ref{ClientSN: "L_1"})
	wantClass(t, err, gateway.Unknown, nil)
}

// BenchmarkPrecreateLoopback is one precreate through the real client and
// sandbox over loopback HTTP: two RSA-2048 signatures (client, sandbox)
// and two verifications. Target on a developer x86 core: < 10 ms/op.
func BenchmarkPrecreateLoopback(b *testing.B) {
	sb := sandbox.New(sandbox.Options{OrderTTL: time.Hour})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	c, err := alipay.New(sb.ClientConfig(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		if _, err := c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "B_" + strconv.Itoa(i), AmountCents: 100, Subject: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHTTPStatusClasses(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	for code, class := range map[int]gateway.Class{
		http.StatusFound:               gateway.Rejected,
		http.StatusNotFound:            gateway.Rejected,
		http.StatusRequestTimeout:      gateway.Unknown,
		http.StatusInternalServerError: gateway.Unknown,
		http.StatusGatewayTimeout:      gateway.Unknown,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("charset") != "utf-8" {
				t.Errorf("query string %q lacks charset", r.URL.RawQuery)
			}
			if code == http.StatusFound {
				w.Header().Set("Location", "/portal")
			}
			w.WriteHeader(code)
		}))
		c, err := alipay.New(sb.ClientConfig(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Query(context.Background(), gateway.Ref{ClientSN: "H_1"})
		srv.Close()
		wantClass(t, err, class, nil)
	}
}

func TestConfigHidesSecrets(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	cfg := sb.ClientConfig("http://127.0.0.1:1")
	cfg.AppAuthToken = "201510BBaabdb44d8fd04607abf8d5931ec75D84"
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, "201510BB") || strings.Contains(s, cfg.AppPrivateKey.D.String()[:20]) {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

// TestKeysFromFiles is the production wiring: keys in PEM files, the
// private one 0600, loaded by New.
func TestKeysFromFiles(t *testing.T) {
	e := newEnv(t, false, sandbox.Options{})
	appFile, aliFile, err := e.sb.WriteClientKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.sb.ClientConfig(e.srv.URL)
	cfg.AppPrivateKey, cfg.AlipayPublicKey = nil, nil
	cfg.AppPrivateKeyFile, cfg.AlipayPublicKeyFile = appFile, aliFile
	c, err := alipay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "KF_1", AmountCents: 1, Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	// Swapped files: both roles are named.
	cfg.AppPrivateKeyFile, cfg.AlipayPublicKeyFile = aliFile, appFile
	if _, err := alipay.New(cfg); err == nil || !strings.Contains(err.Error(), "app private key") {
		t.Fatalf("swapped files: %v", err)
	}
}
