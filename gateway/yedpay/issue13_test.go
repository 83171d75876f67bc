package yedpay_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/sandboxkit"
	"posagent/gateway/yedpay"
	"posagent/gateway/yedpay/sandbox"
)

// newStrictRig is the sandbox with its unfriendly defaults (lookups by
// custom_id answer 404, repeated custom_ids 422, refunds not idempotent),
// served in memory through faults.Transport.
func newStrictRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{clock: &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	r.srv = sandbox.New(sandbox.Options{AccessToken: token, StoreID: "store-42", Now: r.clock.Now})
	r.srv.SetBaseURL("http://127.0.0.1:9")
	cfg := r.srv.ClientConfig("http://127.0.0.1:9") // loopback: plain http allowed; never dialled
	cfg.Transport = &faults.Transport{Handler: r.srv}
	cfg.Now = r.clock.Now
	c, err := yedpay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	return r
}

// TestLookupByYedpayID is the first Yedpay finding: a gateway that
// finds transactions in the path only by its own id. Once the precreate
// answer gave the id, query, close and refund use it and find the order.
func TestLookupByYedpayID(t *testing.T) {
	r := newStrictRig(t)
	ctx := context.Background()
	o, err := r.c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "Y-1", AmountCents: 1250})
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox's expired_at: created + OrderTTL (default 240 s).
	if want := r.clock.Now().Add(240 * time.Second); !o.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt %v, want %v", o.ExpiresAt, want)
	}
	if err := r.srv.Pay(o.SN); err != nil {
		t.Fatal(err)
	}
	_, err = r.c.Query(ctx, gateway.Ref{ClientSN: "Y-1"})
	wantClass(t, err, gateway.Rejected, gateway.ErrOrderNotFound)
	if !strings.Contains(err.Error(), "looked up by custom_id Y-1") {
		t.Fatalf("the not-found does not say which key was used: %v", err)
	}
	ref := gateway.Ref{ClientSN: "Y-1", SN: o.SN}
	q, err := r.c.Query(ctx, ref)
	if err != nil || q.Status != gateway.StatusPaid {
		t.Fatalf("query by id: %+v %v", q, err)
	}
	if r.c.RefundIdempotent() {
		t.Fatal("Yedpay refunds carry no idempotency key (yedpay/php-library src/Client.php refund())")
	}
	rf, err := r.c.Refund(ctx, gateway.RefundRequest{ClientSN: "Y-1", SN: o.SN, RequestNo: "RQ1", AmountCents: 250})
	if err != nil || rf.Status != gateway.StatusPartialRefunded || rf.NetAmountCents != 1000 {
		t.Fatalf("refund by id: %+v %v", rf, err)
	}
}

// TestCloseByYedpayID: close goes to PUT /v1/transactions/{id}/close with
// the id from the Ref, and works on a gateway that cannot look up custom_id.
func TestCloseByYedpayID(t *testing.T) {
	r := newStrictRig(t)
	ctx := context.Background()
	o, err := r.c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "Y-2", AmountCents: 100})
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.c.Cancel(ctx, gateway.Ref{ClientSN: "Y-2", SN: o.SN})
	if err != nil || c.Status != gateway.StatusCanceled {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if err := r.srv.Pay(o.SN); err == nil {
		t.Fatal("a closed QR was paid")
	}
}

// TestLostPrecreateAnswerIsAConflict: the precreate was applied and its
// answer lost; the repeat is refused 422 "custom id has already been taken"
// and the lookup by custom_id finds nothing. The client reports the
// refusal, ErrConflict (evidence that the order exists), never not-found.
func TestLostPrecreateAnswerIsAConflict(t *testing.T) {
	r := newStrictRig(t)
	ctx := context.Background()
	r.srv.Faults().Script(faults.DropAfter)
	req := gateway.PrecreateRequest{ClientSN: "Y-3", AmountCents: 500}
	_, err := r.c.Precreate(ctx, req)
	wantClass(t, err, gateway.Unknown, nil)
	_, err = r.c.Precreate(ctx, req)
	wantClass(t, err, gateway.Rejected, gateway.ErrConflict)
	if errors.Is(err, gateway.ErrOrderNotFound) {
		t.Fatalf("conflict reported as not found: %v", err)
	}
	if e := r.entry(t, "Y-3"); e.Creates != 2 {
		t.Fatalf("ledger %+v", e)
	}
}

