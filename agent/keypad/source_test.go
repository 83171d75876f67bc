package keypad

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.bug.st/serial/enumerator"
)

// guard bounds every wait in these tests. It never paces the test: events
// and fake timers do. It only turns a hang into a failure.
const guard = 10 * time.Second

// fakeClock replaces time.After: each call is reported on calls with the
// channel that fires it, and fires only when the test says so.
type fakeClock struct{ calls chan timerCall }

type timerCall struct {
	d time.Duration
	c chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{calls: make(chan timerCall, 256)} }

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.calls <- timerCall{d, c}
	return c
}

// forget drops the timers armed so far. Call it before the write whose
// timer a test means to fire: the earlier ones belong to reads already
// decoded (Source arms the timer before it sends the keys of a read).
func (f *fakeClock) forget() {
	for {
		select {
		case <-f.calls:
		default:
			return
		}
	}
}

// fire waits for a timer of duration d and fires it. Timers of duration
// skip (the sequence timeout, armed whenever a read ends inside an escape
// sequence) are passed over; any other duration fails the test.
func (f *fakeClock) fire(t *testing.T, d, skip time.Duration) {
	t.Helper()
	deadline := time.After(guard)
	for {
		select {
		case c := <-f.calls:
			if c.d == d {
				c.c <- time.Time{}
				return
			}
			if c.d != skip {
				t.Fatalf("timer for %v armed, want %v", c.d, d)
			}
		case <-deadline:
			t.Fatalf("no timer for %v armed", d)
		}
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func next(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(guard):
		t.Fatal("no event")
	}
	panic("unreachable")
}

// expectKeys reads len(want) events and checks they are those keys.
func expectKeys(t *testing.T, events <-chan Event, want string) {
	t.Helper()
	var got []Key
	for range strings.Fields(want) {
		ev := next(t, events)
		if ev.Kind != EventKey {
			t.Fatalf("got event %v while waiting for keys %q (so far %q)", ev, want, names(got))
		}
		got = append(got, ev.Key)
	}
	if names(got) != want {
		t.Fatalf("keys %q, want %q", names(got), want)
	}
}

func expectKind(t *testing.T, events <-chan Event, kind EventKind) Event {
	t.Helper()
	ev := next(t, events)
	if ev.Kind != kind {
		t.Fatalf("got event %v, want %v", ev, kind)
	}
	return ev
}

// runSource starts src and returns its events and a stop function that
// cancels it and returns Run's error.
func runSource(t *testing.T, src *Source) (<-chan Event, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, events) }()
	stopped := false
	stop := func() error {
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(guard):
			t.Fatal("Run did not return after cancel")
		}
		return nil
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return events, stop
}

