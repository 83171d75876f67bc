package display

import (
	"image"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/font/inconsolata"
	"golang.org/x/image/math/fixed"
)

// glyphs is a bitmap font thresholded to 1 bit: a pixel is ink when the
// face's coverage is at least 50%. Thresholding once keeps text identical on
// 1-bit and colour panels and lets it be scaled by whole pixels without blur.
type glyphs struct {
	face    *basicfont.Face
	advance int
	// top and bottom bound the ink rows of the glyphs we draw, relative to
	// the baseline, so that lines can be packed tightly on 64-pixel panels.
	// left (≤ 0) and right (≥ 0) are how far ink reaches before the pen and
	// past the advance, so that measured text never spills out of its box.
	top, bottom int
	left, right int
	mu          sync.Mutex
	cache       map[rune]*glyph
}

type glyph struct {
	// ink rows relative to the baseline, left to right columns from the pen.
	rect image.Rectangle
	bits []bool
}

var (
	regular = newGlyphs(inconsolata.Regular8x16)
	bold    = newGlyphs(inconsolata.Bold8x16)
)

func newGlyphs(f *basicfont.Face) *glyphs {
	g := &glyphs{face: f, advance: f.Advance, cache: map[rune]*glyph{}}
	// Ink extent over what screens show: ASCII, the yuan sign and '…'.
	g.top, g.bottom = 0, 0
	first := true
	for _, r := range []rune(asciiPrintable() + "¥…") {
		gl := g.get(r)
		if gl == nil || gl.rect.Empty() {
			continue
		}
		if first || gl.rect.Min.Y < g.top {
			g.top = gl.rect.Min.Y
		}
		if first || gl.rect.Max.Y > g.bottom {
			g.bottom = gl.rect.Max.Y
		}
		g.left = min(g.left, gl.rect.Min.X)
		g.right = max(g.right, gl.rect.Max.X-g.advance)
		first = false
	}
	return g
}

func asciiPrintable() string {
	var b strings.Builder
	for r := rune(0x20); r < 0x7f; r++ {
		b.WriteRune(r)
	}
	return b.String()
}

// has reports whether the face can draw r.
func (g *glyphs) has(r rune) bool {
	_, ok := g.face.GlyphAdvance(r)
	return ok
}

// get returns the thresholded glyph for r, nil if the face lacks it.
func (g *glyphs) get(r rune) *glyph {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gl, ok := g.cache[r]; ok {
		return gl
	}
	dr, mask, mp, _, ok := g.face.Glyph(fixed.Point26_6{}, r)
	if !ok {
		g.cache[r] = nil
		return nil
	}
	gl := &glyph{rect: image.Rectangle{Min: image.Pt(dr.Max.X, dr.Max.Y), Max: image.Pt(dr.Min.X, dr.Min.Y)}}
	bits := make([]bool, dr.Dx()*dr.Dy())
	for y := 0; y < dr.Dy(); y++ {
		for x := 0; x < dr.Dx(); x++ {
			_, _, _, a := mask.At(mp.X+x, mp.Y+y).RGBA()
			if a >= 0x8000 {
				bits[y*dr.Dx()+x] = true
				px, py := dr.Min.X+x, dr.Min.Y+y
				gl.rect.Min.X = min(gl.rect.Min.X, px)
				gl.rect.Min.Y = min(gl.rect.Min.Y, py)
				gl.rect.Max.X = max(gl.rect.Max.X, px+1)
				gl.rect.Max.Y = max(gl.rect.Max.Y, py+1)
			}
		}
	}
	if gl.rect.Min.X >= gl.rect.Max.X {
		gl.rect = image.Rectangle{} // blank glyph (space)
		g.cache[r] = gl
		return gl
	}
	// Keep only the ink rectangle.
	ink := make([]bool, 0, gl.rect.Dx()*gl.rect.Dy())
	for y := gl.rect.Min.Y; y < gl.rect.Max.Y; y++ {
		for x := gl.rect.Min.X; x < gl.rect.Max.X; x++ {
			ink = append(ink, bits[(y-dr.Min.Y)*dr.Dx()+(x-dr.Min.X)])
		}
	}
	gl.bits = ink
	g.cache[r] = gl
	return gl
}

// lineHeight is the height of one line of text at scale k.
func (g *glyphs) lineHeight(k int) int { return (g.bottom - g.top) * k }

// width is the width of the ink of s at scale k.
func (g *glyphs) width(s string, k int) int {
	n := len([]rune(s))
	if n == 0 {
		return 0
	}
	return (n*g.advance - g.left + g.right) * k
}

// perLine is how many runes fit in w pixels at scale 1.
func (g *glyphs) perLine(w int) int {
	return max(0, (w+g.left-g.right)/g.advance)
}

// draw paints s with its top-left ink corner at (x, y), scaled k times, in
// palette index c. Runes the face lacks are skipped (callers clean text with
// printable first).
func (g *glyphs) draw(dst *image.Paletted, x, y int, s string, k int, c uint8) {
	baseline := y - g.top*k
	pen := x - g.left*k
	for _, r := range s {
		gl := g.get(r)
		if gl != nil && !gl.rect.Empty() {
			w := gl.rect.Dx()
			for gy := 0; gy < gl.rect.Dy(); gy++ {
				for gx := 0; gx < w; gx++ {
					if !gl.bits[gy*w+gx] {
						continue
					}
					px := pen + (gl.rect.Min.X+gx)*k
					py := baseline + (gl.rect.Min.Y+gy)*k
					fillRect(dst, image.Rect(px, py, px+k, py+k), c)
				}
			}
		}
		pen += g.advance * k
	}
}

// printable returns s cleaned for the bitmap font: control characters become
// spaces, a few unknown runes become '?', and a string that is mostly
// unknown (Chinese text, for example) becomes "" so that the caller can leave
// the field out rather than show a row of question marks.
func printable(s string, g *glyphs) string {
	var b strings.Builder
	known, unknown := 0, 0
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r):
			b.WriteByte(' ')
		case g.has(r):
			known++
			b.WriteRune(r)
		default:
			unknown++
			b.WriteByte('?')
		}
	}
	if unknown > known {
		return ""
	}
	return strings.TrimSpace(strings.Join(strings.Fields(b.String()), " "))
}

// truncate shortens s to at most n runes, ending with '…' when cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	return string(r[:n-1]) + "…"
}

// wrap splits s into lines of at most n runes, at spaces where possible.
func wrap(s string, n int) []string {
	if n <= 0 {
		return nil
	}
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		for len([]rune(w)) > n { // a word longer than a line is cut
			if cur != "" {
				lines = append(lines, cur)
				cur = ""
			}
			lines = append(lines, string([]rune(w)[:n]))
			w = string([]rune(w)[n:])
		}
		switch {
		case cur == "":
			cur = w
		case len([]rune(cur))+1+len([]rune(w)) <= n:
			cur += " " + w
		default:
			lines = append(lines, cur)
			cur = w
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

func fillRect(dst *image.Paletted, r image.Rectangle, c uint8) {
	r = r.Intersect(dst.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := dst.Pix[dst.PixOffset(r.Min.X, y):dst.PixOffset(r.Max.X, y)]
		for i := range row {
			row[i] = c
		}
	}
}
