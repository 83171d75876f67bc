package watchdog

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// notifySocket is a real unixgram socket standing in for systemd's
// notification socket; NOTIFY_SOCKET points at it for the test.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &notifySocket{t: t, conn: conn}
}

// next returns the next datagram. The read deadline only turns a missing
// message into a failure instead of a hung test; it orders nothing.
func (s *notifySocket) next() map[string]string {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := s.conn.Read(buf)
	if err != nil {
		s.t.Fatalf("no sd_notify message: %v", err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			s.t.Fatalf("sd_notify line %q is not KEY=VALUE (message %q)", line, buf[:n])
		}
		if _, dup := m[k]; dup {
			s.t.Fatalf("key %s twice in message %q", k, buf[:n])
		}
		m[k] = v
	}
	return m
}

// fakeClock hands every After call to the test, which decides whether and
// when it fires. The watchdog blocks in After until the test has seen the
// request, so the test always knows which wait the loop is in.
type fakeClock struct {
	reqs chan afterReq
	done chan struct{} // closed when the test ends: After stops blocking
}

type afterReq struct {
	d  time.Duration
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{reqs: make(chan afterReq), done: make(chan struct{})}
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	select {
	case c.reqs <- afterReq{d, ch}:
	case <-c.done:
	}
	return ch
}

func (c *fakeClock) expect(t *testing.T, d time.Duration) afterReq {
	t.Helper()
	select {
	case r := <-c.reqs:
		if r.d != d {
			t.Fatalf("watchdog waits %s, want %s", r.d, d)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("watchdog never waited for %s", d)
	}
	return afterReq{}
}

func (r afterReq) fire() { r.ch <- time.Time{} }

// engine is a Checker whose answers the test gives one by one. Like a
// deadlocked engine, it ignores ctx: only the test ends a call.
type engine struct {
	calls   chan struct{}
	answers chan error
}

func newEngine() *engine {
	return &engine{calls: make(chan struct{}, 16), answers: make(chan error)}
}

func (e *engine) Alive(ctx context.Context) error {
	e.calls <- struct{}{}
	return <-e.answers
}

func (e *engine) expectCall(t *testing.T) {
	t.Helper()
	select {
	case <-e.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("watchdog never asked the engine")
	}
}

func (e *engine) expectNoNewCall(t *testing.T) {
	t.Helper()
	select {
	case <-e.calls:
		t.Fatal("watchdog asked the engine again while the last call was still hanging")
	default:
	}
}

func start(t *testing.T, c Checker, clock *fakeClock, opts Options) (stop func()) {
	t.Helper()
	opts.Clock = clock
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, c, opts) }()
	return func() {
		cancel()
		close(clock.done)
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run after cancel: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	}
}

func TestReadyThenPingsOnlyWhileAlive(t *testing.T) {
	sock := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "30000000") // WatchdogSec=30s
	clock := newFakeClock()
	eng := newEngine()
	stop := start(t, eng, clock, Options{Status: func() string { return "online, 0 queued" }})
	defer stop()

	m := sock.next()
	if m["READY"] != "1" || m["STATUS"] != "online, 0 queued" {
		t.Fatalf("first message %v, want READY=1 with the status", m)
	}

	const every, deadline = 15 * time.Second, 7500 * time.Millisecond

	// Alive: one ping per round.
	for i := 0; i < 3; i++ {
		clock.expect(t, every).fire()
		eng.expectCall(t)
		clock.expect(t, deadline)
		eng.answers <- nil
		m = sock.next()
		if m["WATCHDOG"] != "1" || m["STATUS"] != "online, 0 queued" {
			t.Fatalf("round %d: %v, want WATCHDOG=1 and the status", i, m)
		}
	}

	// The engine answers with an error: no ping, the error is the status.
	clock.expect(t, every).fire()
	eng.expectCall(t)
	clock.expect(t, deadline)
	eng.answers <- errors.New("storage: write failed")
	m = sock.next()
	if _, ok := m["WATCHDOG"]; ok {
		t.Fatalf("pinged while the engine reported an error: %v", m)
	}
	if !strings.Contains(m["STATUS"], "storage: write failed") {
		t.Fatalf("status %q does not say what is wrong", m["STATUS"])
	}

	// The engine hangs: the deadline passes, no ping.
	clock.expect(t, every).fire()
	eng.expectCall(t)
	clock.expect(t, deadline).fire()
	m = sock.next()
	if _, ok := m["WATCHDOG"]; ok {
		t.Fatalf("pinged while the engine hung: %v", m)
	}
	if !strings.Contains(m["STATUS"], "did not answer") {
		t.Fatalf("status %q does not say the engine hangs", m["STATUS"])
	}

	// Still hanging next round: the same call is waited for, no new one
	// is started, still no ping.
	clock.expect(t, every).fire()
	clock.expect(t, deadline).fire()
	m = sock.next()
	if _, ok := m["WATCHDOG"]; ok {
		t.Fatalf("pinged while the engine still hung: %v", m)
	}
	eng.expectNoNewCall(t)

	// The hung call finally answers within a round: pings resume.
	clock.expect(t, every).fire()
	clock.expect(t, deadline)
	eng.answers <- nil
	m = sock.next()
	if m["WATCHDOG"] != "1" {
		t.Fatalf("no ping after the engine answered again: %v", m)
	}
}

