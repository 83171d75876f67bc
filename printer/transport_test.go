package printer

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"posagent/printer/escpos"
	"posagent/printer/preview"
)

func open(t *testing.T, cfg Config) *Printer {
	t.Helper()
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestSerialOverPTY prints a slip through go.bug.st/serial on a real
// pseudo-terminal: the port is configured as asked, the printer is asked for
// its status first, and the bytes that arrive are exactly the status request
// followed by the layout, which the emulator reads back to a decodable QR.
func TestSerialOverPTY(t *testing.T) {
	master, slave := newPTY(t, false)
	tp := newTestPrinter(master)
	go tp.run()
	p := open(t, Config{Driver: "serial", Device: slave.Name(), Baud: 115200, Parity: "even"})
	if err := p.PrintSlip(context.Background(), slip); err != nil {
		t.Fatal(err)
	}
	job := tp.wait(t)

	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	// Linux forces CS8 and clears PARENB on a pty (drivers/tty/pty.c), so
	// parity shows only as input parity checking (INPCK), which the serial
	// library sets with it.
	if tio.Cflag&unix.CBAUD != unix.B115200 || tio.Iflag&unix.INPCK == 0 || tio.Cflag&unix.PARODD != 0 {
		t.Errorf("port not set to 115200, even parity: cflag %#o iflag %#o", tio.Cflag, tio.Iflag)
	}

	want, _ := p.Layout().Slip(slip)
	if !bytes.Equal(job, append(append([]byte(nil), escpos.Request...), want...)) {
		t.Fatalf("printer got %d bytes, want status request + %d-byte slip", len(job), len(want))
	}
	page := checkPage(t, job, 384, false, []string{"Corner Cafe", "¥12.50"}, slip.QR)
	if len(page.StatusRequests) != 4 {
		t.Errorf("status requests %v", page.StatusRequests)
	}
}

// TestStatusErrors: the printer's DLE EOT answers turn into errors before
// anything is printed, so the job does not wait inside a stuck printer.
func TestStatusErrors(t *testing.T) {
	master, slave := newPTY(t, false)
	tp := newTestPrinter(master)
	go tp.run()
	p := open(t, Config{Driver: "serial", Device: slave.Name(), StatusTimeout: 2 * time.Second})
	ctx := context.Background()

	cases := []struct {
		st   escpos.Status
		want error
		text string
	}{
		{escpos.Status{Offline: true, PaperOut: true}, ErrPaperOut, "out of paper"},
		{escpos.Status{Offline: true, CoverOpen: true}, ErrCoverOpen, "cover open"},
		{escpos.Status{Offline: true}, ErrOffline, "offline"},
		{escpos.Status{Offline: true, Error: true, CutterError: true}, ErrOffline, "cutter"},
	}
	for _, c := range cases {
		tp.set(c.st, false)
		err := p.PrintReceipt(ctx, paid)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("status %+v: err = %v, want %v mentioning %q", c.st, err, c.want, c.text)
		}
		st, err := p.Status(ctx)
		if err != nil || !st.Known || !errors.Is(st.Err(), c.want) {
			t.Errorf("Status() = %v (%v), %v", st, st.Err(), err)
		}
	}
	tp.noJob(t)

	tp.set(escpos.Status{PaperNearEnd: true}, false)
	st, err := p.Status(ctx)
	if err != nil || st.Err() != nil || st.String() != "ready, paper near end" {
		t.Fatalf("near end: %v %v", st, err)
	}
	if err := p.PrintReceipt(ctx, paid); err != nil {
		t.Fatal(err)
	}
	checkPage(t, tp.wait(t), 384, false, []string{"PAID"}, "")
}

// TestSilentPrinterIsOffline: no answer to DLE EOT within StatusTimeout is
// offline, and the call returns.
func TestSilentPrinterIsOffline(t *testing.T) {
	master, slave := newPTY(t, false)
	tp := newTestPrinter(master)
	tp.set(escpos.Status{}, true)
	go tp.run()
	p := open(t, Config{Driver: "serial", Device: slave.Name(), StatusTimeout: 1500 * time.Millisecond})
	err := p.PrintSlip(context.Background(), slip)
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "no answer to DLE EOT") {
		t.Fatalf("err = %v", err)
	}
	tp.noJob(t)
	// The printer wakes up: the next job reconnects and prints.
	tp.set(escpos.Status{}, false)
	if err := p.PrintSlip(context.Background(), slip); err != nil {
		t.Fatal(err)
	}
	tp.wait(t)
}

