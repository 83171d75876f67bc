package display

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	qrcode "github.com/skip2/go-qrcode"
)

// Term draws screens in a terminal with ANSI colours. The QR code is drawn
// with half blocks, one module per column and two per row, which makes
// square modules in the usual 1:2 character cell. Light modules are painted
// with a white background rather than left to the terminal's own (often
// dark) background, so the code scans from a laptop screen.
type Term struct {
	mu    sync.Mutex
	w     io.Writer
	plain bool
}

// NewTerm returns a terminal display writing to cfg.Out (os.Stdout if nil).
func NewTerm(cfg Config) *Term {
	w := cfg.Out
	if w == nil {
		w = os.Stdout
	}
	return &Term{w: w, plain: cfg.Plain}
}

const (
	ansiReset = "\x1b[0m"
	ansiClear = "\x1b[H\x1b[2J"
	ansiBold  = "\x1b[1m"
	// Black on bright white, for the QR code.
	ansiQR = "\x1b[30;107m"
)

var termTitle = map[Kind]struct {
	text string
	sgr  string
}{
	Idle:            {"READY", "\x1b[97;44m"},
	Entering:        {"AMOUNT", "\x1b[97;44m"},
	Connecting:      {"CONNECTING…", "\x1b[97;44m"},
	AwaitingPayment: {"SCAN TO PAY", "\x1b[97;44m"},
	Paid:            {"PAID", "\x1b[97;42m"},
	Canceled:        {"CANCELED", "\x1b[97;41m"},
	Expired:         {"EXPIRED", "\x1b[30;43m"},
	Refunded:        {"REFUNDED", "\x1b[30;43m"},
	Offline:         {"OFFLINE", "\x1b[30;43m"},
	Error:           {"ERROR", "\x1b[97;41m"},
}

// Show implements Display.
func (t *Term) Show(s Screen) error {
	title, ok := termTitle[s.Kind]
	if !ok {
		return fmt.Errorf("display: unknown screen kind %d", int(s.Kind))
	}
	var b bytes.Buffer
	if !t.plain {
		b.WriteString(ansiClear)
	}
	fmt.Fprintf(&b, "%s %s %s\n\n", title.sgr+ansiBold, title.text, ansiReset)
	var lines []string
	amount := ansiBold + FormatAmount(s.AmountCents) + ansiReset
	switch s.Kind {
	case Idle:
		lines = []string{clean(s.Merchant), "Enter amount"}
	case Entering:
		lines = []string{ansiBold + "¥" + clean(s.Typed) + "_" + ansiReset}
	case Connecting:
		lines = []string{amount, "please wait"}
	case AwaitingPayment:
		if err := writeQR(&b, s.QR); err != nil {
			return err
		}
		lines = []string{amount + "   " + formatCountdown(s.Remaining), clean(s.Merchant), clean(s.Subject), clean(s.OrderNo)}
	case Paid:
		lines = []string{amount, "Thank you", clean(s.OrderNo)}
	case Canceled:
		lines = []string{amount, clean(s.Reason), "not charged"}
	case Expired:
		lines = []string{amount, "not paid", clean(s.OrderNo)}
	case Refunded:
		lines = []string{amount, clean(s.OrderNo)}
	case Offline:
		lines = []string{ansiBold + strconv.Itoa(s.Queued) + " queued" + ansiReset, "not payable yet", clean(s.Reason)}
	case Error:
		lines = []string{clean(s.Reason), clean(s.OrderNo)}
	}
	for _, l := range lines {
		if l != "" {
			b.WriteString("  " + l + "\n")
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := t.w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("display: term: %w", err)
	}
	return nil
}

// Close implements Display: it resets the terminal's colours and, unless
// Plain, clears the screen so that no QR code is left on it.
func (t *Term) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := ansiReset
	if !t.plain {
		s += ansiClear
	}
	if _, err := io.WriteString(t.w, s); err != nil {
		return fmt.Errorf("display: term: %w", err)
	}
	return nil
}

// clean removes control characters (an escape sequence in a merchant name
// must not drive the terminal). Terminals draw Chinese themselves.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

// termQuiet is the quiet zone in the terminal: a screen has room for the
// full 4 modules.
const termQuiet = 4

// writeQR draws payload with half blocks: the upper half of a cell is one
// module row, the lower half the next.
func writeQR(b *bytes.Buffer, payload string) error {
	if payload == "" {
		return fmt.Errorf("display: empty QR payload")
	}
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("display: cannot encode a QR code of %d bytes: %v", len(payload), err)
	}
	q.DisableBorder = true
	m := q.Bitmap()
	n := len(m) + 2*termQuiet
	dark := func(x, y int) bool {
		x, y = x-termQuiet, y-termQuiet
		return y >= 0 && y < len(m) && x >= 0 && x < len(m) && m[y][x]
	}
	for y := 0; y < n; y += 2 {
		b.WriteString("  " + ansiQR)
		for x := 0; x < n; x++ {
			top, bottom := dark(x, y), y+1 < n && dark(x, y+1)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteString(ansiReset + "\n")
	}
	b.WriteString("\n")
	return nil
}
