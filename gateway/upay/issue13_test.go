package upay_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/sandboxkit"
	"posagent/gateway/upay"
	"posagent/gateway/upay/sandbox"
)

// newMemEnv is newEnv served in memory through faults.Transport: no socket.
func newMemEnv(t *testing.T) *env {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	sb := sandbox.New(sandbox.Options{Now: clock.Now})
	sb.SetBaseURL("http://upay.sandbox")
	cfg := sb.ClientConfig("http://upay.sandbox")
	cfg.Transport = &faults.Transport{Handler: sb}
	cfg.Now = clock.Now
	c, err := upay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	term, err := c.Activate(context.Background(), upay.ActivateRequest{AppID: "posagent", Code: "12345678", DeviceID: "pi-0001"})
	if err != nil {
		t.Fatalf("activate: %v", err)
	}
	c.SetTerminal(term.SN, term.Key)
	return &env{sb: sb, c: c, clock: clock}
}

// TestFaultClassesInMemory is TestFaultClasses (the wire) through the
// in-memory transport: the client must classify every fault the same way,
// so that chaos runs in memory test what the wire would.
func TestFaultClassesInMemory(t *testing.T) {
	for _, tc := range faultCases {
		e := newMemEnv(t)
		e.sb.Faults().Script(tc.kind)
		_, err := e.c.Precreate(context.Background(), req("F-1", 500))
		if gateway.ClassOf(err) != tc.want {
			t.Fatalf("%s: class %v, want %v: %v", tc.kind, gateway.ClassOf(err), tc.want, err)
		}
		if n := len(e.sb.Ledger().Orders); (n == 1) != tc.committed {
			t.Fatalf("%s: ledger has %d orders", tc.kind, n)
		}
	}
}

// TestOuter500AfterCommitRefund: Error500AfterCommit answers every second
// call with outer result_code "500" after applying it. upay-v2.md: a 500
// promises nothing, so the refund is Unknown (never "refused"), and the
// same refund_request_no repeated refunds once.
func TestOuter500AfterCommitRefund(t *testing.T) {
	e := newMemEnv(t)
	ctx := context.Background()
	o, err := e.c.Precreate(ctx, req("R-1", 1000))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sb.Pay(o.SN); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.SetPersonalities(sandboxkit.Error500AfterCommit); err != nil {
		t.Fatal(err)
	}
	// Call 1 passes, call 2 gets the 500: spend one on a query.
	if _, err := e.c.Query(ctx, gateway.Ref{ClientSN: "R-1", SN: o.SN}); err != nil {
		t.Fatal(err)
	}
	if !e.c.RefundIdempotent() {
		t.Fatal("refund_request_no is Upay's idempotency key (upay-v2.md)")
	}
	refund := gateway.RefundRequest{ClientSN: "R-1", SN: o.SN, RequestNo: "RQ1", AmountCents: 400}
	_, err = e.c.Refund(ctx, refund)
	wantClass(t, err, gateway.Unknown, nil)
	if l := e.sb.Ledger().Orders[0]; l.RefundedCents != 400 {
		t.Fatalf("the refund behind the 500 was not applied: %+v", l)
	}
	r, err := e.c.Refund(ctx, refund) // call 3: answered
	if err != nil || r.NetAmountCents != 600 || r.Status != gateway.StatusPartialRefunded {
		t.Fatalf("repeat with the same refund_request_no: %+v %v", r, err)
	}
	if l := e.sb.Ledger().Orders[0]; l.RefundedCents != 400 {
		t.Fatalf("refunded twice: %+v", l)
	}
}

// TestLookupBySN: with ConfirmedThenNotFound the gateway cannot find an
// order by client_sn; the client asks by sn once it has it ("sn or
// client_sn (sn wins if both)", upay-v2.md), and a not-found says which
// number was asked.
func TestLookupBySN(t *testing.T) {
	e := newMemEnv(t)
	ctx := context.Background()
	o, err := e.c.Precreate(ctx, req("L-1", 1000))
	if err != nil {
		t.Fatal(err)
	}
	e.sb.SetPersonalities(sandboxkit.ConfirmedThenNotFound)
	_, err = e.c.Query(ctx, gateway.Ref{ClientSN: "L-1"})
	wantClass(t, err, gateway.Rejected, gateway.ErrOrderNotFound)
	if !strings.Contains(err.Error(), "client_sn L-1") {
		t.Fatalf("not-found does not say which key was used: %v", err)
	}
	q, err := e.c.Query(ctx, gateway.Ref{ClientSN: "L-1", SN: o.SN})
	if err != nil || q.SN != o.SN || q.Status != gateway.StatusCreated {
		t.Fatalf("query by sn: %+v %v", q, err)
	}
	c, err := e.c.Cancel(ctx, gateway.Ref{ClientSN: "L-1", SN: o.SN})
	if err != nil || c.Status != gateway.StatusCanceled {
		t.Fatalf("cancel by sn: %+v %v", c, err)
	}
}

func TestConflictThenNotFound(t *testing.T) {
	e := newMemEnv(t)
	ctx := context.Background()
	if _, err := e.c.Precreate(ctx, req("C-1", 1000)); err != nil {
		t.Fatal(err)
	}
	e.sb.SetPersonalities(sandboxkit.ConflictThenNotFound)
	_, err := e.c.Precreate(ctx, req("C-1", 1000))
	wantClass(t, err, gateway.Rejected, gateway.ErrConflict)
	_, err = e.c.Query(ctx, gateway.Ref{ClientSN: "C-1"})
	wantClass(t, err, gateway.Rejected, gateway.ErrOrderNotFound)
	if l := e.sb.Ledger().Orders; len(l) != 1 || l[0].Creates != 2 {
		t.Fatalf("ledger: %+v", l)
	}
}

