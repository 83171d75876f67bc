package printer

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"posagent/printer/escpos"
)

// cutSeq ends every job (GS V 66 0).
var cutSeq = []byte{0x1D, 0x56, 66, 0}

// testPrinter is the far end of a real link (a pty master, an accepted TCP
// connection). Like a printer it scans the raw stream for DLE EOT n and
// answers at once with the status byte for n, and it hands every complete
// job (up to and including the cut) to the test.
type testPrinter struct {
	rw io.ReadWriter

	mu     sync.Mutex
	status escpos.Status
	mute   bool // never answer DLE EOT
	hangUp bool // close the connection after each job (TCP)

	jobs     chan []byte
	requests chan int
	done     chan struct{}
}

func newTestPrinter(rw io.ReadWriter) *testPrinter {
	return &testPrinter{rw: rw, jobs: make(chan []byte, 16), requests: make(chan int, 64), done: make(chan struct{})}
}

func (tp *testPrinter) set(st escpos.Status, mute bool) {
	tp.mu.Lock()
	tp.status, tp.mute = st, mute
	tp.mu.Unlock()
}

func (tp *testPrinter) run() {
	defer close(tp.done)
	var job []byte
	state := 0
	buf := make([]byte, 4096)
	for {
		n, err := tp.rw.Read(buf)
		for _, c := range buf[:n] {
			job = append(job, c)
			switch {
			case state == 2 && c >= 1 && c <= 4:
				tp.mu.Lock()
				answer, mute := tp.status.Bytes()[c-1], tp.mute
				tp.mu.Unlock()
				tp.requests <- int(c)
				if !mute {
					tp.rw.Write([]byte{answer})
				}
				state = 0
			case state == 1 && c == escpos.EOT:
				state = 2
			case c == escpos.DLE:
				state = 1
			default:
				state = 0
			}
			if bytes.HasSuffix(job, cutSeq) {
				tp.jobs <- job
				job = nil
				tp.mu.Lock()
				hang := tp.hangUp
				tp.mu.Unlock()
				if c, ok := tp.rw.(io.Closer); ok && hang {
					c.Close()
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// wait returns the next job, failing the test if none comes (the bound is
// for a broken test, not a timing assertion).
func (tp *testPrinter) wait(t *testing.T) []byte {
	t.Helper()
	select {
	case j := <-tp.jobs:
		return j
	case <-time.After(20 * time.Second):
		t.Fatal("the printer received no complete job")
		return nil
	}
}

// noJob checks that nothing printable arrived so far.
func (tp *testPrinter) noJob(t *testing.T) {
	t.Helper()
	select {
	case j := <-tp.jobs:
		t.Fatalf("printer received a job it should not have: %d bytes", len(j))
	default:
	}
}

// newPTY returns a pty pair; the slave is left open by the test so that the
// printer side reopening it (reconnect) does not hang up the master.
func newPTY(t *testing.T, raw bool) (master, slave *os.File) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if raw {
		// What serial.Open does for the serial driver; a USB printer device
		// has no line discipline at all.
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		master.Close()
		slave.Close()
	})
	return master, slave
}

// tcpPrinter listens on 127.0.0.1 and runs a testPrinter per connection;
// conns delivers them in order.
func tcpPrinter(t *testing.T, setup func(*testPrinter)) (addr string, conns chan *testPrinter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = make(chan *testPrinter, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tp := newTestPrinter(c)
			if setup != nil {
				setup(tp)
			}
			conns <- tp
			go tp.run()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), conns
}
