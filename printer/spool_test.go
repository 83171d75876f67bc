package printer

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"posagent/printer/escpos"
)

// fakeClock hands each backoff wait to the test, which decides when it ends.
type fakeClock struct {
	now   time.Time
	waits chan wait
}

type wait struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: at, waits: make(chan wait, 16)}
}

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	w := wait{d, make(chan time.Time, 1)}
	c.waits <- w
	return w.fire
}

func (c *fakeClock) next(t *testing.T) wait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(20 * time.Second):
		t.Fatal("spooler never waited")
		return wait{}
	}
}

type recorder chan Event

func (r recorder) on(e Event) { r <- e }

func (r recorder) next(t *testing.T) Event {
	t.Helper()
	select {
	case e := <-r:
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no spooler event")
		return Event{}
	}
}

func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestSpoolerDeadPrinter: with the printer unreachable Submit still returns
// at once, the queue is bounded, retries back off 1 s, 2 s, 4 s (capped), the
// job fails after MaxAttempts with ErrOffline, and Close drops the rest.
func TestSpoolerDeadPrinter(t *testing.T) {
	p := open(t, Config{Driver: "tcp", Device: refusedAddr(t)})
	clk := newFakeClock()
	ev := make(recorder, 64)
	s := NewSpooler(p, SpoolOptions{Queue: 2, MaxAttempts: 4, MaxBackoff: 3 * time.Second, OnEvent: ev.on, After: clk.after, Now: func() time.Time { return clk.now }})
	defer s.Close()

	if err := s.Submit(Job{ID: "r1", Receipt: &paid}); err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t); e.Kind != Retrying || e.JobID != "r1" || !errors.Is(e.Err, ErrOffline) || e.Backoff != time.Second {
		t.Fatalf("first event %+v", e)
	}
	w := clk.next(t) // r1 is now waiting in the worker: the queue is empty
	if err := s.Submit(Job{ID: "r2", Receipt: &paid}); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(Job{ID: "r3", Receipt: &paid}); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(Job{ID: "r4", Receipt: &paid}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("4th submit: %v, want ErrQueueFull", err)
	}
	if s.Pending() != 2 {
		t.Fatalf("pending %d", s.Pending())
	}
	waits := []time.Duration{w.d}
	w.fire <- clk.now
	for _, want := range []time.Duration{2 * time.Second, 3 * time.Second} {
		if e := ev.next(t); e.Kind != Retrying || e.Backoff != want {
			t.Fatalf("event %+v, want retry after %v", e, want)
		}
		w := clk.next(t)
		waits = append(waits, w.d)
		w.fire <- clk.now
	}
	if e := ev.next(t); e.Kind != Failed || e.Attempt != 4 || !errors.Is(e.Err, ErrOffline) {
		t.Fatalf("final event %+v", e)
	}
	if waits[0] != time.Second || waits[1] != 2*time.Second || waits[2] != 3*time.Second {
		t.Fatalf("waits %v", waits)
	}
	// r2 starts and waits; Close cancels it and drops r3.
	if e := ev.next(t); e.JobID != "r2" || e.Kind != Retrying {
		t.Fatalf("r2 event %+v", e)
	}
	clk.next(t)
	s.Close()
	dropped := map[string]bool{}
	for len(dropped) < 2 {
		e := ev.next(t)
		if e.Kind != Dropped || !errors.Is(e.Err, ErrClosed) {
			t.Fatalf("after close: %+v", e)
		}
		dropped[e.JobID] = true
	}
	if !dropped["r2"] || !dropped["r3"] {
		t.Fatalf("dropped %v", dropped)
	}
	if err := s.Submit(Job{ID: "r5", Receipt: &paid}); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}
}