// TestCancelUnavailable: no close path (404 for a transaction just found by
// the same id) or a refused close on an order still pending is Rejected
// wrapping ErrCancelUnsupported; the payer can still pay before expiry.
func TestCancelUnavailable(t *testing.T) {
	for _, p := range []sandboxkit.Personality{sandboxkit.NoCancel, sandboxkit.CancelRefused} {
		r := newStrictRig(t)
		ctx := context.Background()
		o, err := r.c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "Y-4", AmountCents: 100})
		if err != nil {
			t.Fatal(err)
		}
		r.srv.SetPersonalities(p, sandboxkit.LatePayAfterCancel)
		ref := gateway.Ref{ClientSN: "Y-4", SN: o.SN}
		_, err = r.c.Cancel(ctx, ref)
		wantClass(t, err, gateway.Rejected, gateway.ErrCancelUnsupported)
		if errors.Is(err, gateway.ErrOrderNotFound) {
			t.Fatalf("%s: a missing close path read as a missing order: %v", p, err)
		}
		r.clock.Advance(121 * time.Second) // past half way to the 240 s expiry
		q, err := r.c.Query(ctx, ref)
		if err != nil || q.Status != gateway.StatusPaid {
			t.Fatalf("%s: late payment: %+v %v", p, q, err)
		}
	}
}

// TestRefundBehind500: Error500AfterCommit applies the refund and answers
// 500 "Internal Error" (seed 004 line 89): Unknown. Yedpay refunds are not
// idempotent, so the repeat with the same request number must find the
// refund already listed and not send it again.
func TestRefundBehind500(t *testing.T) {
	r := newStrictRig(t)
	ctx := context.Background()
	o, err := r.c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "Y-5", AmountCents: 1000})
	if err != nil {
		t.Fatal(err)
	}
	r.srv.Pay(o.SN)
	r.srv.SetPersonalities(sandboxkit.Error500AfterCommit)
	req := gateway.RefundRequest{ClientSN: "Y-5", SN: o.SN, RequestNo: "RQ9", AmountCents: 300}
	// Refund = lookup (call 1) + refund (call 2, answered 500).
	_, err = r.c.Refund(ctx, req)
	wantClass(t, err, gateway.Unknown, nil)
	if e := r.entry(t, "Y-5"); e.RefundedCents != 300 {
		t.Fatalf("refund behind the 500 not applied: %+v", e)
	}
	for i := 0; i < 3; i++ { // whatever the 500s hit, never a second refund
		r.c.Refund(ctx, req)
	}
	if e := r.entry(t, "Y-5"); e.RefundedCents != 300 {
		t.Fatalf("refunded twice: %+v", e)
	}
}

// TestFaultClassesInMemory: the wire table of TestFaultsOnPrecreate through
// the in-memory transport classifies the same.
func TestFaultClassesInMemory(t *testing.T) {
	for _, tc := range []struct {
		kind    faults.Kind
		class   gateway.Class
		created bool
	}{
		{faults.DropBefore, gateway.Unknown, false},
		{faults.Status502, gateway.Unknown, false},
		{faults.Status500After, gateway.Unknown, true},
		{faults.DropAfter, gateway.Unknown, true},
		{faults.HangAfter, gateway.Unknown, true},
		{faults.Malformed, gateway.Unknown, true},
		{faults.Truncated, gateway.Unknown, true},
		{faults.Duplicate, gateway.Rejected, true}, // strict: the second delivery is a 422 repeat
		{faults.Latency, 0, true},
	} {
		r := newStrictRig(t)
		r.srv.Faults().Script(tc.kind)
		_, err := r.c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "m-1", AmountCents: 777})
		if gateway.ClassOf(err) != tc.class {
			t.Fatalf("%s: class %v, want %v: %v", tc.kind, gateway.ClassOf(err), tc.class, err)
		}
		if n := len(r.srv.Ledger().Orders); (n == 1) != tc.created {
			t.Fatalf("%s: %d orders", tc.kind, n)
		}
	}
}

// TestConfigRefusedByTheGateway: a wrong token (401 "Unauthenticated.") or store (404
// "Store not found." on precreate's path) is a configuration error the
// engine must not retry; the messages name the setting.
func TestConfigRefusedByTheGateway(t *testing.T) {
	r := newStrictRig(t)
	cfg := r.srv.ClientConfig("http://127.0.0.1:9")
	cfg.Transport = &faults.Transport{Handler: r.srv}
	for name, edit := range map[string]func(*yedpay.Config){
		"token": func(c *yedpay.Config) { c.AccessToken = "wrong" },
		"store": func(c *yedpay.Config) { c.StoreID = "other-store" },
	} {
		c2 := cfg
		edit(&c2)
		c, err := yedpay.New(c2)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Precreate(context.Background(), gateway.PrecreateRequest{ClientSN: "CF-1", AmountCents: 100})
		wantClass(t, err, gateway.Rejected, gateway.ErrConfig)
		if !strings.Contains(err.Error(), "gateway.") {
			t.Fatalf("%s: the message names no setting: %v", name, err)
		}
	}
	if n := len(r.srv.Ledger().Orders); n != 0 {
		t.Fatalf("%d orders", n)
	}
}