// newPty opens a pseudo-terminal pair. The slave side is what a USB serial
// adapter would be; closing the master is pulling the cable.
func newPty(t testing.TB) (master *os.File, slaveName string) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	name := slave.Name()
	// The source opens the slave by name with go.bug.st/serial; our own
	// handle is not needed.
	if err := slave.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	return master, name
}

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// TestSerialPtyByName opens a pty slave by its /dev/pts/N name through the
// default path (OpenSerial), types on the master, then unplugs it.
func TestSerialPtyByName(t *testing.T) {
	master, name := newPty(t)
	clk := newFakeClock()
	const seq, min = 7 * time.Millisecond, 100 * time.Millisecond
	src, err := NewSerial(Options{Port: name, Baud: 9600, ReadTimeout: 5 * time.Millisecond,
		SeqTimeout: seq, BackoffMin: min, BackoffMax: time.Second, After: clk.After, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	events, stop := runSource(t, src)
	if ev := expectKind(t, events, EventConnected); ev.Port != name {
		t.Fatalf("connected to %q, want %q", ev.Port, name)
	}
	write(t, master, "12.50\r\n")
	expectKeys(t, events, "1 2 dot 5 0 enter")
	// Line noise and an arrow key between keys.
	write(t, master, "\xff\x00\x1b[A3\x80")
	expectKeys(t, events, "3")
	// A lone ESC waits for the sequence timeout, then is Cancel.
	clk.forget()
	write(t, master, "\x1b")
	clk.fire(t, seq, -1)
	expectKeys(t, events, "cancel")
	// A numpad Enter in application mode.
	write(t, master, "\x1bOM")
	expectKeys(t, events, "enter")

	// Pull the cable.
	master.Close()
	ev := expectKind(t, events, EventDisconnected)
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), name) || !strings.HasPrefix(ev.Err.Error(), "keypad: ") {
		t.Fatalf("disconnect error %v should name the package and %s", ev.Err, name)
	}
	if !strings.Contains(ev.Err.Error(), "unplugged") {
		t.Errorf("disconnect error %q does not say the keypad may be unplugged", ev.Err)
	}
	ev = expectKind(t, events, EventReconnecting)
	if ev.Attempt != 1 || ev.Delay != min {
		t.Fatalf("first retry %v, want attempt 1 in %v", ev, min)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}

// TestSerialPtyLineEndings types Enter through a real pty the way three
// kinds of keypad send it: CR only, CR LF (DefaultKeymap's doc: both are one
// Enter), and the numpad's ESC O M (VT100 application keypad, DECKPAM). The
// fake clock never fires the sequence timeout, so a key that waited for it
// would never arrive: the test fails on the guard instead of measuring time.
// Only the lone ESC (Cancel, or the start of ESC O M?) may wait.
func TestSerialPtyLineEndings(t *testing.T) {
	master, name := newPty(t)
	clk := newFakeClock()
	const seq = 7 * time.Millisecond
	src, err := NewSerial(Options{Port: name, ReadTimeout: 5 * time.Millisecond, SeqTimeout: seq,
		After: clk.After, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	events, _ := runSource(t, src)
	expectKind(t, events, EventConnected)
	for _, tc := range []struct{ name, typed, want string }{
		{"CR only", "5\r", "5 enter"},
		{"CR LF", "6\r\n", "6 enter"},
		{"ESC O M", "7\x1bOM", "7 enter"},
	} {
		write(t, master, tc.typed)
		expectKeys(t, events, tc.want)
	}
	// CR and its LF in two reads: the LF is still swallowed, not a second
	// Enter; the next digit comes through.
	write(t, master, "\r")
	expectKeys(t, events, "enter")
	write(t, master, "\n8")
	expectKeys(t, events, "8")
	// CR CR is two Enters: the second CR does not continue CR LF.
	write(t, master, "\r\r")
	expectKeys(t, events, "enter enter")
	// A lone ESC is ambiguous and waits for the timeout.
	clk.forget()
	write(t, master, "\x1b")
	clk.fire(t, seq, -1)
	expectKeys(t, events, "cancel")
}

// TestSerialPtyCancel: ending ctx while the port is open closes the port
// and returns; the master sees the slave side go away.
func TestSerialPtyCancel(t *testing.T) {
	master, name := newPty(t)
	src, err := NewSerial(Options{Port: name, ReadTimeout: -1, After: newFakeClock().After})
	if err != nil {
		t.Fatal(err)
	}
	events, stop := runSource(t, src)
	expectKind(t, events, EventConnected)
	write(t, master, "1")
	expectKeys(t, events, "1")
	// With no read timeout, only Close can end the blocked serial read.
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	// Every slave handle is closed now, so the master reads EIO instead of
	// blocking.
	readErr := make(chan error, 1)
	go func() {
		_, err := master.Read(make([]byte, 16))
		readErr <- err
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("master read data after Run returned")
		}
	case <-time.After(guard):
		t.Fatal("master still connected after Run returned: the port was not closed")
	}
}

// TestSerialPtyReconnect unplugs a pty, fails one reopen, then plugs in a
// new pty (with a new /dev/pts number, as a USB adapter re-enumerates).
func TestSerialPtyReconnect(t *testing.T) {
	clk := newFakeClock()
	opens := make(chan func() (io.ReadCloser, error), 1)
	const seq, min, max = 7 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond
	src, err := NewSerial(Options{
		Port: "keypad", ReadTimeout: 5 * time.Millisecond, SeqTimeout: seq,
		BackoffMin: min, BackoffMax: max, After: clk.After, Logger: testLogger(t),
		Open: func(ctx context.Context) (io.ReadCloser, error) {
			select {
			case open := <-opens:
				return open()
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	openPty := func(name string) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return OpenSerial(name, 9600, 5*time.Millisecond) }
	}
	masterA, nameA := newPty(t)
	opens <- openPty(nameA)
	events, stop := runSource(t, src)
	expectKind(t, events, EventConnected)
	write(t, masterA, "7")
	expectKeys(t, events, "7")
	write(t, masterA, "\r")
	expectKeys(t, events, "enter") // at once: CR LF would be Enter too

	masterA.Close()
	ev := expectKind(t, events, EventDisconnected)
	if ev.Err == nil {
		t.Fatal("disconnect without error")
	}
	if ev := expectKind(t, events, EventReconnecting); ev.Attempt != 1 || ev.Delay != min {
		t.Fatalf("got %v, want attempt 1 in %v", ev, min)
	}
	// The adapter is not back yet: the reopen fails, the delay doubles, and
	// the cashier is not told "unplugged" a second time.
	opens <- func() (io.ReadCloser, error) { return nil, errors.New("keypad: open /dev/ttyUSB0: no such file") }
	clk.fire(t, min, seq)
	if ev := expectKind(t, events, EventReconnecting); ev.Attempt != 2 || ev.Delay != 2*min || ev.Err == nil {
		t.Fatalf("got %v, want attempt 2 in %v with the open error", ev, 2*min)
	}
	masterB, nameB := newPty(t)
	opens <- openPty(nameB)
	clk.fire(t, 2*min, seq)
	expectKind(t, events, EventConnected)
	write(t, masterB, "4.2\r\n")
	expectKeys(t, events, "4 dot 2 enter")

	// The connection delivered keys, so the next outage starts from the
	// minimum delay again.
	masterB.Close()
	expectKind(t, events, EventDisconnected)
	if ev := expectKind(t, events, EventReconnecting); ev.Attempt != 1 || ev.Delay != min {
		t.Fatalf("got %v, want attempt 1 in %v after a good connection", ev, min)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

// TestSerialMissingPortBacksOff opens a device that does not exist through
// the real serial library: Disconnected once, then retries at doubling
// delays up to the maximum.
func TestSerialMissingPortBacksOff(t *testing.T) {
	clk := newFakeClock()
	const min, max = 100 * time.Millisecond, 350 * time.Millisecond
	src, err := NewSerial(Options{Port: "/dev/posagent-no-such-keypad", BackoffMin: min, BackoffMax: max, After: clk.After, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	events, stop := runSource(t, src)
	ev := expectKind(t, events, EventDisconnected)
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), "/dev/posagent-no-such-keypad") || !strings.Contains(ev.Err.Error(), "plugged in") {
		t.Fatalf("open error %v should name the port and give a hint", ev.Err)
	}
	for i, want := range []time.Duration{min, 2 * min, max, max, max} {
		ev := expectKind(t, events, EventReconnecting)
		if ev.Attempt != i+1 || ev.Delay != want {
			t.Fatalf("retry %d: %v, want delay %v", i+1, ev, want)
		}
		clk.fire(t, want, -1)
	}
	// The loop keeps going; stop it.
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

// TestSerialFailingPortNotHammered: a port that opens but fails at once (a
// pipe whose writer is gone reads EOF) must not reset the backoff.
func TestSerialFailingPortNotHammered(t *testing.T) {
	clk := newFakeClock()
	const min = 100 * time.Millisecond
	src, err := NewSerial(Options{Port: "pipe", BackoffMin: min, BackoffMax: time.Second, After: clk.After, Logger: testLogger(t),
		Open: func(context.Context) (io.ReadCloser, error) {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			w.Close()
			return r, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	events, stop := runSource(t, src)
	for i, want := range []time.Duration{min, 2 * min, 4 * min} {
		expectKind(t, events, EventConnected)
		if ev := expectKind(t, events, EventDisconnected); !errors.Is(ev.Err, io.EOF) {
			t.Fatalf("disconnect error %v, want EOF", ev.Err)
		}
		if ev := expectKind(t, events, EventReconnecting); ev.Delay != want {
			t.Fatalf("retry %d in %v, want %v", i+1, ev.Delay, want)
		}
		clk.fire(t, want, -1)
	}
	stop()
}

// timeoutReader behaves like go.bug.st/serial with a read timeout on an idle
// port: many (0, nil) reads, then data, then the port is closed.
type timeoutReader struct {
	idle  int
	data  []byte
	reads int
}

func (r *timeoutReader) Read(p []byte) (int, error) {
	r.reads++
	if r.idle > 0 {
		r.idle--
		return 0, nil
	}
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	return 0, errors.New("Port has been closed")
}

func (r *timeoutReader) Close() error { return nil }

// TestReadTimeoutIsNotEOF: (0, nil) from a timed-out read is neither data
// nor an error. (bufio.Reader gives up with io.ErrNoProgress after 100 of
// them; this is 1000.)
func TestReadTimeoutIsNotEOF(t *testing.T) {
	r := &timeoutReader{idle: 1000, data: []byte("5\r\n")}
	clk := newFakeClock()
	src, err := NewSerial(Options{Port: "idle", After: clk.After, Open: func(context.Context) (io.ReadCloser, error) { return r, nil }})
	if err != nil {
		t.Fatal(err)
	}
	events, stop := runSource(t, src)
	expectKind(t, events, EventConnected)
	expectKeys(t, events, "5 enter")
	ev := expectKind(t, events, EventDisconnected)
	if !strings.Contains(ev.Err.Error(), "Port has been closed") {
		t.Fatalf("disconnect error %v", ev.Err)
	}
	stop()
	if r.reads != 1000+1+1 {
		t.Fatalf("%d reads, want 1002 (1000 timeouts, data, error)", r.reads)
	}
}

// TestReaderSource reads a script the way the demo reads stdin.
func TestReaderSource(t *testing.T) {
	src := NewReader(strings.NewReader("12.50\n\x1b[Ax\b9\nq"), Options{})
	events := make(chan Event, 64)
	if err := src.Run(context.Background(), events); err != nil {
		t.Fatalf("Run = %v, want nil at EOF", err)
	}
	close(events)
	var got []string
	for ev := range events {
		got = append(got, ev.String())
	}
	want := "connected stdin|key 1|key 2|key dot|key 5|key 0|key enter|key clear|key backspace|key 9|key enter|key quit|disconnected stdin: EOF"
	if strings.Join(got, "|") != want {
		t.Fatalf("events\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
}

// TestReaderSourcePipe: a lone ESC on a pipe (a terminal in raw mode) is
// decided by the sequence timeout, not by the next key.
func TestReaderSourcePipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	clk := newFakeClock()
	src := NewReader(r, Options{SeqTimeout: 3 * time.Millisecond, After: clk.After})
	events, _ := runSource(t, src)
	expectKind(t, events, EventConnected)
	write(t, w, "\x1b")
	clk.fire(t, 3*time.Millisecond, -1)
	expectKeys(t, events, "cancel")
	write(t, w, "8")
	expectKeys(t, events, "8")
	w.Close()
	if ev := expectKind(t, events, EventDisconnected); !errors.Is(ev.Err, io.EOF) {
		t.Fatalf("got %v", ev)
	}
}

func TestNewSerialOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{Port: "/dev/ttyUSB0", Baud: -1},
		{Port: "/dev/ttyUSB0", BackoffMin: time.Minute, BackoffMax: time.Second},
	} {
		if _, err := NewSerial(o); err == nil || !strings.HasPrefix(err.Error(), "keypad: Options.") {
			t.Errorf("NewSerial(%+v) error = %v", o, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	min, max := 250*time.Millisecond, 10*time.Second
	want := []time.Duration{250, 500, 1000, 2000, 4000, 8000, 10000, 10000}
	for i, w := range want {
		if got := backoff(min, max, i+1); got != w*time.Millisecond {
			t.Errorf("backoff attempt %d = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := backoff(min, max, 1<<30); got != max {
		t.Errorf("backoff after many attempts = %v", got)
	}
	if got := backoff(time.Duration(1<<62), time.Duration(1<<62+1), 10); got != time.Duration(1<<62+1) {
		t.Errorf("backoff overflow = %v", got)
	}
}

func TestFindUSB(t *testing.T) {
	list := []*enumerator.PortDetails{
		{Name: "/dev/ttyS0"},
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "0403", PID: "6001", SerialNumber: "A1"},
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: "0403", PID: "6001", SerialNumber: "B2"},
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "2341", PID: "0043"},
		nil,
	}
	tests := []struct {
		vid, pid, sn, want, err string
	}{
		{"0403", "6001", "B2", "/dev/ttyUSB1", ""},
		{"2341", "", "", "/dev/ttyACM0", ""},
		{"2341", "0043", "", "/dev/ttyACM0", ""},
		{"0403", "6001", "", "", "2 USB serial ports match"},
		{"0403", "6001", "C3", "", "no USB serial port"},
		{"1a86", "7523", "", "", "no USB serial port"},
	}
	for _, tt := range tests {
		got, err := findUSB(list, tt.vid, tt.pid, tt.sn)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("findUSB(%s, %s, %q) = %q, %v; want %q, %q", tt.vid, tt.pid, tt.sn, got, err, tt.want, tt.err)
		}
	}
}

func TestOpenReturningNothing(t *testing.T) {
	clk := newFakeClock()
	src, err := NewSerial(Options{Port: "odd", After: clk.After, Open: func(context.Context) (io.ReadCloser, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	events, stop := runSource(t, src)
	if ev := expectKind(t, events, EventDisconnected); ev.Err == nil || !strings.Contains(ev.Err.Error(), "neither a port nor an error") {
		t.Fatalf("got %v", ev)
	}
	stop()
}