// TestWriteTimeout: a printer that stops taking bytes (the pty master is
// never read, so its buffer fills) ends the write after WriteTimeout
// without progress instead of blocking the caller.
func TestWriteTimeout(t *testing.T) {
	_, slave := newPTY(t, false)
	p := open(t, Config{Driver: "serial", Device: slave.Name(), NoStatus: true, WriteTimeout: 200 * time.Millisecond})
	err := p.Send(context.Background(), make([]byte, 1<<20))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestContextCancelled(t *testing.T) {
	master, slave := newPTY(t, false)
	tp := newTestPrinter(master)
	tp.set(escpos.Status{}, true)
	go tp.run()
	p := open(t, Config{Driver: "serial", Device: slave.Name(), StatusTimeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-tp.requests // the status request went out: cancel while waiting for the answer
		cancel()
	}()
	if err := p.PrintSlip(ctx, slip); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// TestUSBDevice drives the usb driver (a plain character device opened
// read-write) over a raw pty standing in for /dev/usb/lp0.
func TestUSBDevice(t *testing.T) {
	master, slave := newPTY(t, true)
	tp := newTestPrinter(master)
	go tp.run()
	p := open(t, Config{Driver: "usb", Device: slave.Name(), PaperMM: 80, Charset: "gb18030", NativeQR: true})
	if err := p.PrintReceipt(context.Background(), refundedCN); err != nil {
		t.Fatal(err)
	}
	checkPage(t, tp.wait(t), 576, true, []string{"街角咖啡", "REFUNDED", "￥5.00"}, "")
	if err := p.SelfTest(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkPage(t, tp.wait(t), 576, true, []string{"SELF-TEST"}, "POSAGENT SELF-TEST native")
}

func TestUSBMissingDevice(t *testing.T) {
	p := open(t, Config{Driver: "usb", Device: filepath.Join(t.TempDir(), "lp9")})
	_, err := p.Status(context.Background())
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "lp9") {
		t.Fatalf("err = %v", err)
	}
}

// TestTCP prints to a network printer on 127.0.0.1 and survives the
// printer going away and coming back on the same address.
func TestTCP(t *testing.T) {
	addr, conns := tcpPrinter(t, nil)
	p := open(t, Config{Driver: "tcp", Device: addr, NativeQR: true})
	ctx := context.Background()
	if err := p.PrintSlip(ctx, slip); err != nil {
		t.Fatal(err)
	}
	tp := <-conns
	checkPage(t, tp.wait(t), 384, true, []string{"Corner Cafe"}, slip.QR)
	st, err := p.Status(ctx)
	if err != nil || st.String() != "ready" {
		t.Fatalf("status %v %v", st, err)
	}
}

func TestTCPRefusedThenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := open(t, Config{Driver: "tcp", Device: addr})
	if err := p.PrintSlip(context.Background(), slip); !errors.Is(err, ErrOffline) {
		t.Fatalf("err = %v, want ErrOffline", err)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("could not listen again on %s: %v", addr, err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		tp := newTestPrinter(c)
		go tp.run()
		got <- tp.wait(t)
	}()
	if err := p.PrintSlip(context.Background(), slip); err != nil {
		t.Fatal(err)
	}
	checkPage(t, <-got, 384, false, []string{"Corner Cafe"}, slip.QR)
}

// TestFileDriver appends raw jobs to a file, which the emulator reads back.
func TestFileDriver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "printer.bin")
	p := open(t, Config{Driver: "file", Device: path})
	ctx := context.Background()
	if err := p.PrintSlip(ctx, slip); err != nil {
		t.Fatal(err)
	}
	if err := p.PrintReceipt(ctx, paid); err != nil {
		t.Fatal(err)
	}
	st, err := p.Status(ctx)
	if err != nil || st.Known || st.Err() != nil {
		t.Fatalf("file status %v %v", st, err)
	}
	p.Close()
	if err := p.PrintSlip(ctx, slip); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := preview.Parse(data, preview.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Cuts) != 2 || len(pg.StatusRequests) != 0 {
		t.Fatalf("cuts %v status requests %v", pg.Cuts, pg.StatusRequests)
	}
}

func TestOpenBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Driver: "lpt", Device: "x"},
		{Driver: "serial"},
		{Driver: "serial", Device: "/dev/ttyX", Parity: "mark"},
		{Driver: "file", Device: "x", PaperMM: 76},
		{Driver: "file", Device: "x", Charset: "utf8"},
		{Driver: "file", Device: "x", WriteTimeout: -1},
	} {
		if _, err := Open(cfg); err == nil || !strings.HasPrefix(err.Error(), "printer: ") {
			t.Errorf("%+v: err = %v", cfg, err)
		}
	}
}

// einvalReader stands in for usblp's answer to a read on a printer that is
// not bidirectional (EINVAL); writes go to a real file.
type einvalReader struct{ *os.File }

func (einvalReader) Read([]byte) (int, error) {
	return 0, &os.PathError{Op: "read", Path: "/dev/usb/lp0", Err: syscall.EINVAL}
}

func TestOneWayUSBPrinterStillPrints(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "lp0"))
	if err != nil {
		t.Fatal(err)
	}
	p := open(t, Config{Driver: "file", Device: f.Name()})
	p.dial = func(context.Context) (*link, error) {
		return &link{name: "lp0", rw: einvalReader{f}, closer: f, canRead: true, mayBeOneWay: true}, nil
	}
	ctx := context.Background()
	if err := p.PrintReceipt(ctx, paid); err != nil {
		t.Fatal(err)
	}
	if err := p.PrintReceipt(ctx, paid); err != nil {
		t.Fatal(err)
	}
	st, err := p.Status(ctx)
	if err != nil || st.Known {
		t.Fatalf("status %v %v", st, err)
	}
	data, _ := os.ReadFile(f.Name())
	pg, err := preview.Parse(data, preview.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// One status request (the one that found the link one-way), two receipts.
	if len(pg.StatusRequests) != 4 || len(pg.Cuts) != 2 {
		t.Fatalf("status requests %v, cuts %v", pg.StatusRequests, pg.Cuts)
	}
}

// TestConcurrentJobsDoNotInterleave: jobs from several goroutines reach the
// printer whole, one after the other (an interleaved stream would not parse).
func TestConcurrentJobsDoNotInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "printer.bin")
	p := open(t, Config{Driver: "file", Device: path})
	errs := make(chan error, 12)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 3; i++ {
				if g%2 == 0 {
					errs <- p.PrintReceipt(context.Background(), paid)
				} else {
					errs <- p.PrintSlip(context.Background(), slip)
				}
			}
		}()
	}
	for range 12 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	pg, err := preview.Parse(data, preview.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Cuts) != 12 || len(pg.Rasters) != 6 {
		t.Fatalf("cuts %d rasters %d", len(pg.Cuts), len(pg.Rasters))
	}
}
