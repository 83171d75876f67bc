// Package printer prints QR slips and receipts on ESC/POS thermal printers
// over a serial port, a USB printer device (/dev/usb/lp0), the network
// (raw TCP, port 9100) or into a file.
//
// Why it is shaped this way:
//
//   - The sale engine must never wait on a printer. A Printer call has a
//     deadline on every write (no progress for Config.WriteTimeout ends it)
//     and asks the printer for its state (DLE EOT) before a job, so an
//     offline printer, an open cover or an empty roll is a clear error
//     (ErrOffline, ErrCoverOpen, ErrPaperOut) instead of a job that sits in
//     the printer's buffer and comes out later, or twice. The Spooler goes
//     further: Submit returns at once and a goroutine retries with backoff.
//   - Native QR (GS ( k) is fast but printers without it print junk, so it is
//     a per-printer setting (Config.NativeQR) and raster (GS v 0) is the
//     default.
//   - There is no Unicode in ESC/POS. Chinese printers take GB18030/GBK after
//     FS &; other printers get their code page, and a line with characters
//     it lacks goes out as an image drawn with WenQuanYi Micro Hei (the
//     pre-rendered words of display/bitmapfont, the system font for the
//     rest). UTF-8 is never sent.
//   - Words come from display/locale (Config.Locale), amounts carry the
//     currency's sign (¥, HK$), times are in one configured zone.
//
// The bytes come from package escpos; package preview renders any stream back
// to a PNG (the test suite uses it as an independent reader).
//
// Troubleshooting: "permission denied" on /dev/ttyUSB0 or /dev/usb/lp0 means
// the service user is not in the dialout or lp group; ErrOffline with "no
// answer to DLE EOT" on a printer that does print means it does not implement
// real-time status (some USB printers): set Config.NoStatus; junk text where
// the QR should be means the printer has no native QR: leave NativeQR off.
package printer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"posagent/agent/report"
	"posagent/printer/escpos"
)

// Config describes one printer.
type Config struct {
	// Driver is "serial", "usb", "tcp" or "file".
	Driver string
	// Device is the serial device (/dev/ttyUSB0), the USB printer device
	// (/dev/usb/lp0), host:port for tcp (port 9100 if none is given) or the
	// file the raw bytes are appended to.
	Device string
	// Baud and Parity are for serial only: 0 means 9600, "" means "none"
	// ("even" and "odd" are the others). 8 data bits, 1 stop bit.
	Baud   int
	Parity string
	// PaperMM is 58 (384 dots, default) or 80 (576 dots).
	PaperMM int
	// NativeQR prints QR codes with GS ( k. Off (the default) sends them as
	// raster images, which every printer can print but ~25× more bytes.
	NativeQR bool
	// Charset is the printer's text encoding: "cp437" (default), "cp850",
	// "cp858", "wpc1252", "cp866", "gb18030" or "gbk" (Chinese printers
	// whose font has only the double-byte part of GB18030).
	Charset string
	// TextFont is an optional TTF/OTF/TTC font file (for example a CJK font
	// such as WenQuanYi). A line holding characters the Charset lacks is
	// printed as an image drawn with this font; without it, with the glyphs
	// of display/bitmapfont (every locale word pre-rendered, the rest from
	// the system font /usr/share/fonts/truetype/wqy/wqy-microhei.ttc).
	TextFont string
	// Cut is "partial" (default) or "full".
	Cut string
	// WriteTimeout is how long a write may make no progress before the
	// printer is declared offline; 0 means 5 s.
	WriteTimeout time.Duration
	// StatusTimeout is how long to wait for the answer to DLE EOT; 0 means 1 s.
	StatusTimeout time.Duration
	// NoStatus skips the DLE EOT check: for printers (or links) that never
	// answer it. The file driver never asks.
	NoStatus bool
	// Location is the time zone of printed times; nil means the locale's
	// (UTC+8: Beijing, Hong Kong). Screens, paper and the CLI share one
	// configured zone (terminal.timezone).
	Location *time.Location
	// Locale names the words of slips, receipts and reports: "zh-CN",
	// "zh-HK" or "en" (package display/locale); "" means "en". Words the
	// Charset cannot print come out as raster text (see TextFont).
	Locale string
	// Currency is the ISO 4217 currency of amounts: "CNY" (default, ¥) or
	// "HKD" (HK$).
	Currency string
	// QRModule is the QR module size in dots (1..16); 0 picks the largest
	// that keeps the code within 3/4 of the paper width, at most 8.
	QRModule int
}

// Errors a print or a status check can end with; test with errors.Is. The
// returned error wraps one of these with the device and the cause.
var (
	ErrOffline   = errors.New("printer: offline")
	ErrPaperOut  = errors.New("printer: out of paper")
	ErrCoverOpen = errors.New("printer: cover open")
	ErrTimeout   = errors.New("printer: write timed out")
	ErrClosed    = errors.New("printer: closed")
)

// Status is what the printer says about itself.
type Status struct {
	escpos.Status
	// Known is false when there was no way to ask: the file driver, or
	// Config.NoStatus.
	Known bool
}

// Err is nil when the printer can print, else ErrPaperOut, ErrCoverOpen or
// ErrOffline (in that order of usefulness to the cashier).
func (s Status) Err() error {
	switch {
	case !s.Known:
		return nil
	case s.PaperOut:
		return ErrPaperOut
	case s.CoverOpen:
		return ErrCoverOpen
	case s.Offline || s.Error || s.Unrecoverable || s.CutterError:
		return ErrOffline
	}
	return nil
}

