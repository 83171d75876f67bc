package display

import (
	"bytes"
	"fmt"
	"image"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"posagent/display/locale"
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
	l     *locale.Locale
	tz    *time.Location
}

// NewTerm returns a terminal display writing to cfg.Out (os.Stdout if nil).
func NewTerm(cfg Config) *Term {
	w := cfg.Out
	if w == nil {
		w = os.Stdout
	}
	l, err := locale.Lookup(cfg.Locale)
	if err != nil || cfg.Locale == "" {
		l = locale.Must("en")
	}
	return &Term{w: w, plain: cfg.Plain, l: l, tz: cfg.TimeZone}
}

const (
	ansiReset = "\x1b[0m"
	ansiClear = "\x1b[H\x1b[2J"
	ansiBold  = "\x1b[1m"
	// Black on bright white, for the QR code.
	ansiQR = "\x1b[30;107m"
)

// termColour is the title's colours per kind, as on the panels.
func termColour(k Kind) string {
	switch k {
	case Paid:
		return "\x1b[97;42m"
	case Canceled, Error, Declined:
		return "\x1b[97;41m"
	case Expired, Refunded, Offline, Checking, LatePaid:
		return "\x1b[30;43m"
	}
	return "\x1b[97;44m"
}

// Show implements Display. The words are the panels' (package locale);
// terminals draw Chinese themselves.
func (t *Term) Show(s Screen) error {
	c := content{s: s, o: Options{Size: image.Pt(320, 240), Format: RGB565, TimeZone: t.tz}, l: t.l}
	var items []item
	if s.Kind == AwaitingPayment {
		items = append([]item{c.title("awaiting-payment", cAccent)}, c.qrItems()[1:]...)
	} else {
		var err error
		if items, err = c.items(); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	if !t.plain {
		b.WriteString(ansiClear)
	}
	fmt.Fprintf(&b, "%s %s %s\n\n", termColour(s.Kind)+ansiBold, clean(items[0].text), ansiReset)
	if s.Kind == AwaitingPayment {
		if err := writeQR(&b, s.QR); err != nil {
			return err
		}
	}
	for _, it := range items[1:] {
		text := clean(cleanText(it.text))
		switch {
		case it.role == "amount":
			text = ansiBold + clean(it.sign) + text + ansiReset
		case it.right != "":
			text += "  " + clean(it.right)
		case it.selected:
			text = "> " + text
		case it.menuItem():
			text = "  " + text
		}
		if strings.TrimSpace(text) != "" {
			b.WriteString("  " + text + "\n")
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
