package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.bug.st/serial"

	"posagent/printer/escpos"
)

// errOneWay: the link cannot carry the printer's answers.
var errOneWay = errors.New("printer: one-way link")

// chunk is the write size: small enough that "no progress for WriteTimeout"
// is meaningful at 9600 baud (512 bytes take 0.53 s), large enough to keep
// system calls few.
const chunk = 512

// link is an open connection to a printer. Reads and writes run in a
// goroutine watched by a timer: on timeout or cancellation the link is
// closed, which unblocks the goroutine (sockets, ptys, serial reads), and
// the link is marked broken so the Printer dials again next time. A write
// stuck in a serial driver that ignores close is abandoned, not waited for.
type link struct {
	name    string
	rw      io.ReadWriter
	closer  io.Closer
	canRead bool
	// readPoll is set for go.bug.st/serial, whose Read returns (0, nil)
	// when its read timeout passes.
	readPoll bool
	// mayBeOneWay is set for USB printer devices: the usblp driver refuses
	// reads (EINVAL) when the printer is not bidirectional.
	mayBeOneWay bool

	dead      atomic.Bool
	closeOnce sync.Once
}

func (l *link) broken() bool { return l.dead.Load() }

func (l *link) close() error {
	var err error
	l.closeOnce.Do(func() {
		l.dead.Store(true)
		err = l.closer.Close()
	})
	return err
}

// write sends data; timeout is the longest time without progress.
func (l *link) write(ctx context.Context, data []byte, timeout time.Duration) error {
	progress := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		for len(data) > 0 {
			n, err := l.rw.Write(data[:min(chunk, len(data))])
			data = data[n:]
			if err != nil {
				done <- err
				return
			}
			select {
			case progress <- struct{}{}:
			default:
			}
		}
		done <- nil
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				l.close()
				return fmt.Errorf("%w: writing to %s: %v", ErrOffline, l.name, err)
			}
			return nil
		case <-progress:
			t.Reset(timeout)
		case <-t.C:
			l.close()
			return fmt.Errorf("%w: %s accepted nothing for %v (printer off, cable out or buffer full)", ErrTimeout, l.name, timeout)
		case <-ctx.Done():
			l.close()
			return fmt.Errorf("printer: writing to %s: %w", l.name, ctx.Err())
		}
	}
}

// status sends the four DLE EOT requests and reads the four answers.
func (l *link) status(ctx context.Context, writeTimeout, timeout time.Duration) (escpos.Status, error) {
	if err := l.write(ctx, escpos.Request, writeTimeout); err != nil {
		return escpos.Status{}, err
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		// No deadline of its own: on timeout the caller closes the link,
		// which ends the Read with an error.
		var got []byte
		buf := make([]byte, 16)
		for len(got) < 4 {
			n, err := l.rw.Read(buf)
			for _, c := range buf[:n] {
				// XON/XOFF: serial printers with software flow control send
				// these unasked; they are never status answers.
				if c != 0x11 && c != 0x13 {
					got = append(got, c)
				}
			}
			if err != nil {
				done <- result{got, err}
				return
			}
			if n == 0 && !l.readPoll {
				done <- result{got, io.ErrUnexpectedEOF}
				return
			}
		}
		done <- result{got, nil}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		if r.err != nil && l.mayBeOneWay && errors.Is(r.err, syscall.EINVAL) {
			return escpos.Status{}, errOneWay
		}
		if r.err != nil {
			l.close()
			return escpos.Status{}, fmt.Errorf("%w: reading status from %s: %v", ErrOffline, l.name, r.err)
		}
		st, err := escpos.ParseStatus(r.b[:4])
		if err != nil {
			l.close()
			return escpos.Status{}, fmt.Errorf("%w: %s: %v", ErrOffline, l.name, err)
		}
		return st, nil
	case <-t.C:
		l.close()
		return escpos.Status{}, fmt.Errorf("%w: no answer to DLE EOT from %s within %v (set NoStatus if this printer never answers)", ErrOffline, l.name, timeout)
	case <-ctx.Done():
		l.close()
		return escpos.Status{}, fmt.Errorf("printer: status of %s: %w", l.name, ctx.Err())
	}
}

func dialer(cfg *Config) (func(context.Context) (*link, error), error) {
	if cfg.Device == "" {
		return nil, fmt.Errorf("printer: no device for driver %q", cfg.Driver)
	}
	dev := cfg.Device
	switch cfg.Driver {
	case "serial":
		mode := &serial.Mode{BaudRate: cfg.Baud, DataBits: 8, StopBits: serial.OneStopBit}
		if mode.BaudRate == 0 {
			mode.BaudRate = 9600
		}
		if mode.BaudRate < 0 {
			return nil, fmt.Errorf("printer: baud rate %d", cfg.Baud)
		}
		switch cfg.Parity {
		case "", "none":
			mode.Parity = serial.NoParity
		case "even":
			mode.Parity = serial.EvenParity
		case "odd":
			mode.Parity = serial.OddParity
		default:
			return nil, fmt.Errorf("printer: parity %q, want none, even or odd", cfg.Parity)
		}
		return func(context.Context) (*link, error) {
			port, err := serial.Open(dev, mode)
			if err != nil {
				return nil, fmt.Errorf("opening serial %s: %w%s", dev, err, permHint(err, "dialout"))
			}
			// Reads poll so that a status read can give up; see link.status.
			if err := port.SetReadTimeout(50 * time.Millisecond); err != nil {
				port.Close()
				return nil, fmt.Errorf("serial %s: %w", dev, err)
			}
			return &link{name: dev, rw: port, closer: port, canRead: true, readPoll: true}, nil
		}, nil
	case "usb":
		return func(context.Context) (*link, error) {
			f, err := os.OpenFile(dev, os.O_RDWR, 0)
			if err != nil {
				return nil, fmt.Errorf("opening %w%s", err, permHint(err, "lp"))
			}
			return &link{name: dev, rw: f, closer: f, canRead: true, mayBeOneWay: true}, nil
		}, nil
	case "tcp":
		addr := dev
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, "9100")
		}
		timeout := cfg.WriteTimeout
		return func(ctx context.Context) (*link, error) {
			d := net.Dialer{Timeout: timeout}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return &link{name: addr, rw: c, closer: c, canRead: true}, nil
		}, nil
	case "file":
		return func(context.Context) (*link, error) {
			f, err := os.OpenFile(dev, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return nil, fmt.Errorf("opening %w", err)
			}
			return &link{name: dev, rw: struct {
				io.Reader
				io.Writer
			}{strings.NewReader(""), f}, closer: f}, nil
		}, nil
	}
	return nil, fmt.Errorf("printer: driver %q, want serial, usb, tcp or file", cfg.Driver)
}

func permHint(err error, group string) string {
	var pe *serial.PortError
	if errors.Is(err, os.ErrPermission) || (errors.As(err, &pe) && pe.Code() == serial.PermissionDenied) {
		return fmt.Sprintf(" (is the service user in the %q group?)", group)
	}
	return ""
}
