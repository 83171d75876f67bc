// Package preview is a small ESC/POS printer emulator: it parses a byte
// stream the way a thermal printer would, rejects anything malformed, and
// renders the paper as an image.
//
// It exists for two reasons. Tests use it as an independent reader of what
// package escpos and the layouts produce: it shares no code with them and is
// written from the command reference, so a golden byte file is checked by
// reading it back (text, raster images, native QR payloads, cuts) rather than
// by trusting the encoder. And support staff and the demo use it to turn the
// bytes sent to a printer (the "file" driver's output) into a PNG.
//
// It understands the subset posagent uses, and refuses the rest with an error
// naming the byte offset, so that a stray byte shows up in a test rather than
// as junk on a customer's slip:
//
//	LF, CR, ESC @, ESC !, ESC E, ESC a, ESC d, ESC t, GS !, FS &, FS .,
//	GS ( k (QR: functions 165, 167, 169, 180, 181), GS v 0, GS V, DLE EOT.
//
// Rendering follows a 203 dpi head: font A cells of 12×24 dots (24×24 for a
// Chinese character), line pitch 30 dots, the paper 384 (58 mm) or 576
// (80 mm) dots wide. Text is drawn with the Go Mono font; Chinese with
// Options.CJKFont, else with the pre-rendered WenQuanYi glyphs of
// display/bitmapfont where it has them, else as boxes. Lines always carries
// the text decoded from the bytes, whatever the picture shows. A native QR symbol is drawn the way a printer would, from the stored
// payload.
package preview

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/skip2/go-qrcode"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Paper widths in dots at 203 dpi.
const (
	Width58 = 384
	Width80 = 576
)

// MaxLength bounds the paper the emulator will render, in dots (12.5 m
// at 8 dots/mm), so that a hostile stream cannot exhaust memory.
const MaxLength = 100000

const (
	cellW      = 12 // font A
	cellH      = 24
	linePitch  = 30 // default line spacing: 24-dot cell + 6
	cutterFeed = 96 // head-to-cutter distance fed by GS V 65/66 (≈12 mm)
)

// Options configures the emulated printer.
type Options struct {
	// Width is the printable width in dots: Width58 or Width80 (0 means 58 mm).
	Width int
	// CJKFont is optional TTF/OTF/TTC data (e.g. WenQuanYi Micro Hei) to
	// draw Chinese characters with; without it they are drawn as boxes.
	CJKFont []byte
}

// Symbol is a native QR code found in the stream.
type Symbol struct {
	Payload string
	Module  int  // dots per module (Function 167)
	ECC     byte // 'L', 'M', 'Q' or 'H' (Function 169)
	Rect    image.Rectangle
}

// Line is one printed line of text.
type Line struct {
	Text  string
	Align string // "left", "center", "right"
	Rect  image.Rectangle
}

// Page is what the emulated printer produced.
type Page struct {
	Image          *image.Gray
	Lines          []Line
	QRs            []Symbol
	Rasters        []image.Rectangle
	Cuts           []int // y of each cut
	StatusRequests []int // n of each DLE EOT n
	Listing        []string
	Warnings       []string
}

// Texts returns the text of every printed line.
func (p *Page) Texts() []string {
	out := make([]string, len(p.Lines))
	for i, l := range p.Lines {
		out[i] = l.Text
	}
	return out
}

// Render parses data and writes the paper as a PNG.
func Render(w io.Writer, data []byte, opt Options) error {
	p, err := Parse(data, opt)
	if err != nil {
		return err
	}
	return png.Encode(w, p.Image)
}

type glyph struct {
	r      rune
	w, h   int
	bold   bool
	sx, sy int // scale
	wide   bool
}

type qrState struct {
	model  byte
	module int
	ecc    byte
	data   []byte
	stored bool
}