func (s Status) String() string {
	if !s.Known {
		return "unknown (not asked)"
	}
	switch {
	case s.PaperOut:
		return "out of paper"
	case s.CoverOpen:
		return "cover open"
	case s.CutterError:
		return "offline: cutter error"
	case s.Unrecoverable:
		return "offline: unrecoverable error"
	case s.AutoRecoverable:
		return "offline: head too hot, recovers by itself"
	case s.Offline || s.Error:
		return "offline"
	case s.PaperNearEnd:
		return "ready, paper near end"
	}
	return "ready"
}

// Printer is one configured printer. It is safe for concurrent use; jobs are
// sent one at a time. The link is opened on first use and reopened after a
// failure, so a printer that is unplugged at start-up or power-cycled later
// comes back by itself.
type Printer struct {
	cfg    Config
	layout *Layout
	dial   func(ctx context.Context) (*link, error)

	mu     sync.Mutex
	link   *link
	closed bool
	oneWay bool // the device refused to read: never ask for status again
}

// Open checks cfg and returns the printer. It fails only on a bad Config:
// a printer that is off or unplugged is reported by Status and by each
// print, not here, so the terminal starts without it.
func Open(cfg Config) (*Printer, error) {
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.StatusTimeout == 0 {
		cfg.StatusTimeout = time.Second
	}
	if cfg.WriteTimeout < 0 || cfg.StatusTimeout < 0 {
		return nil, errors.New("printer: negative timeout")
	}
	layout, err := NewLayout(cfg)
	if err != nil {
		return nil, err
	}
	dial, err := dialer(&cfg)
	if err != nil {
		return nil, err
	}
	return &Printer{cfg: cfg, layout: layout, dial: dial}, nil
}

// Layout is the printer's layout (for previews and byte counts).
func (p *Printer) Layout() *Layout { return p.layout }

// PrintSlip prints a QR slip.
func (p *Printer) PrintSlip(ctx context.Context, s Slip) error {
	b, err := p.layout.Slip(s)
	if err != nil {
		return err
	}
	return p.Send(ctx, b)
}

// PrintReceipt prints a receipt.
func (p *Printer) PrintReceipt(ctx context.Context, r Receipt) error {
	b, err := p.layout.Receipt(r)
	if err != nil {
		return err
	}
	return p.Send(ctx, b)
}

// PrintVoid prints a void slip for a QR slip that can no longer be paid.
func (p *Printer) PrintVoid(ctx context.Context, v Void) error {
	b, err := p.layout.Void(v)
	if err != nil {
		return err
	}
	return p.Send(ctx, b)
}

// PrintReport prints an X or Z report.
func (p *Printer) PrintReport(ctx context.Context, s report.Summary) error {
	b, err := p.layout.Report(s)
	if err != nil {
		return err
	}
	return p.Send(ctx, b)
}

// PrintCommissioning prints the commissioning slip.
func (p *Printer) PrintCommissioning(ctx context.Context, c Commissioning) error {
	b, err := p.layout.Commissioning(c)
	if err != nil {
		return err
	}
	return p.Send(ctx, b)
}

// SelfTest prints the self-test page.
func (p *Printer) SelfTest(ctx context.Context) error {
	b, err := p.layout.SelfTest()
	if err != nil {
		return err
	}
	return p.Send(ctx, b)
}

// Send checks the printer's status and writes data (a complete ESC/POS job).
func (p *Printer) Send(ctx context.Context, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, err := p.connect(ctx)
	if err != nil {
		return err
	}
	if l.canRead && !p.cfg.NoStatus && !p.oneWay {
		st, err := p.status(ctx, l)
		if err != nil {
			return err
		}
		if err := st.Err(); err != nil {
			return fmt.Errorf("%w (%s on %s)", err, st, p.cfg.Device)
		}
	}
	if err := l.write(ctx, data, p.cfg.WriteTimeout); err != nil {
		p.drop()
		return err
	}
	return nil
}

// Status asks the printer for its state. The error is non-nil when the
// printer could not be reached or did not answer (wrapping ErrOffline); a
// printer that answers "paper out" gives a nil error and a Status whose Err
// says so.
func (p *Printer) Status(ctx context.Context) (Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, err := p.connect(ctx)
	if err != nil {
		return Status{}, err
	}
	if !l.canRead || p.cfg.NoStatus || p.oneWay {
		return Status{}, nil
	}
	return p.status(ctx, l)
}

func (p *Printer) status(ctx context.Context, l *link) (Status, error) {
	st, err := l.status(ctx, p.cfg.WriteTimeout, p.cfg.StatusTimeout)
	if errors.Is(err, errOneWay) {
		// A unidirectional USB printer: it prints, it just cannot say how
		// it is. Status stays unknown rather than blocking every job.
		p.oneWay = true
		return Status{}, nil
	}
	if err != nil {
		p.drop() // late answer bytes must not be read as the next answer
		return Status{}, err
	}
	return Status{Status: st, Known: true}, nil
}

// Close closes the link; later calls fail with ErrClosed.
func (p *Printer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.link != nil {
		err := p.link.close()
		p.link = nil
		return err
	}
	return nil
}

func (p *Printer) connect(ctx context.Context) (*link, error) {
	if p.closed {
		return nil, ErrClosed
	}
	if p.link != nil && !p.link.broken() {
		return p.link, nil
	}
	p.drop()
	l, err := p.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOffline, err)
	}
	p.link = l
	return l, nil
}

func (p *Printer) drop() {
	if p.link != nil {
		p.link.close()
		p.link = nil
	}
}
