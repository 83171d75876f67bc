package alipay_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/alipay"
	"posagent/gateway/alipay/sandbox"
	"posagent/gateway/faults"
	"posagent/gateway/sandboxkit"
)

// newMemEnv is newEnv served in memory through faults.Transport.
func newMemEnv(t *testing.T, opts sandbox.Options, edit func(*alipay.Config)) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)}
	opts.Now = clk.Now
	sb := sandbox.New(opts)
	sb.SetBaseURL("http://alipay.sandbox")
	cfg := sb.ClientConfig("http://alipay.sandbox")
	cfg.Transport = &faults.Transport{Handler: sb}
	if edit != nil {
		edit(&cfg)
	}
	c, err := alipay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sb: sb, c: c, clk: clk}
}

// TestPayWindowIsTimeoutExpress: timeout_express is the pay window in whole
// minutes, rounded up (seed 002, lines 58-61), and the order says when
// Alipay will close it. The sandbox closes at that time.
func TestPayWindowIsTimeoutExpress(t *testing.T) {
	e := newMemEnv(t, sandbox.Options{OrderTTL: time.Hour}, nil)
	o, err := e.c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "PW_1", AmountCents: 100, Subject: "s", PayWindow: 20*time.Minute + time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clk.Now().Add(21 * time.Minute); !o.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt %v, want %v", o.ExpiresAt, want)
	}
	e.clk.Add(20*time.Minute + 59*time.Second)
	if err := e.sb.Scan("PW_1"); err != nil {
		t.Fatalf("closed before timeout_express: %v", err)
	}
	e.clk.Add(time.Second)
	if err := e.sb.Pay("PW_1"); err == nil {
		t.Fatal("paid after timeout_express")
	}
	_, err = e.c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "PW_2", AmountCents: 100, Subject: "s", PayWindow: 16 * 24 * time.Hour})
	wantClass(t, err, gateway.NotSent, gateway.ErrInvalid)
}

// TestWrongAppIDIsAConfigError: isv.invalid-app-id comes unsigned
// (field-notes.md). A precreate refused before processing created nothing
// anyone could pay: Rejected, ErrConfig, and the message names the setting.
func TestWrongAppIDIsAConfigError(t *testing.T) {
	e := newMemEnv(t, sandbox.Options{}, func(c *alipay.Config) { c.AppID = "2021000000000099" })
	_, err := e.c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "CF_1", AmountCents: 100, Subject: "s"})
	wantClass(t, err, gateway.Rejected, gateway.ErrConfig)
	if !strings.Contains(err.Error(), "gateway.app_id") {
		t.Fatalf("the message does not name the setting: %v", err)
	}
	if n := len(e.sb.Ledger().Orders); n != 0 {
		t.Fatalf("%d trades", n)
	}
}

// TestCloseUnavailable: no alipay.trade.close (isv.invalid-method,
// unsigned, as issue 13 saw) or a close refused for good: Rejected,
// ErrCancelUnsupported; the trade stays payable and a late payment shows.
func TestCloseUnavailable(t *testing.T) {
	for _, p := range []sandboxkit.Personality{sandboxkit.NoCancel, sandboxkit.CancelRefused} {
		for _, scanned := range []bool{false, true} {
			e := newMemEnv(t, sandbox.Options{OrderTTL: 10 * time.Minute}, nil)
			o := precreate(t, e, "CU_1", 100)
			if scanned {
				e.sb.Scan("CU_1")
			}
			e.sb.SetPersonalities(p, sandboxkit.LatePayAfterCancel)
			_, err := e.c.Cancel(context.Background(), gateway.Ref{ClientSN: "CU_1"})
			wantClass(t, err, gateway.Rejected, gateway.ErrCancelUnsupported)
			e.clk.Add(o.ExpiresAt.Sub(e.clk.Now())/2 + time.Second)
			q, err := e.c.Query(context.Background(), gateway.Ref{ClientSN: "CU_1"})
			if err != nil || q.Status != gateway.StatusPaid {
				t.Fatalf("%s scanned=%v: late payment: %+v %v", p, scanned, q, err)
			}
		}
	}
}