type parser struct {
	data  []byte
	pos   int
	start int // offset of the command being parsed
	width int

	align byte
	mode  byte // ESC ! bits
	bold  bool // ESC E
	sizeW int  // GS ! multipliers
	sizeH int
	table byte
	kanji bool

	line     []glyph
	lineText strings.Builder
	lineW    int

	cv   *canvas
	qr   qrState
	page *Page
	cjk  *cjkFont
}

// Parse runs data through the emulated printer.
func Parse(data []byte, opt Options) (*Page, error) {
	w := opt.Width
	if w == 0 {
		w = Width58
	}
	if w != Width58 && w != Width80 {
		return nil, fmt.Errorf("preview: paper width %d dots, want %d (58 mm) or %d (80 mm)", w, Width58, Width80)
	}
	p := &parser{data: data, width: w, cv: newCanvas(w), page: &Page{}}
	if len(opt.CJKFont) > 0 {
		cjk, err := newCJK(opt.CJKFont)
		if err != nil {
			return nil, err
		}
		p.cjk = cjk
	}
	p.reset()
	for p.pos < len(p.data) {
		p.start = p.pos
		if err := p.step(); err != nil {
			return nil, err
		}
		if p.cv.y > MaxLength {
			return nil, fmt.Errorf("preview: offset %d: paper longer than %d dots (%.1f m): not a receipt", p.start, MaxLength, float64(MaxLength)/8000)
		}
	}
	if len(p.line) > 0 {
		return nil, fmt.Errorf("preview: stream ends with unprinted text %q (no LF)", p.lineText.String())
	}
	p.page.Image = p.cv.image()
	return p.page, nil
}

func (p *parser) reset() {
	p.align, p.mode, p.bold, p.table, p.kanji = 0, 0, false, 0, false
	p.sizeW, p.sizeH = 1, 1
	p.qr = qrState{model: 50, module: 3, ecc: 48}
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("preview: offset %d: "+format, append([]any{p.start}, args...)...)
}

func (p *parser) list(format string, args ...any) {
	p.page.Listing = append(p.page.Listing, fmt.Sprintf(format, args...))
}

var errShort = errors.New("truncated")

func (p *parser) next() (byte, error) {
	if p.pos >= len(p.data) {
		return 0, errShort
	}
	b := p.data[p.pos]
	p.pos++
	return b, nil
}

func (p *parser) take(n int) ([]byte, error) {
	if n < 0 || p.pos+n > len(p.data) {
		return nil, errShort
	}
	b := p.data[p.pos : p.pos+n]
	p.pos += n
	return b, nil
}

// params reads n parameter bytes of the command started at p.start.
func (p *parser) params(name string, n int) ([]byte, error) {
	b, err := p.take(n)
	if err != nil {
		return nil, p.errf("%s truncated: stream ends inside the command", name)
	}
	return b, nil
}

func (p *parser) atLineStart(name string) error {
	if len(p.line) > 0 {
		return p.errf("%s in the middle of a line (after %q): printers ignore or misprint it", name, p.lineText.String())
	}
	return nil
}

func (p *parser) step() error {
	c, _ := p.next()
	switch {
	case c == 0x0A:
		p.list("LF")
		p.flush()
		return nil
	case c == 0x0D:
		p.list("CR")
		return nil
	case c == 0x1B:
		return p.esc()
	case c == 0x1D:
		return p.gs()
	case c == 0x1C:
		return p.fs()
	case c == 0x10:
		return p.dle()
	case c < 0x20 || c == 0x7F:
		return p.errf("control byte %#02x is not a command this printer knows", c)
	}
	p.pos--
	return p.text()
}

