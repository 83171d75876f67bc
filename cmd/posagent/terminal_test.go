package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/display"
	"posagent/gateway/upay"
	"posagent/gateway/upay/sandbox"
	"posagent/storage"
)

// screens is a Display that hands every screen to the test.
type screens chan display.Screen

func (s screens) Show(sc display.Screen) error { s <- sc; return nil }
func (s screens) Close() error                 { return nil }

func (s screens) wait(t *testing.T, what string, pred func(display.Screen) bool) display.Screen {
	t.Helper()
	deadline := time.After(20 * time.Second) // turns a hang into a failure
	for {
		select {
		case sc := <-s:
			if pred(sc) {
				return sc
			}
		case <-deadline:
			t.Fatalf("no %s screen", what)
		}
	}
}

// TestTerminalWiring: a sale started before Run (as the control socket
// may) reaches the counter; an unplugged keypad is in the status file but
// the QR stays in front of the customer; Cancel reaches the engine.
func TestTerminalWiring(t *testing.T) {
	dir := t.TempDir()
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	sb.SetBaseURL(srv.URL)
	c, err := upay.New(sb.ClientConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	term, err := c.Activate(context.Background(), upay.ActivateRequest{AppID: "t", Code: "12345678", DeviceID: "dev-1"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetTerminal(term.SN, term.Key)
	db, err := storage.Open(filepath.Join(dir, "posagent.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	tm, err := newTerminal(slog.New(slog.DiscardHandler), "Shop", 500000)
	if err != nil {
		t.Fatal(err)
	}
	tm.statusPath = filepath.Join(dir, "status.json")
	tm.eng = agent.New(agent.Config{Prefix: "T"}, db, c, agent.SystemClock{}, nil, tm.Emit)
	tm.attach(db, c, c, "T", Config{})
	sc := make(screens, 256)
	tm.disp = sc

	o, err := tm.eng.Sale(context.Background(), 700)
	if err != nil {
		t.Fatal(err)
	}
	keys := make(chan keypad.Event)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx, keys) }()
	defer func() { cancel(); <-done }()
	qr := sc.wait(t, "QR", func(s display.Screen) bool { return s.Kind == display.AwaitingPayment })
	if qr.OrderNo != o.ClientSN {
		t.Fatalf("QR of %s, want %s", qr.OrderNo, o.ClientSN)
	}

	keys <- keypad.Event{Kind: keypad.EventDisconnected, Err: errors.New("port closed")}
	keys <- keypad.Event{Kind: keypad.EventReconnecting} // passes through; nothing to show
	var st Status
	b, _ := os.ReadFile(tm.statusPath)
	if json.Unmarshal(b, &st); st.Keypad != "disconnected: port closed" {
		t.Fatalf("status keypad %q", st.Keypad)
	}
	keys <- keypad.Event{Kind: keypad.EventConnected}
	keys <- keypad.Event{Kind: keypad.EventKey, Key: keypad.Cancel}
	cs := sc.wait(t, "cancelled", func(s display.Screen) bool { return s.Kind == display.Canceled })
	if cs.OrderNo != o.ClientSN || cs.Reason != "canceled_by_cashier" {
		t.Fatalf("cancel screen %+v", cs)
	}
	if got, _ := db.GetOrder(o.ClientSN); got.State != string(agent.Canceled) {
		t.Fatalf("order %s after Cancel", got.State)
	}
	b, _ = os.ReadFile(tm.statusPath)
	if json.Unmarshal(b, &st); st.Keypad != "connected" || st.Current != o.ClientSN {
		t.Fatalf("status %+v", st)
	}
}

// TestDemoRestoresTerminal: whichever way the demo ends (Ctrl-\ sends
// SIGQUIT, Ctrl-C SIGINT, q the Quit key, a closed window SIGHUP), it
// exits cleanly, without Go's goroutine dump, and leaves the terminal as
// it found it: echo and line editing on (termios(3): ECHO, ICANON).
func TestDemoRestoresTerminal(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(master *os.File, p *os.Process)
	}{
		{"ctrl-backslash", func(m *os.File, _ *os.Process) { m.Write([]byte{0x1c}) }},
		{"ctrl-c", func(m *os.File, _ *os.Process) { m.Write([]byte{0x03}) }},
		{"q", func(m *os.File, _ *os.Process) { m.Write([]byte("q")) }},
		{"sighup", func(_ *os.File, p *os.Process) { p.Signal(syscall.SIGHUP) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master, slave, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer master.Close()
			defer slave.Close()
			before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binPath, "demo", "--dir", t.TempDir(), "--listen", "127.0.0.1:0")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			// The pty is the demo's controlling terminal, so Ctrl-\ and
			// Ctrl-C become signals from the line discipline, as in a shell.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			ready := make(chan struct{})
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				buf := make([]byte, 4096)
				once := false
				for {
					n, err := master.Read(buf)
					out.Write(buf[:n])
					if !once && bytes.Contains(out.Bytes(), []byte("Type an amount")) {
						once = true
						close(ready)
					}
					if err != nil {
						return
					}
				}
			}()
			select {
			case <-ready:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the demo did not start")
			}
			raw, _ := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if raw.Lflag&unix.ECHO != 0 {
				t.Fatal("the demo did not turn echo off: the test would prove nothing")
			}
			tc.end(master, cmd.Process)
			waitErr := make(chan error, 1)
			go func() { waitErr <- cmd.Wait() }()
			select {
			case err = <-waitErr:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the demo did not exit")
			}
			after, _ := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			slave.Close()
			master.Close()
			<-readDone
			if err != nil {
				t.Errorf("exit: %v\n%s", err, out.String())
			}
			if bytes.Contains(out.Bytes(), []byte("goroutine ")) {
				t.Errorf("goroutine dump on exit:\n%s", out.String())
			}
			if after.Lflag&(unix.ECHO|unix.ICANON) != before.Lflag&(unix.ECHO|unix.ICANON) {
				t.Errorf("terminal left with lflag %#x, was %#x", after.Lflag, before.Lflag)
			}
		})
	}
}

