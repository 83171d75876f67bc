package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"syscall"
)

// Transport is an http.RoundTripper that serves each request by calling
// Handler (a sandbox) directly, in memory: no socket, no real timeout. It is
// for chaos tests that run hundreds of seeded sales per gateway on a fake
// clock; the wire faults of Injector.Wrap, served over loopback, stay the
// check that the clients read real net/http failures right.
//
// The faults are those of the sandbox's own Injector (same seed, same
// scripted and random choice, same /sandbox/faults control, same counts):
// Wrap sees that a request came through a Transport and, instead of
// hijacking a connection or holding it open, tells the Transport what to do.
//
// How the clients' NotSent/Unknown decision is reproduced: every client
// (upay, alipay, yedpay) marks a request "written" from the WroteHeaders hook
// of the httptrace.ClientTrace in the request's context, and reads an error
// before that hook as NotSent, after it as Unknown. On the wire, the server
// has read the headers before any fault of Injector.Wrap acts, so every fault
// kind, drop_before included, comes after WroteHeaders (the clients' wire
// tests assert drop_before → Unknown). The Transport therefore calls
// WroteHeaders and WroteRequest before it calls the handler, and fails
// without calling them only when the request cannot have left: Down reports
// the network unplugged (a refused dial), or the context was already done.
//
// Per kind, in memory:
//
//	drop_before   handler not run; error after WroteHeaders (connection reset)
//	502           handler not run; HTTP 502 with a proxy's HTML page
//	latency       handler run; answered at once (no wire to be slow on)
//	500_after     handler run; HTTP 500 with an HTML page
//	drop_after    handler run; error (connection reset), no answer
//	hang_after    handler run; an error wrapping context.DeadlineExceeded at
//	              once, as if the caller's deadline had fired
//	malformed     handler run; 200 with a body that is not JSON
//	truncated     handler run; 200 with the first half of the real body
//	duplicate     handler run twice; the second answer
type Transport struct {
	// Handler serves the requests: a sandbox's ServeHTTP.
	Handler http.Handler
	// Down, if set and true, fails a request before anything is written,
	// as a dial to an unplugged network does (the clients say NotSent).
	Down func() bool
}

type memCall struct{ kind Kind }

type memKey struct{}

func memCallOf(ctx context.Context) *memCall {
	mc, _ := ctx.Value(memKey{}).(*memCall)
	return mc
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if t.Handler == nil {
		return nil, errors.New("faults: Transport has no Handler")
	}
	ctx := req.Context()
	if t.Down != nil && t.Down() {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, fmt.Errorf("faults: reading request body: %w", err)
		}
		body = b
	}
	if tr := httptrace.ContextClientTrace(ctx); tr != nil {
		if tr.WroteHeaders != nil {
			tr.WroteHeaders()
		}
		if tr.WroteRequest != nil {
			tr.WroteRequest(httptrace.WroteRequestInfo{})
		}
	}
	mc := &memCall{}
	sreq := req.Clone(context.WithValue(ctx, memKey{}, mc))
	sreq.Body = io.NopCloser(bytes.NewReader(body))
	sreq.ContentLength = int64(len(body))
	sreq.RequestURI = req.URL.RequestURI()
	sreq.Host = req.URL.Host
	sreq.RemoteAddr = "192.0.2.1:49152" // TEST-NET-1: no real peer
	sreq.TLS = nil
	rec := httptest.NewRecorder()
	if aborted := serve(t.Handler, rec, sreq); aborted {
		return nil, reset()
	}
	switch mc.kind {
	case DropBefore, DropAfter:
		return nil, reset()
	case HangAfter:
		return nil, fmt.Errorf("faults: no answer before the deadline (hang_after): %w", context.DeadlineExceeded)
	}
	resp := rec.Result()
	resp.Request = req
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	resp.ContentLength = int64(rec.Body.Len())
	return resp, nil
}

// serve runs h, turning the panic net/http uses to abort a handler into a
// dropped connection, as the real server does.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(w, r)
	return false
}

// reset is what a client reads when the peer closed the connection without
// an answer.
func reset() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}