// TestLookupByTradeNo: with ConfirmedThenNotFound only trade_no finds the
// trade; the client uses it once the Ref has it.
func TestLookupByTradeNo(t *testing.T) {
	e := newMemEnv(t, sandbox.Options{}, nil)
	precreate(t, e, "TN_1", 100)
	e.sb.Scan("TN_1")
	q, err := e.c.Query(context.Background(), gateway.Ref{ClientSN: "TN_1"})
	if err != nil || q.SN == "" {
		t.Fatalf("query: %+v %v", q, err)
	}
	e.sb.SetPersonalities(sandboxkit.ConfirmedThenNotFound)
	_, err = e.c.Query(context.Background(), gateway.Ref{ClientSN: "TN_1"})
	wantClass(t, err, gateway.Rejected, gateway.ErrOrderNotFound)
	if !strings.Contains(err.Error(), "out_trade_no TN_1") {
		t.Fatalf("not-found does not say which number: %v", err)
	}
	ref := gateway.Ref{ClientSN: "TN_1", SN: q.SN}
	if q2, err := e.c.Query(context.Background(), ref); err != nil || q2.Status != gateway.StatusCreated {
		t.Fatalf("query by trade_no: %+v %v", q2, err)
	}
	// Paid, the trade is found by out_trade_no again (the sandbox's
	// reading: nothing else could find it).
	e.sb.Pay("TN_1")
	if q3, err := e.c.Query(context.Background(), gateway.Ref{ClientSN: "TN_1"}); err != nil || q3.Status != gateway.StatusPaid {
		t.Fatalf("paid trade by out_trade_no: %+v %v", q3, err)
	}
	precreate(t, e, "TN_2", 100)
	e.sb.Scan("TN_2")
	e.sb.SetPersonalities()
	q, _ = e.c.Query(context.Background(), gateway.Ref{ClientSN: "TN_2"})
	e.sb.SetPersonalities(sandboxkit.ConfirmedThenNotFound)
	if c, err := e.c.Cancel(context.Background(), gateway.Ref{ClientSN: "TN_2", SN: q.SN}); err != nil || c.Status != gateway.StatusCanceled {
		t.Fatalf("close by trade_no: %+v %v", c, err)
	}
}

func TestConflictThenNotFound(t *testing.T) {
	e := newMemEnv(t, sandbox.Options{}, nil)
	precreate(t, e, "CN_1", 100)
	e.sb.SetPersonalities(sandboxkit.ConflictThenNotFound)
	_, err := e.c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "CN_1", AmountCents: 100, Subject: "当面付 测试/1", Operator: "op001"})
	wantClass(t, err, gateway.Rejected, gateway.ErrConflict)
}

// TestUnsignedSystemErrorStaysUnknown: UnsignedErrors answers every third
// call, after applying it, with an unsigned 20000 isp.unknow-error. It may
// hide a change: Unknown, for precreate and refund alike.
func TestUnsignedSystemErrorStaysUnknown(t *testing.T) {
	e := newMemEnv(t, sandbox.Options{}, nil)
	e.sb.SetPersonalities(sandboxkit.UnsignedErrors)
	ctx := context.Background()
	precreate(t, e, "UE_1", 1000) // call 1
	e.sb.Pay("UE_1")
	if _, err := e.c.Query(ctx, gateway.Ref{ClientSN: "UE_1"}); err != nil { // call 2
		t.Fatal(err)
	}
	// Call 3: the refund is applied, the answer is an unsigned system error.
	_, err := e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "UE_1", RequestNo: "R1", AmountCents: 300})
	wantClass(t, err, gateway.Unknown, nil)
	var ge *gateway.Error
	if errors.As(err, &ge) && ge.Err != nil && errors.Is(err, gateway.ErrConfig) {
		t.Fatalf("a system error read as configuration: %v", err)
	}
	// Same out_request_no: refunded once (Alipay's idempotency key).
	if !e.c.RefundIdempotent() {
		t.Fatal("out_request_no makes Alipay refunds repeatable")
	}
	r, err := e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "UE_1", RequestNo: "R1", AmountCents: 300})
	if err != nil || r.NetAmountCents != 700 {
		t.Fatalf("repeat: %+v %v", r, err)
	}
	if l := e.sb.Ledger().Orders[0]; l.RefundedCents != 300 {
		t.Fatalf("ledger %+v", l)
	}
}

// TestRefundBehind500: Error500AfterCommit's signed 20000 isp.unknow-error
// after the refund was applied is Unknown, never refused.
func TestRefundBehind500(t *testing.T) {
	e := newMemEnv(t, sandbox.Options{}, nil)
	ctx := context.Background()
	precreate(t, e, "E5_1", 1000)
	e.sb.Pay("E5_1")
	e.sb.SetPersonalities(sandboxkit.Error500AfterCommit)
	if _, err := e.c.Query(ctx, gateway.Ref{ClientSN: "E5_1"}); err != nil { // call 1 passes
		t.Fatal(err)
	}
	_, err := e.c.Refund(ctx, gateway.RefundRequest{ClientSN: "E5_1", RequestNo: "R9", AmountCents: 1000}) // call 2
	wantClass(t, err, gateway.Unknown, nil)
	if l := e.sb.Ledger().Orders[0]; l.RefundedCents != 1000 {
		t.Fatalf("refund behind the error not applied: %+v", l)
	}
}

// TestFaultClassesInMemory: the wire table of TestFaults (faultCases)
// through the in-memory transport.
func TestFaultClassesInMemory(t *testing.T) {
	for _, tc := range faultCases {
		e := newMemEnv(t, sandbox.Options{}, nil)
		e.sb.Faults().Script(tc.kind)
		_, err := e.c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "FM_1", AmountCents: 100, Subject: "s"})
		if gateway.ClassOf(err) != tc.class {
			t.Fatalf("%s: class %v, want %v: %v", tc.kind, gateway.ClassOf(err), tc.class, err)
		}
		if n := len(e.sb.Ledger().Orders); (n == 1) != tc.created {
			t.Fatalf("%s: %d trades", tc.kind, n)
		}
	}
}