func (p *parser) esc() error {
	b, err := p.params("ESC", 1)
	if err != nil {
		return err
	}
	switch b[0] {
	case '@':
		if len(p.line) > 0 {
			return p.errf("ESC @ discards unprinted text %q", p.lineText.String())
		}
		p.list("ESC @ initialise")
		p.reset()
	case '!':
		n, err := p.params("ESC !", 1)
		if err != nil {
			return err
		}
		if n[0]&^0x38 != 0 {
			return p.errf("ESC ! %#02x: only bold (0x08), double height (0x10) and double width (0x20) are supported", n[0])
		}
		p.mode = n[0]
		p.list("ESC ! %#02x print mode", n[0])
	case 'E':
		n, err := p.params("ESC E", 1)
		if err != nil {
			return err
		}
		p.bold = n[0]&1 == 1
		p.list("ESC E %d bold", n[0])
	case 'a':
		n, err := p.params("ESC a", 1)
		if err != nil {
			return err
		}
		var a byte
		switch n[0] {
		case 0, 48:
			a = 0
		case 1, 49:
			a = 1
		case 2, 50:
			a = 2
		default:
			return p.errf("ESC a %d: justification must be 0..2 or 48..50", n[0])
		}
		if err := p.atLineStart("ESC a"); err != nil {
			return err
		}
		p.align = a
		p.list("ESC a %d %s", n[0], alignName(a))
	case 'd':
		n, err := p.params("ESC d", 1)
		if err != nil {
			return err
		}
		lines := int(n[0])
		if len(p.line) > 0 {
			p.flush()
			lines--
		}
		if lines > 0 {
			p.cv.y += lines * linePitch
		}
		p.list("ESC d %d feed", n[0])
	case 't':
		n, err := p.params("ESC t", 1)
		if err != nil {
			return err
		}
		if _, ok := tables[n[0]]; !ok {
			return p.errf("ESC t %d: unknown character code table", n[0])
		}
		p.table = n[0]
		p.list("ESC t %d %s", n[0], tableNames[n[0]])
	default:
		return p.errf("unknown command ESC %#02x", b[0])
	}
	return nil
}

func (p *parser) fs() error {
	b, err := p.params("FS", 1)
	if err != nil {
		return err
	}
	switch b[0] {
	case '&':
		p.kanji = true
		p.list("FS & Chinese (GB18030) mode")
	case '.':
		p.kanji = false
		p.list("FS . cancel Chinese mode")
	default:
		return p.errf("unknown command FS %#02x", b[0])
	}
	return nil
}

func (p *parser) dle() error {
	b, err := p.params("DLE", 2)
	if err != nil {
		return err
	}
	if b[0] != 0x04 {
		return p.errf("unsupported real-time command DLE %#02x", b[0])
	}
	if b[1] < 1 || b[1] > 4 {
		return p.errf("DLE EOT %d: n must be 1..4", b[1])
	}
	p.page.StatusRequests = append(p.page.StatusRequests, int(b[1]))
	p.list("DLE EOT %d status request", b[1])
	return nil
}

func (p *parser) gs() error {
	b, err := p.params("GS", 1)
	if err != nil {
		return err
	}
	switch b[0] {
	case '!':
		n, err := p.params("GS !", 1)
		if err != nil {
			return err
		}
		w, h := int(n[0]>>4)+1, int(n[0]&0x0F)+1
		if w > 2 || h > 2 {
			return p.errf("GS ! %#02x: only sizes 1× and 2× are supported", n[0])
		}
		p.sizeW, p.sizeH = w, h
		p.list("GS ! %#02x size %dx%d", n[0], w, h)
	case '(':
		return p.gsParen()
	case 'v':
		return p.raster()
	case 'V':
		return p.cut()
	default:
		return p.errf("unknown command GS %#02x", b[0])
	}
	return nil
}

