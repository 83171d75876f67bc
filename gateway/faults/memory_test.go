package faults

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// outcome is what a client can observe of one request.
type outcome struct {
	code      int
	body      string
	failed    bool
	deadline  bool // the error wraps context.DeadlineExceeded
	wrote     bool // WroteHeaders fired before the answer or the error
	committed int32
}

func do(t *testing.T, c *http.Client, url string, timeout time.Duration) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/upay/v2/query", strings.NewReader(`{"a":"b"}`))
	resp, err := c.Do(req)
	var o outcome
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		o.code, o.body, err = resp.StatusCode, string(b), rerr
	}
	o.failed = err != nil
	o.deadline = errors.Is(err, context.DeadlineExceeded)
	o.wrote = wrote.Load()
	return o
}

// TestMemoryMatchesWire is the oracle for the in-memory Transport: the same
// handler and the same scripted fault, once over a loopback socket (the
// real net/http client and server) and once in memory, must look the same
// to a client: status, body, failure, deadline, whether the request counts
// as written (the clients' NotSent/Unknown rule) and how often the handler
// committed.
func TestMemoryMatchesWire(t *testing.T) {
	for _, kind := range append([]Kind{None}, All...) {
		t.Run(string(kind)+"_", func(t *testing.T) {
			s, in, committed := server(t)
			in.Script(kind)
			timeout := 5 * time.Second
			if kind == HangAfter {
				timeout = 200 * time.Millisecond
			}
			wire := do(t, s.Client(), s.URL, timeout)
			if kind == HangAfter {
				s.Close() // the server side notices the client left
			}
			wire.committed = committed.Swap(0)

			in.Script(kind)
			mem := do(t, &http.Client{Transport: &Transport{Handler: s.Config.Handler}}, "http://sandbox.invalid", 5*time.Second)
			mem.committed = committed.Swap(0)

			if wire != mem {
				t.Fatalf("%s: wire %+v, memory %+v", kind, wire, mem)
			}
			if c := in.Snapshot().Counts[kind]; kind != None && c != 2 {
				t.Fatalf("%s counted %d times, want 2", kind, c)
			}
		})
	}
}

func TestMemoryDownIsNotWritten(t *testing.T) {
	s, _, committed := server(t)
	var down atomic.Bool
	down.Store(true)
	c := &http.Client{Transport: &Transport{Handler: s.Config.Handler, Down: down.Load}}
	o := do(t, c, "http://sandbox.invalid", time.Second)
	if !o.failed || o.wrote || committed.Load() != 0 {
		t.Fatalf("down: %+v committed %d; want a failure before anything was written", o, committed.Load())
	}
	down.Store(false)
	if o := do(t, c, "http://sandbox.invalid", time.Second); o.failed || o.code != 200 || !o.wrote || committed.Load() != 1 {
		t.Fatalf("up again: %+v", o)
	}
}

func TestMemoryDoneContextIsNotWritten(t *testing.T) {
	s, _, committed := server(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://sandbox.invalid/upay/v2/query", strings.NewReader(`{}`))
	_, err := (&http.Client{Transport: &Transport{Handler: s.Config.Handler}}).Do(req)
	if !errors.Is(err, context.Canceled) || wrote.Load() || committed.Load() != 0 {
		t.Fatalf("err %v wrote %v committed %d", err, wrote.Load(), committed.Load())
	}
}

// TestMemorySeededReproduces: the same seed gives the same faults and the
// same committed count, so a failing chaos seed replays in memory.
func TestMemorySeededReproduces(t *testing.T) {
	run := func(seed uint64) (string, int32) {
		s, in, committed := server(t)
		if err := in.Configure(Config{Seed: seed, Rates: map[Kind]float64{DropBefore: 0.1, DropAfter: 0.1, HangAfter: 0.1, Truncated: 0.1, Duplicate: 0.1}}); err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &Transport{Handler: s.Config.Handler}}
		var sb strings.Builder
		for range 100 {
			o := do(t, c, "http://sandbox.invalid", time.Second)
			if o.failed {
				sb.WriteByte('x')
			} else {
				sb.WriteByte('.')
			}
		}
		return sb.String(), committed.Load()
	}
	a, na := run(3)
	b, nb := run(3)
	c, _ := run(4)
	if a != b || na != nb {
		t.Fatalf("seed 3 did not reproduce:\n%s %d\n%s %d", a, na, b, nb)
	}
	if a == c {
		t.Fatal("seeds 3 and 4 gave the same run")
	}
	if !strings.Contains(a, "x") || !strings.Contains(a, ".") {
		t.Fatalf("rates did not act: %s", a)
	}
}