// TestStatusWritesWhole: the keypad's goroutine, the printer's and the
// counter's events write the status file at the same time. Every version
// of the file a reader finds is whole JSON, and once they are done the
// file holds each device's last state, not an older snapshot written last.
func TestStatusWritesWhole(t *testing.T) {
	tm, err := newTerminal(slog.New(slog.DiscardHandler), "Shop", 500000)
	if err != nil {
		t.Fatal(err)
	}
	tm.statusPath = filepath.Join(t.TempDir(), "status.json")
	const n = 200
	var writers sync.WaitGroup
	for _, w := range []func(i int){
		func(i int) { tm.setDevice(&tm.keypad, strings.Repeat("k", i%7)+strconv.Itoa(i)) },
		func(i int) { tm.setDevice(&tm.printer, strings.Repeat("p", i%11)+strconv.Itoa(i)) },
		func(i int) { tm.writeStatus(agent.Event{}) },
	} {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range n {
				w(i)
			}
		}()
	}
	stop := make(chan struct{})
	bad := make(chan string, 1)
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(tm.statusPath)
			if err != nil {
				continue // not written yet
			}
			var st Status
			if err := json.Unmarshal(b, &st); err != nil {
				select {
				case bad <- fmt.Sprintf("%v:\n%s", err, b):
				default:
				}
			}
		}
	}()
	writers.Wait()
	close(stop)
	reader.Wait()
	select {
	case b := <-bad:
		t.Errorf("a torn status file: %s", b)
	default:
	}
	var st Status
	b, err := os.ReadFile(tm.statusPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	last := n - 1
	if want := strings.Repeat("k", last%7) + strconv.Itoa(last); st.Keypad != want {
		t.Errorf("keypad %q in the file, last set %q", st.Keypad, want)
	}
	if want := strings.Repeat("p", last%11) + strconv.Itoa(last); st.Printer != want {
		t.Errorf("printer %q in the file, last set %q", st.Printer, want)
	}
}
