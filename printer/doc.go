package printer

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/text/width"

	"posagent/display/bitmapfont"
	"posagent/printer/escpos"
)

// doc wraps the builder with the state a layout needs to know: the current
// alignment and style, so that a line of text the printer cannot print
// (characters its code page lacks) can be sent as an image that looks like
// the line would have.
type doc struct {
	b     *escpos.Builder
	l     *Layout
	align escpos.Align
	style escpos.Style
}

func (l *Layout) newDoc() *doc {
	return &doc{b: escpos.NewBuilder(l.cs).Init(), l: l}
}

func (d *doc) Align(a escpos.Align) *doc {
	d.align = a
	d.b.Align(a)
	return d
}

func (d *doc) Style(s escpos.Style) *doc {
	d.style = s
	d.b.Style(s)
	return d
}

func (d *doc) LF() *doc {
	d.b.LF()
	return d
}

// Line prints s. When the charset cannot encode all of s the line is
// rasterised with the text font: the configured one, else the glyphs of
// package display/bitmapfont (every word of the locales pre-rendered, other
// characters from the system font, a box when none has them).
func (d *doc) Line(s string) *doc {
	if d.l.cs.CanEncode(s) {
		d.b.Line(s)
		return d
	}
	d.raster(d.l.font.line(s, d.style, d.align, d.l.dots))
	return d
}

// raster prints bm at the left margin: the image carries its own alignment
// because not every printer applies ESC a to raster images.
func (d *doc) raster(bm *escpos.Bitmap) {
	if d.align == escpos.Left {
		d.b.Raster(bm)
		return
	}
	d.b.Align(escpos.Left).Raster(bm).Align(d.align)
}

// lineFont draws a line of text as an image, laid out like printed text.
type lineFont interface {
	line(s string, st escpos.Style, align escpos.Align, dots int) *escpos.Bitmap
}

// tableFont draws lines with display/bitmapfont: WenQuanYi Micro Hei at
// 24 px for wide (Chinese) characters and 20 px for narrow ones, which
// fit the printer's 24×24 and 12×24 cells. Without a configured font it is
// what a Western printer prints Chinese words with.
type tableFont struct{}

func (tableFont) line(s string, st escpos.Style, align escpos.Align, dots int) *escpos.Bitmap {
	const cellW, h, gap, baseline = 12, 24, 6, 20
	w := 0
	for _, r := range s {
		w += runeCells(r) * cellW
	}
	w = max(1, min(w, dots))
	m := image.NewAlpha(image.Rect(0, 0, w, h))
	x := 0
	for _, r := range s {
		cw := runeCells(r) * cellW
		f := bitmapfont.ForSize(20)
		if cw > cellW {
			f = bitmapfont.ForSize(24)
		}
		g, _ := f.Glyph(r)
		left := x + (cw-g.Advance)/2
		f.Draw(func(px, py int) {
			if px >= x && px < x+cw && py >= 0 && py < h {
				m.SetAlpha(px, py, color.Alpha{A: 0xff})
			}
		}, left, baseline, string(r), st.Bold)
		x += cw
	}
	return scaleLine(m, w, h, gap, st, align, dots)
}

// scaleLine doubles the line for double width/height and places it on the
// paper as the alignment says.
func scaleLine(m *image.Alpha, w, h, gap int, st escpos.Style, align escpos.Align, dots int) *escpos.Bitmap {
	sx, sy := 1, 1
	if st.DoubleWidth {
		sx = 2
	}
	if st.DoubleHeight {
		sy = 2
	}
	ow := min(w*sx, dots)
	x0 := 0
	switch align {
	case escpos.Center:
		x0 = (dots - ow) / 2
	case escpos.Right:
		x0 = dots - ow
	}
	bm := escpos.NewBitmap(x0+ow, h*sy+gap)
	for y := 0; y < h*sy; y++ {
		for x := 0; x < ow; x++ {
			if m.AlphaAt(x/sx, y/sy).A >= 0x80 {
				bm.Set(x0+x, y, true)
			}
		}
	}
	return bm
}

// textFont draws lines for printers whose code page lacks some characters
// (Chinese on a Western printer, say) with a configured font file.
type textFont struct {
	mu      sync.Mutex // a font.Face is not safe for concurrent use
	regular font.Face  // the configured font, for what the charset lacks
	latin   font.Face  // Go Mono, 12 dots wide like font A, for the rest
}

func loadFont(path string) (*textFont, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("printer: text font: %w", err)
	}
	f, err := bitmapfont.ParseFont(data) // also reads wqy-microhei.ttc's unaligned tables
	if err != nil {
		return nil, fmt.Errorf("printer: text font %s: %w", path, err)
	}
	// 24 px: the height of the printer's font A, so rasterised and printed
	// lines match.
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: 22, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("printer: text font %s: %w", path, err)
	}
	mono, err := opentype.Parse(gomono.TTF)
	if err != nil {
		return nil, fmt.Errorf("printer: Go Mono: %w", err)
	}
	latin, err := opentype.NewFace(mono, &opentype.FaceOptions{Size: 20, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("printer: Go Mono: %w", err)
	}
	return &textFont{regular: face, latin: latin}, nil
}

// runeCells is how many 12-dot cells a character takes in a rasterised
// line: two for East Asian wide and fullwidth characters, as on a Chinese
// printer, one for the rest.
func runeCells(r rune) int {
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// line renders s as one printed line laid out like printed text: each
// character centred in its cell of 12 dots (24 when wide), 24 dots high
// plus the 6-dot gap of the line pitch; doubled for double width/height;
// aligned within the paper width and clipped to it.
func (f *textFont) line(s string, st escpos.Style, align escpos.Align, dots int) *escpos.Bitmap {
	const cellW, h, gap = 12, 24, 6
	f.mu.Lock()
	defer f.mu.Unlock()
	w := 0
	for _, r := range s {
		w += runeCells(r) * cellW
	}
	w = max(1, min(w, dots))
	m := image.NewAlpha(image.Rect(0, 0, w, h))
	dr := font.Drawer{Dst: m, Src: image.Opaque}
	x := 0
	for _, r := range s {
		cw := runeCells(r) * cellW
		// Narrow characters look like the printer's own font where Go Mono
		// has them (CJK fonts often lack Latin, or draw it wide); the rest
		// come from the configured font.
		dr.Face = f.regular
		if _, ok := f.latin.GlyphAdvance(r); ok && cw == cellW {
			dr.Face = f.latin
		} else if _, ok := f.regular.GlyphAdvance(r); !ok {
			dr.Face = f.latin
		}
		adv, _ := dr.Face.GlyphAdvance(r)
		left := fixed.I(x) + (fixed.I(cw)-adv)/2
		dr.Dot = fixed.Point26_6{X: left, Y: fixed.I(19)}
		dr.DrawString(string(r))
		if st.Bold { // overstrike one dot to the right, as printers embolden
			dr.Dot = fixed.Point26_6{X: left + fixed.I(1), Y: fixed.I(19)}
			dr.DrawString(string(r))
		}
		x += cw
	}
	return scaleLine(m, w, h, gap, st, align, dots)
}