func (p *parser) gsParen() error {
	h, err := p.params("GS (", 3)
	if err != nil {
		return err
	}
	if h[0] != 'k' {
		return p.errf("unsupported command GS ( %#02x", h[0])
	}
	n := int(h[1]) + int(h[2])*256
	if n < 3 {
		return p.errf("GS ( k with pL+pH·256 = %d, want ≥ 3", n)
	}
	body, err := p.params("GS ( k", n)
	if err != nil {
		return err
	}
	cn, fn := body[0], body[1]
	if cn != 49 {
		return p.errf("GS ( k cn=%d: only QR code (cn=49) is supported", cn)
	}
	arg := body[2:]
	switch fn {
	case 65: // Function 165: model
		if n != 4 || (arg[0] != 49 && arg[0] != 50) || arg[1] != 0 {
			return p.errf("GS ( k function 165: want pL=4 n1=49|50 n2=0, got len %d % X", n, arg)
		}
		p.qr.model = arg[0]
		p.list("GS ( k 165 QR model %d", arg[0]-48)
	case 67: // Function 167: module size
		if n != 3 || arg[0] < 1 || arg[0] > 16 {
			return p.errf("GS ( k function 167: want pL=3 and 1 ≤ n ≤ 16, got len %d % X", n, arg)
		}
		p.qr.module = int(arg[0])
		p.list("GS ( k 167 QR module %d dots", arg[0])
	case 69: // Function 169: error correction
		if n != 3 || arg[0] < 48 || arg[0] > 51 {
			return p.errf("GS ( k function 169: want pL=3 and 48 ≤ n ≤ 51, got len %d % X", n, arg)
		}
		p.qr.ecc = arg[0]
		p.list("GS ( k 169 QR error correction %c", "LMQH"[arg[0]-48])
	case 80: // Function 180: store
		if n < 4 || n > 7092 || arg[0] != 48 {
			return p.errf("GS ( k function 180: want 4 ≤ pL+pH·256 ≤ 7092 and m=48, got len %d m=%d", n, arg[0])
		}
		p.qr.data = append([]byte(nil), arg[1:]...)
		p.qr.stored = true
		p.list("GS ( k 180 QR store %d bytes %q", len(p.qr.data), p.qr.data)
	case 81: // Function 181: print
		if n != 3 || arg[0] != 48 {
			return p.errf("GS ( k function 181: want pL=3 m=48")
		}
		if !p.qr.stored {
			return p.errf("GS ( k function 181: print with no data stored (function 180)")
		}
		if err := p.atLineStart("QR print"); err != nil {
			return err
		}
		p.list("GS ( k 181 QR print")
		return p.drawQR()
	default:
		return p.errf("GS ( k function %d is not supported", int(fn)+100)
	}
	return nil
}

func (p *parser) drawQR() error {
	if p.qr.model != 50 {
		return p.errf("QR model 1 cannot be previewed (model 2 only)")
	}
	levels := map[byte]qrcode.RecoveryLevel{48: qrcode.Low, 49: qrcode.Medium, 50: qrcode.High, 51: qrcode.Highest}
	q, err := qrcode.New(string(p.qr.data), levels[p.qr.ecc])
	if err != nil {
		return p.errf("QR payload cannot be encoded: %v", err)
	}
	q.DisableBorder = true
	bm := q.Bitmap()
	size := len(bm) * p.qr.module
	if size > p.width {
		return p.errf("QR symbol %d dots wide exceeds the %d-dot paper", size, p.width)
	}
	x0 := p.xFor(size)
	y0 := p.cv.y
	for y, row := range bm {
		for x, on := range row {
			if on {
				p.cv.fill(x0+x*p.qr.module, y0+y*p.qr.module, p.qr.module, p.qr.module)
			}
		}
	}
	p.cv.y += size
	p.cv.grow(p.cv.y)
	p.page.QRs = append(p.page.QRs, Symbol{
		Payload: string(p.qr.data), Module: p.qr.module, ECC: "LMQH"[p.qr.ecc-48],
		Rect: image.Rect(x0, y0, x0+size, y0+size),
	})
	return nil
}

