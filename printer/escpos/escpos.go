// Package escpos encodes the small subset of Epson ESC/POS that posagent
// needs to print QR slips and receipts on thermal printers.
//
// Why a subset: every cheap 58/80 mm printer claims "ESC/POS compatible", but
// the overlap they really share is small. The commands here are the ones the
// Epson reference, the Citizen, HPRT, Bixolon and Zijiang manuals all agree
// on:
//
//	ESC @            1B 40                 initialise (clears modes, buffer kept)
//	ESC ! n          1B 21 n               print mode: 0x08 bold, 0x10 double height, 0x20 double width
//	ESC a n          1B 61 n               justification 0 left, 1 centre, 2 right (line start only)
//	ESC d n          1B 64 n               print and feed n lines
//	ESC t n          1B 74 n               character code table (0 PC437, 2 PC850, 16 WPC1252, 17 PC866, 19 PC858)
//	FS &  / FS .     1C 26  / 1C 2E        Chinese (Kanji) mode on/off: GB18030/GBK double-byte text
//	GS ( k           1D 28 6B pL pH cn fn  QR code, cn=49 (0x31):
//	                   fn=65 (Function 165) model:   pL=4 pH=0, n1=49/50 (model 1/2), n2=0
//	                   fn=67 (Function 167) module:  pL=3 pH=0, 1 ≤ n ≤ 16 dots
//	                   fn=69 (Function 169) ECC:     pL=3 pH=0, n=48..51 (L, M, Q, H)
//	                   fn=80 (Function 180) store:   pL+pH·256 = k+3, m=48, then k data bytes
//	                   fn=81 (Function 181) print:   pL=3 pH=0, m=48
//	GS v 0 m xL xH yL yH d…   1D 76 30     raster bit image: x = bytes per row, y = rows,
//	                                       MSB is the leftmost dot, 1 = burn
//	GS V m [n]       1D 56                 cut: 0/48 full, 1/49 partial; 65/66 n feed to cutter + n, then full/partial
//	DLE EOT n        10 04 n               real-time status, n = 1 printer, 2 offline cause, 3 error cause, 4 paper sensor
//
// Native QR (GS ( k) is about 25× smaller on the wire than the same symbol as a
// raster image, but printers that lack it print the parameters as junk text
// ("k1A2k1Ck"), so callers choose per printer; raster (GS v 0) works on every
// printer that can print an image at all.
//
// The Builder never panics on bad input: the first error is kept and returned
// by Bytes, named "escpos: ...".
package escpos

import (
	"fmt"
)

// Control bytes.
const (
	LF  = 0x0A
	ESC = 0x1B
	FS  = 0x1C
	GS  = 0x1D
	DLE = 0x10
	EOT = 0x04
)

// Align is the justification set by ESC a.
type Align byte

// Justifications (ESC a n, n = 0, 1, 2).
const (
	Left   Align = 0
	Center Align = 1
	Right  Align = 2
)

// Style is the print mode set by ESC ! n. Only the bits every printer agrees
// on are exposed.
type Style struct {
	Bold         bool // bit 3 (0x08)
	DoubleHeight bool // bit 4 (0x10)
	DoubleWidth  bool // bit 5 (0x20)
}

// Byte returns n for ESC ! n.
func (s Style) Byte() byte {
	var n byte
	if s.Bold {
		n |= 0x08
	}
	if s.DoubleHeight {
		n |= 0x10
	}
	if s.DoubleWidth {
		n |= 0x20
	}
	return n
}

// ECC is the QR error correction level of GS ( k Function 169.
type ECC byte

// QR error correction levels (n = 48..51).
const (
	ECCLow      ECC = 48 // L, ~7 %
	ECCMedium   ECC = 49 // M, ~15 %
	ECCQuartile ECC = 50 // Q, ~25 %
	ECCHigh     ECC = 51 // H, ~30 %
)

// CutMode selects GS V function B: feed to the cutter (so the last printed
// line is not cut through), then cut.
type CutMode byte

// Cut modes (GS V m n with m = 65 or 66, n = 0).
const (
	CutFull    CutMode = 65
	CutPartial CutMode = 66
)

// Limits from the command reference.
const (
	MaxQRData    = 7089 // Function 180: (pL+pH·256) ≤ 7092, k = that − 3
	MaxRasterRow = 255  // rows per GS v 0 band we send (yH = 0): small printer buffers cope
)

// Builder accumulates an ESC/POS byte stream. The zero value is ready to use
// with the PC437 code table; call SetCharset for another.
type Builder struct {
	buf     []byte
	err     error
	charset *Charset
}

// NewBuilder returns a Builder that encodes text with cs (nil: PC437).
func NewBuilder(cs *Charset) *Builder {
	return &Builder{charset: cs}
}

func (b *Builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("escpos: "+format, args...)
	}
}

func (b *Builder) raw(p ...byte) *Builder {
	b.buf = append(b.buf, p...)
	return b
}

// Bytes returns the stream, or the first error met while building it.
func (b *Builder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.buf, nil
}