func TestStatusCannotForgeAPing(t *testing.T) {
	sock := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "2000000")
	clock := newFakeClock()
	eng := newEngine()
	stop := start(t, eng, clock, Options{Status: func() string { return "fine\nWATCHDOG=1" }})
	defer stop()

	if m := sock.next(); m["READY"] != "1" || m["STATUS"] != "fine WATCHDOG=1" {
		t.Fatalf("READY message %v: status must stay on one line", m)
	}
	clock.expect(t, time.Second).fire()
	eng.expectCall(t)
	clock.expect(t, 500*time.Millisecond)
	eng.answers <- errors.New("hung\nWATCHDOG=1")
	m := sock.next()
	if _, ok := m["WATCHDOG"]; ok {
		t.Fatalf("an error text with a line break produced a ping: %v", m)
	}
}

func TestWithoutWatchdogSecOnlyStatus(t *testing.T) {
	sock := listenNotify(t)
	os.Unsetenv("WATCHDOG_USEC") // t.Setenv in listenNotify restores the environment
	clock := newFakeClock()
	eng := newEngine()
	stop := start(t, eng, clock, Options{StatusInterval: time.Minute, Timeout: 5 * time.Second})
	defer stop()

	if m := sock.next(); m["READY"] != "1" || m["STATUS"] != "running" {
		t.Fatalf("first message %v", m)
	}
	clock.expect(t, time.Minute).fire()
	eng.expectCall(t)
	clock.expect(t, 5*time.Second)
	eng.answers <- nil
	m := sock.next()
	if _, ok := m["WATCHDOG"]; ok {
		t.Fatalf("pinged although systemd asked for no watchdog: %v", m)
	}
	if m["STATUS"] != "running" {
		t.Fatalf("status %v", m)
	}
}

func TestWatchdogPIDOfAnotherProcessMeansNoPing(t *testing.T) {
	sock := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", "1") // the watchdog is for another process
	clock := newFakeClock()
	eng := newEngine()
	stop := start(t, eng, clock, Options{})
	defer stop()

	sock.next() // READY
	clock.expect(t, 30*time.Second).fire()
	eng.expectCall(t)
	clock.expect(t, 15*time.Second)
	eng.answers <- nil
	if m := sock.next(); m["WATCHDOG"] != "" {
		t.Fatalf("pinged for another process's watchdog: %v", m)
	}
}

func TestNoNotifySocketIsANoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	called := false
	err := Run(context.Background(), CheckerFunc(func(context.Context) error { called = true; return nil }), Options{Clock: newFakeClock()})
	if err != nil || called {
		t.Fatalf("Run outside systemd: err=%v, checker called=%v; want nil and no call", err, called)
	}
	if err := Stopping(); err != nil {
		t.Fatalf("Stopping outside systemd: %v", err)
	}
}

func TestBadEnvironmentIsAnError(t *testing.T) {
	listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "soon")
	err := Run(context.Background(), newEngine(), Options{Clock: newFakeClock()})
	if err == nil || !strings.HasPrefix(err.Error(), "watchdog: ") {
		t.Fatalf("malformed WATCHDOG_USEC: got %v, want a watchdog: error", err)
	}
}

func TestUnreachableSocketFailsReady(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody-listens"))
	err := Run(context.Background(), newEngine(), Options{Clock: newFakeClock()})
	if err == nil || !strings.Contains(err.Error(), "READY=1") {
		t.Fatalf("got %v, want an error about READY=1", err)
	}
}

func TestStopping(t *testing.T) {
	sock := listenNotify(t)
	if err := Stopping(); err != nil {
		t.Fatal(err)
	}
	if m := sock.next(); m["STOPPING"] != "1" {
		t.Fatalf("got %v, want STOPPING=1", m)
	}
}