func (p *parser) raster() error {
	h, err := p.params("GS v", 6)
	if err != nil {
		return err
	}
	if h[0] != '0' {
		return p.errf("unsupported command GS v %#02x", h[0])
	}
	m := h[1]
	if m != 0 && m != 48 {
		return p.errf("GS v 0 m=%d: only normal density (0) is supported", m)
	}
	xb := int(h[2]) + int(h[3])*256
	rows := int(h[4]) + int(h[5])*256
	if xb == 0 || rows == 0 {
		return p.errf("GS v 0 with an empty image (%d bytes × %d rows)", xb, rows)
	}
	if xb*8 > p.width {
		return p.errf("GS v 0 image %d dots wide exceeds the %d-dot paper", xb*8, p.width)
	}
	if err := p.atLineStart("GS v 0"); err != nil {
		return err
	}
	d, err := p.params("GS v 0 image data", xb*rows)
	if err != nil {
		return err
	}
	x0 := p.xFor(xb * 8)
	y0 := p.cv.y
	p.cv.grow(y0 + rows)
	for y := 0; y < rows; y++ {
		for x := 0; x < xb*8; x++ {
			if d[y*xb+x/8]&(0x80>>(x%8)) != 0 {
				p.cv.set(x0+x, y0+y)
			}
		}
	}
	p.cv.y += rows
	r := image.Rect(x0, y0, x0+xb*8, y0+rows)
	// Bands printed back to back are one image on paper.
	if k := len(p.page.Rasters) - 1; k >= 0 && p.page.Rasters[k].Max.Y == y0 && p.page.Rasters[k].Min.X == r.Min.X && p.page.Rasters[k].Max.X == r.Max.X {
		p.page.Rasters[k].Max.Y = r.Max.Y
	} else {
		p.page.Rasters = append(p.page.Rasters, r)
	}
	p.list("GS v 0 raster %d×%d dots", xb*8, rows)
	return nil
}

func (p *parser) cut() error {
	m, err := p.params("GS V", 1)
	if err != nil {
		return err
	}
	if err := p.atLineStart("GS V"); err != nil {
		return err
	}
	switch m[0] {
	case 0, 48, 1, 49:
		p.list("GS V %d cut", m[0])
	case 65, 66:
		n, err := p.params("GS V", 1)
		if err != nil {
			return err
		}
		p.cv.y += cutterFeed + int(n[0])
		p.list("GS V %d %d feed to cutter and cut", m[0], n[0])
	default:
		return p.errf("GS V %d: unsupported cut mode", m[0])
	}
	p.cv.grow(p.cv.y + 1)
	p.cv.dashed(p.cv.y)
	p.page.Cuts = append(p.page.Cuts, p.cv.y)
	p.cv.y += 8
	return nil
}

// text consumes a run of printable bytes up to the next control byte.
func (p *parser) text() error {
	var run strings.Builder
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c < 0x20 || c == 0x7F {
			break
		}
		p.start = p.pos
		r, n, wide, err := p.decode()
		if err != nil {
			return err
		}
		p.pos += n
		run.WriteRune(r)
		p.addGlyph(r, wide)
	}
	p.list("TEXT %q", run.String())
	return nil
}

func (p *parser) decode() (r rune, n int, wide bool, err error) {
	c := p.data[p.pos]
	if c < 0x80 {
		return rune(c), 1, false, nil
	}
	if !p.kanji {
		return tables[p.table].DecodeByte(c), 1, false, nil
	}
	// GB18030: two bytes 81–FE 40–7E|80–FE, or four bytes 81–FE 30–39 81–FE 30–39.
	rest := p.data[p.pos:]
	bad := func() (rune, int, bool, error) {
		return 0, 0, false, p.errf("malformed GB18030 sequence % X", rest[:min(4, len(rest))])
	}
	if c == 0x80 || c == 0xFF || len(rest) < 2 {
		return bad()
	}
	c2 := rest[1]
	switch {
	case (c2 >= 0x40 && c2 <= 0x7E) || (c2 >= 0x80 && c2 <= 0xFE):
		n = 2
	case c2 >= 0x30 && c2 <= 0x39:
		if len(rest) < 4 || rest[2] < 0x81 || rest[2] > 0xFE || rest[3] < 0x30 || rest[3] > 0x39 {
			return bad()
		}
		n = 4
	default:
		return bad()
	}
	out, derr := simplifiedchinese.GB18030.NewDecoder().Bytes(rest[:n])
	r, size := utf8.DecodeRune(out)
	if derr != nil || r == utf8.RuneError || size != len(out) {
		return bad()
	}
	return r, n, true, nil
}