// Init sends ESC @ and then selects the builder's charset, so every job
// starts from a known state whatever the previous job left behind.
func (b *Builder) Init() *Builder {
	b.raw(ESC, '@')
	cs := b.cs()
	if cs.Kanji {
		b.raw(FS, '&')
	} else {
		b.raw(ESC, 't', cs.Table)
	}
	return b
}

func (b *Builder) cs() *Charset {
	if b.charset == nil {
		return CP437
	}
	return b.charset
}

// Align sends ESC a n. It is only honoured at the start of a line.
func (b *Builder) Align(a Align) *Builder {
	if a > Right {
		b.fail("bad alignment %d", a)
		return b
	}
	return b.raw(ESC, 'a', byte(a))
}

// Style sends ESC ! n.
func (b *Builder) Style(s Style) *Builder {
	return b.raw(ESC, '!', s.Byte())
}

// Text encodes s with the builder's charset. Control characters in s are
// replaced by spaces so that data (a merchant name, an order number) can
// never smuggle a command to the printer; characters the charset lacks
// become '?'.
func (b *Builder) Text(s string) *Builder {
	b.buf = b.cs().Encode(b.buf, s)
	return b
}

// Line is Text followed by LF.
func (b *Builder) Line(s string) *Builder {
	return b.Text(s).LF()
}

// LF prints the line buffer and feeds one line.
func (b *Builder) LF() *Builder { return b.raw(LF) }

// Feed sends ESC d n: print and feed n lines.
func (b *Builder) Feed(n int) *Builder {
	if n < 0 || n > 255 {
		b.fail("feed %d lines out of range 0..255", n)
		return b
	}
	return b.raw(ESC, 'd', byte(n))
}

// QR prints data as a native QR code (model 2) with GS ( k functions 165,
// 167, 169, 180 and 181. module is the module size in dots (1..16).
func (b *Builder) QR(data string, module int, ecc ECC) *Builder {
	switch {
	case len(data) == 0:
		b.fail("empty QR payload")
		return b
	case len(data) > MaxQRData:
		b.fail("QR payload of %d bytes exceeds %d", len(data), MaxQRData)
		return b
	case module < 1 || module > 16:
		b.fail("QR module size %d out of range 1..16", module)
		return b
	case ecc < ECCLow || ecc > ECCHigh:
		b.fail("bad QR error correction level %d", ecc)
		return b
	}
	b.raw(GS, '(', 'k', 4, 0, 49, 65, 50, 0)        // Function 165: model 2
	b.raw(GS, '(', 'k', 3, 0, 49, 67, byte(module)) // Function 167: module size
	b.raw(GS, '(', 'k', 3, 0, 49, 69, byte(ecc))    // Function 169: error correction
	n := len(data) + 3
	b.raw(GS, '(', 'k', byte(n), byte(n>>8), 49, 80, 48) // Function 180: store
	b.buf = append(b.buf, data...)
	b.raw(GS, '(', 'k', 3, 0, 49, 81, 48) // Function 181: print
	return b
}

// Raster prints bm with GS v 0 (normal density), in bands of at most
// MaxRasterRow rows. The band split is invisible on paper: each band
// advances the paper by exactly its height.
func (b *Builder) Raster(bm *Bitmap) *Builder {
	if bm == nil || bm.W <= 0 || bm.H <= 0 {
		b.fail("empty raster image")
		return b
	}
	stride := bm.Stride()
	if len(bm.Pix) != stride*bm.H {
		b.fail("raster image has %d bytes, want %d", len(bm.Pix), stride*bm.H)
		return b
	}
	for y := 0; y < bm.H; y += MaxRasterRow {
		rows := min(MaxRasterRow, bm.H-y)
		b.raw(GS, 'v', '0', 0, byte(stride), byte(stride>>8), byte(rows), byte(rows>>8))
		start := len(b.buf)
		b.buf = append(b.buf, bm.Pix[y*stride:(y+rows)*stride]...)
		defuseRealtime(b.buf[start:])
	}
	return b
}

// defuseRealtime clears any image byte 0x10 (DLE) followed by EOT, ENQ or
// DC4. Printers scan the raw input, image data included, for these
// real-time commands (Epson's DLE EOT notes say so), and DLE DC4 can pulse
// the cash drawer or power the printer off. 0x10 is one isolated dot, so
// the image loses a single dot; a QR raster never has one (its dot runs are
// a module, at least 2 dots, wide).
func defuseRealtime(b []byte) {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == DLE && (b[i+1] == EOT || b[i+1] == 0x05 || b[i+1] == 0x14) {
			b[i] = 0
		}
	}
}

// Cut sends GS V m 0: feed to the cutting position, then cut. Printers
// without a cutter just feed, which is what a tear-bar needs too.
func (b *Builder) Cut(m CutMode) *Builder {
	if m != CutFull && m != CutPartial {
		b.fail("bad cut mode %d", m)
		return b
	}
	return b.raw(GS, 'V', byte(m), 0)
}
