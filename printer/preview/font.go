package preview

import (
	"fmt"
	"image"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"posagent/display/bitmapfont"
)

// Go Mono at 20 px has an advance of 12 px: exactly a 12×24 font A cell.
const fontPx = 20

var (
	fontOnce  sync.Once
	faces     [2]font.Face // regular, bold
	glyphMu   sync.Mutex
	glyphMask = map[[2]int]*image.Alpha{}
)

func loadFaces() {
	for i, ttf := range [][]byte{gomono.TTF, gomonobold.TTF} {
		f, err := opentype.Parse(ttf)
		if err != nil {
			panic("preview: embedded Go Mono font does not parse: " + err.Error()) // cannot happen: the font is compiled in
		}
		faces[i], err = opentype.NewFace(f, &opentype.FaceOptions{Size: fontPx, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			panic("preview: " + err.Error())
		}
	}
}

// mask returns the glyph for r in a 12×24 cell, or nil if the font lacks it.
func mask(r rune, bold bool) *image.Alpha {
	fontOnce.Do(loadFaces)
	b := 0
	if bold {
		b = 1
	}
	key := [2]int{int(r), b}
	glyphMu.Lock()
	defer glyphMu.Unlock()
	if m, ok := glyphMask[key]; ok {
		return m
	}
	face := faces[b]
	var m *image.Alpha
	if _, ok := face.GlyphAdvance(r); ok {
		m = image.NewAlpha(image.Rect(0, 0, cellW, cellH))
		d := font.Drawer{Dst: m, Src: image.Opaque, Face: face, Dot: fixed.P(0, 19)}
		d.DrawString(string(r))
	}
	glyphMask[key] = m
	return m
}

// drawGlyph draws g with its top-left corner at x, y. Double width/height
// doubles dots, as a printer does.
func drawGlyph(c *canvas, g glyph, x, y int, cjk *cjkFont) {
	if g.r == ' ' {
		return
	}
	m := mask(g.r, g.bold)
	if g.wide && cjk != nil {
		if w := cjk.mask(g.r); w != nil {
			for j := 0; j < cellH; j++ {
				for i := 0; i < 2*cellW; i++ {
					if w.AlphaAt(i, j).A >= 0x80 {
						c.fill(x+i*g.sx, y+j*g.sy, g.sx, g.sy)
					}
				}
			}
			return
		}
	}
	if g.wide && cjk == nil {
		// The pre-rendered WenQuanYi glyphs, for the picture only: Lines
		// are decoded from the bytes, independently of any font.
		if f := bitmapfont.ForSize(24); f.InTable(string(g.r)) {
			gl, _ := f.Glyph(g.r)
			left := (2*cellW - gl.Advance) / 2
			f.Draw(func(px, py int) {
				if px >= 0 && px < 2*cellW && py >= 0 && py < cellH {
					c.fill(x+px*g.sx, y+py*g.sy, g.sx, g.sy)
				}
			}, left, 20, string(g.r), g.bold)
			return
		}
	}
	if m == nil || g.wide {
		// No glyph (a Chinese character, say): a box the size of the cell.
		for i := 2; i < g.w-2; i++ {
			c.set(x+i, y+2)
			c.set(x+i, y+g.h-3)
		}
		for j := 2; j < g.h-2; j++ {
			c.set(x+2, y+j)
			c.set(x+g.w-3, y+j)
		}
		return
	}
	for j := 0; j < cellH; j++ {
		for i := 0; i < cellW; i++ {
			if m.AlphaAt(i, j).A >= 0x80 {
				c.fill(x+i*g.sx, y+j*g.sy, g.sx, g.sy)
			}
		}
	}
}

// cjkFont draws Chinese characters in 24×24 cells.
type cjkFont struct {
	face  font.Face
	cache map[rune]*image.Alpha
}

func newCJK(data []byte) (*cjkFont, error) {
	f, err := bitmapfont.ParseFont(data)
	if err != nil {
		return nil, fmt.Errorf("preview: CJK font: %w", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: 22, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("preview: CJK font: %w", err)
	}
	return &cjkFont{face: face, cache: map[rune]*image.Alpha{}}, nil
}

func (f *cjkFont) mask(r rune) *image.Alpha {
	if m, ok := f.cache[r]; ok {
		return m
	}
	var m *image.Alpha
	if adv, ok := f.face.GlyphAdvance(r); ok {
		m = image.NewAlpha(image.Rect(0, 0, 2*cellW, cellH))
		d := font.Drawer{Dst: m, Src: image.Opaque, Face: f.face,
			Dot: fixed.Point26_6{X: (fixed.I(2*cellW) - adv) / 2, Y: fixed.I(20)}}
		d.DrawString(string(r))
	}
	f.cache[r] = m
	return m
}