// TestSpoolerRecovers: paper runs out, the job waits, paper is loaded, the
// job prints on the next attempt, and a printer that hangs up after every job
// is reconnected for the next one.
func TestSpoolerRecovers(t *testing.T) {
	var paperOut atomic.Bool
	paperOut.Store(true)
	addr, conns := tcpPrinter(t, func(tp *testPrinter) {
		tp.set(escpos.Status{Offline: paperOut.Load(), PaperOut: paperOut.Load()}, false)
		tp.hangUp = true
	})
	nextConn := func() *testPrinter {
		select {
		case tp := <-conns:
			return tp
		case <-time.After(20 * time.Second):
			t.Fatal("no connection to the printer")
			return nil
		}
	}
	p := open(t, Config{Driver: "tcp", Device: addr, NativeQR: true})
	clk := newFakeClock()
	ev := make(recorder, 64)
	s := NewSpooler(p, SpoolOptions{OnEvent: ev.on, After: clk.after, Now: func() time.Time { return clk.now }})
	defer s.Close()

	if err := s.Submit(Job{ID: "slip", Slip: &slip}); err != nil {
		t.Fatal(err)
	}
	e := ev.next(t)
	if e.Kind != Retrying || !errors.Is(e.Err, ErrPaperOut) {
		t.Fatalf("event %+v", e)
	}
	if s.Last().Kind != Retrying {
		t.Fatalf("Last %+v", s.Last())
	}
	tp := nextConn()
	paperOut.Store(false)
	tp.set(escpos.Status{}, false) // paper loaded
	clk.next(t).fire <- clk.now
	if e := ev.next(t); e.Kind != Printed || e.Attempt != 2 {
		t.Fatalf("event %+v", e)
	}
	checkPage(t, tp.wait(t), 384, true, []string{"Corner Cafe"}, slip.QR)

	// The printer hung up after the job: the next one finds the link dead
	// and reconnects, on the first attempt or after one retry.
	if err := s.Submit(Job{ID: "receipt", Receipt: &paid}); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		e := ev.next(t)
		if e.Kind == Printed {
			break
		}
		if e.Kind != Retrying || !errors.Is(e.Err, ErrOffline) || attempt > 2 {
			t.Fatalf("event %+v", e)
		}
		clk.next(t).fire <- clk.now
	}
	checkPage(t, nextConn().wait(t), 384, true, []string{"PAID"}, "")
}

func TestSpoolerDropsExpiredSlipAndBadJobs(t *testing.T) {
	addr, conns := tcpPrinter(t, nil)
	p := open(t, Config{Driver: "tcp", Device: addr})
	clk := newFakeClock()
	clk.now = slip.ExpiresAt.Add(time.Second)
	ev := make(recorder, 64)
	s := NewSpooler(p, SpoolOptions{OnEvent: ev.on, After: clk.after, Now: func() time.Time { return clk.now }})
	defer s.Close()

	if err := s.Submit(Job{ID: "late", Slip: &slip}); err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t); e.Kind != Dropped || e.JobID != "late" {
		t.Fatalf("event %+v", e)
	}
	bad := paid
	bad.Kind = 0
	if err := s.Submit(Job{ID: "bad", Receipt: &bad}); err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t); e.Kind != Failed || e.Attempt != 1 {
		t.Fatalf("bad job: %+v (a bad job must not be retried)", e)
	}
	if err := s.Submit(Job{ID: "two", Slip: &slip, Receipt: &paid}); err == nil {
		t.Fatal("job with two documents accepted")
	}
	if err := s.Submit(Job{ID: "test", SelfTest: true}); err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t); e.Kind != Printed {
		t.Fatalf("self-test: %+v", e)
	}
	checkPage(t, nextTP(t, conns).wait(t), 384, false, []string{"SELF-TEST"}, "POSAGENT SELF-TEST raster")
}

func nextTP(t *testing.T, conns chan *testPrinter) *testPrinter {
	t.Helper()
	select {
	case tp := <-conns:
		return tp
	case <-time.After(20 * time.Second):
		t.Fatal("no connection to the printer")
		return nil
	}
}

// TestSpoolerWatchesIdlePrinter: with StatusEvery set, an idle spooler asks
// the printer for its state and reports each change once.
func TestSpoolerWatchesIdlePrinter(t *testing.T) {
	addr, conns := tcpPrinter(t, nil)
	p := open(t, Config{Driver: "tcp", Device: addr})
	clk := newFakeClock()
	ev := make(recorder, 64)
	s := NewSpooler(p, SpoolOptions{StatusEvery: 30 * time.Second, OnEvent: ev.on, After: clk.after, Now: func() time.Time { return clk.now }})
	defer s.Close()

	tick := func() {
		w := clk.next(t)
		if w.d != 30*time.Second {
			t.Fatalf("idle wait %v", w.d)
		}
		w.fire <- clk.now
	}
	tick()
	if e := ev.next(t); e.Kind != StatusChanged || e.Err != nil || e.Status.String() != "ready" {
		t.Fatalf("event %+v", e)
	}
	tp := nextTP(t, conns)
	tp.set(escpos.Status{Offline: true, PaperOut: true}, false)
	tick()
	if e := ev.next(t); e.Kind != StatusChanged || !errors.Is(e.Err, ErrPaperOut) {
		t.Fatalf("event %+v", e)
	}
	tick()      // same answer: no event
	clk.next(t) // the spooler is idle again, having said nothing
	select {
	case e := <-ev:
		t.Fatalf("repeated status reported: %+v", e)
	default:
	}
}