func (p *parser) addGlyph(r rune, wide bool) {
	sx, sy := p.sizeW, p.sizeH
	if p.mode&0x20 != 0 {
		sx = 2
	}
	if p.mode&0x10 != 0 {
		sy = 2
	}
	w := cellW
	if wide {
		w = 2 * cellW
	}
	g := glyph{r: r, w: w * sx, h: cellH * sy, bold: p.bold || p.mode&0x08 != 0, sx: sx, sy: sy, wide: wide}
	if p.lineW+g.w > p.width {
		p.page.Warnings = append(p.page.Warnings, fmt.Sprintf("offset %d: line %q overflows the %d-dot paper and wraps", p.start, p.lineText.String(), p.width))
		p.flush()
	}
	p.line = append(p.line, g)
	p.lineText.WriteRune(r)
	p.lineW += g.w
}

// flush prints the line buffer and feeds one line.
func (p *parser) flush() {
	if len(p.line) == 0 {
		p.cv.y += linePitch
		return
	}
	h := cellH
	for _, g := range p.line {
		h = max(h, g.h)
	}
	x := p.xFor(p.lineW)
	y0 := p.cv.y
	p.cv.grow(y0 + h + linePitch - cellH)
	for _, g := range p.line {
		drawGlyph(p.cv, g, x, y0+h-g.h, p.cjk)
		x += g.w
	}
	p.page.Lines = append(p.page.Lines, Line{
		Text: p.lineText.String(), Align: alignName(p.align),
		Rect: image.Rect(p.xFor(p.lineW), y0, p.xFor(p.lineW)+p.lineW, y0+h),
	})
	p.cv.y += h + linePitch - cellH
	p.line = p.line[:0]
	p.lineText.Reset()
	p.lineW = 0
}

func (p *parser) xFor(w int) int {
	switch p.align {
	case 1:
		return (p.width - w) / 2
	case 2:
		return p.width - w
	}
	return 0
}

func alignName(a byte) string {
	return [...]string{"left", "center", "right"}[a]
}

var tables = map[byte]*charmap.Charmap{
	0:  charmap.CodePage437,
	2:  charmap.CodePage850,
	16: charmap.Windows1252,
	17: charmap.CodePage866,
	19: charmap.CodePage858,
}

var tableNames = map[byte]string{0: "PC437", 2: "PC850", 16: "WPC1252", 17: "PC866", 19: "PC858"}

// canvas is the paper: white, growing downwards as the printer feeds.
type canvas struct {
	w   int
	h   int
	pix []byte
	y   int // print position
}

func newCanvas(w int) *canvas { return &canvas{w: w} }

func (c *canvas) grow(h int) {
	if h <= c.h {
		return
	}
	c.pix = append(c.pix, bytes.Repeat([]byte{0xFF}, (h-c.h)*c.w)...)
	c.h = h
}

func (c *canvas) set(x, y int) {
	if x < 0 || x >= c.w || y < 0 {
		return
	}
	c.grow(y + 1)
	c.pix[y*c.w+x] = 0
}

func (c *canvas) fill(x, y, w, h int) {
	for j := y; j < y+h; j++ {
		for i := x; i < x+w; i++ {
			c.set(i, j)
		}
	}
}

func (c *canvas) dashed(y int) {
	for x := 0; x < c.w; x++ {
		if (x/6)%2 == 0 {
			c.set(x, y)
		}
	}
}

func (c *canvas) image() *image.Gray {
	c.grow(max(c.y, 1))
	return &image.Gray{Pix: c.pix, Stride: c.w, Rect: image.Rect(0, 0, c.w, c.h)}
}