// TestCancelUnavailable: with NoCancel (the path answers 404) or
// CancelRefused (FAIL UPAY_CANCEL_INVALID_ORDER_STATE on an order still
// CREATED) Cancel is Rejected wrapping gateway.ErrCancelUnsupported; with
// LatePayAfterCancel the payer pays before the order's expiry.
func TestCancelUnavailable(t *testing.T) {
	for _, p := range []sandboxkit.Personality{sandboxkit.NoCancel, sandboxkit.CancelRefused} {
		e := newMemEnv(t)
		ctx := context.Background()
		o, err := e.c.Precreate(ctx, req("X-1", 1000))
		if err != nil {
			t.Fatal(err)
		}
		if want := e.clock.Now().Add(4 * time.Minute); !o.ExpiresAt.Equal(want) {
			t.Fatalf("ExpiresAt %v, want %v (upay-v2.md: about 4 minutes)", o.ExpiresAt, want)
		}
		e.sb.SetPersonalities(p, sandboxkit.LatePayAfterCancel)
		e.clock.Add(time.Minute)
		_, err = e.c.Cancel(ctx, gateway.Ref{ClientSN: "X-1", SN: o.SN})
		wantClass(t, err, gateway.Rejected, gateway.ErrCancelUnsupported)
		if l := e.sb.Ledger().Orders[0]; l.Status != gateway.StatusCreated {
			t.Fatalf("%s: order %s after a refused cancel", p, l.Status)
		}
		e.clock.Add(2 * time.Minute) // past half way to the expiry
		q, err := e.c.Query(ctx, gateway.Ref{ClientSN: "X-1", SN: o.SN})
		if err != nil || q.Status != gateway.StatusPaid {
			t.Fatalf("%s: late payment not seen: %+v %v", p, q, err)
		}
		if l := e.sb.Ledger().Orders[0]; l.Charges != 1 {
			t.Fatalf("%s: charges %d", p, l.Charges)
		}
	}
}

// TestUploadLog: the body is the gzip bytes, signed md5(body + key) like
// any request (upay-v2.md, "Signing" and "Terminal lifecycle"). The
// signature is computed here, apart from the client's upay.Sign.
func TestUploadLog(t *testing.T) {
	e := newEnv(t, false)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("level=INFO msg=\"sale paid\"\n"))
	zw.Close()
	if err := e.c.UploadLog(context.Background(), buf.Bytes()); err != nil {
		t.Fatalf("upload: %v", err)
	}
	ups := e.sb.Uploads()
	if len(ups) != 1 || !bytes.Equal(ups[0].Gzip, buf.Bytes()) || ups[0].Terminal != e.c.TerminalSN() {
		t.Fatalf("uploads: %+v", ups)
	}
	resp, err := http.Get(e.srv.URL + "/sandbox/uploads")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Uploads []sandbox.Upload }
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if len(got.Uploads) != 1 || !bytes.Equal(got.Uploads[0].Gzip, buf.Bytes()) {
		t.Fatalf("GET /sandbox/uploads: %+v", got)
	}

	// Not gzip: refused before sending.
	err = e.c.UploadLog(context.Background(), []byte("plain text"))
	wantClass(t, err, gateway.NotSent, gateway.ErrInvalid)

	// A wrong signature is refused by the sandbox: sign with another key.
	r, _ := http.NewRequest("POST", e.srv.URL+upay.PathUploadLog, bytes.NewReader(buf.Bytes()))
	sum := md5.Sum(append(append([]byte{}, buf.Bytes()...), "wrong-key"...))
	r.Header.Set("Authorization", e.c.TerminalSN()+" "+hex.EncodeToString(sum[:]))
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	var envl struct {
		ResultCode string `json:"result_code"`
		ErrorCode  string `json:"error_code"`
	}
	json.NewDecoder(resp.Body).Decode(&envl)
	resp.Body.Close()
	if envl.ResultCode != "400" || envl.ErrorCode != "ILLEGAL_SIGN" {
		t.Fatalf("bad signature answered %+v", envl)
	}
	if n := len(e.sb.Uploads()); n != 1 {
		t.Fatalf("%d uploads stored, want 1", n)
	}
}

// TestLastDate: the sandbox stamps its answers with its own clock as the
// Date header (RFC 9110 §6.6.1), on the wire and in memory; the client
// keeps the latest, a bound for a clock guard.
func TestLastDate(t *testing.T) {
	for name, e := range map[string]*env{"wire": newEnv(t, false), "memory": newMemEnv(t)} {
		e.clock.Add(365 * 24 * time.Hour)
		if _, err := e.c.Precreate(context.Background(), req("D-1", 100)); err != nil {
			t.Fatal(err)
		}
		if got, want := e.c.LastDate(), e.clock.Now().Truncate(time.Second); !got.Equal(want) {
			t.Fatalf("%s: LastDate %v, want the sandbox's clock %v", name, got, want)
		}
	}
}

// BenchmarkPrecreateQuery is one precreate and one query through the real
// client and sandbox, over loopback and in memory: what a chaos seed
// spends per gateway call.
func BenchmarkPrecreateQuery(b *testing.B) {
	for _, mode := range []string{"wire", "memory"} {
		b.Run(mode, func(b *testing.B) {
			t := &testing.T{}
			var e *env
			if mode == "wire" {
				e = newEnv(t, false)
			} else {
				e = newMemEnv(t)
			}
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				sn := "B-" + strconv.Itoa(i)
				o, err := e.c.Precreate(ctx, req(sn, 100))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.c.Query(ctx, gateway.Ref{ClientSN: sn, SN: o.SN}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
