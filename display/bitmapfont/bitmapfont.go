// Package bitmapfont draws text for the panels and the printer as 1-bit
// glyphs: Latin, the yuan and Hong Kong dollar signs and Chinese.
//
// The glyphs come from WenQuanYi Micro Hei (文泉驿微米黑, Apache-2.0 or
// GPL-3+ with the font exception; Debian package fonts-wqy-microhei),
// rasterised with golang.org/x/image/font/opentype and thresholded once, so
// that text is identical on 1-bit and colour panels and never blurred.
//
// Every fixed word of the interface (all of package display/locale, ASCII,
// the currency signs) is pre-rendered at the sizes in Sizes into table.bin,
// a small generated file committed with the code (go generate runs
// ./gen); tests, the demo and a terminal without fonts installed need
// nothing else. Dynamic text — a merchant's name, an order subject, a
// gateway's message in Chinese — can hold any character: those not in the
// table are drawn from a system font (SetSystemFont, by default the Debian
// path of WenQuanYi Micro Hei) at the same pixel size, and, when no font
// has them, as a hollow box per character, so that the customer sees that
// something is there rather than "????".
package bitmapfont

//go:generate go run ./gen -font /usr/share/fonts/truetype/wqy/wqy-microhei.ttc -out table.bin

import (
	"bytes"
	"compress/flate"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"sort"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

//go:embed table.bin
var tableData []byte

// DefaultSystemFont is where Debian's fonts-wqy-microhei installs the font.
const DefaultSystemFont = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

// Threshold is the coverage (0..255) from which an anti-aliased pixel of a
// Chinese character is ink: below 50% so that its thin horizontal strokes
// stay connected at 12–16 px. Latin letters use LatinThreshold, 50%, which
// keeps the one-pixel gap under the dot of an i (at 0x60 "Paid" reads
// "Pald" at 12 px). The generator and the system font use the same values,
// so table and dynamic glyphs look alike.
const (
	Threshold      = 0x60
	LatinThreshold = 0x80
)

// threshold is the ink threshold for r.
func threshold(r rune) uint32 {
	if r < 0x2e80 { // below the CJK radicals: Latin, Greek, Cyrillic, signs
		return LatinThreshold
	}
	return Threshold
}

// Glyph is one character as 1-bit pixels.
type Glyph struct {
	// Advance is how far the pen moves, in pixels.
	Advance int
	// Rect is the ink box relative to the pen on the baseline (Min.Y < 0
	// is above the baseline). Empty for a space.
	Rect image.Rectangle
	// Bits are Rect.Dx()×Rect.Dy() pixels, row by row; true is ink.
	Bits []bool
}

// Source says where a glyph came from.
type Source int

// Glyph sources.
const (
	Table  Source = iota // pre-rendered, always the same
	System               // the system font, for dynamic text
	Box                  // no font has it: a hollow box
)

// Face is the font at one pixel size.
type Face struct {
	// Size is the em size in pixels.
	Size int
	// Top and Bottom bound the ink of Latin, digits and Chinese relative to
	// the baseline (Top < 0): the height a line needs.
	Top, Bottom int
	glyphs      map[rune]*Glyph

	mu  sync.Mutex
	sys map[rune]*Glyph // system font glyphs (nil entries: missing)
}

var (
	loadOnce sync.Once
	faces    []*Face // by size, ascending
	loadErr  error
)

func load() {
	faces, loadErr = decode(tableData)
}

// Sizes returns the pixel sizes of the table, ascending.
func Sizes() []int {
	loadOnce.Do(load)
	out := make([]int, len(faces))
	for i, f := range faces {
		out[i] = f.Size
	}
	return out
}

// ForSize returns the largest face not bigger than size pixels, or the
// smallest face when size is below every size.
func ForSize(size int) *Face {
	loadOnce.Do(load)
	if loadErr != nil {
		panic(loadErr) // the embedded table is part of the binary: a test catches this
	}
	best := faces[0]
	for _, f := range faces {
		if f.Size <= size {
			best = f
		}
	}
	return best
}

// InTable reports whether every rune of s is pre-rendered at this size.
func (f *Face) InTable(s string) bool {
	for _, r := range s {
		if _, ok := f.glyphs[r]; !ok {
			return false
		}
	}
	return true
}

// Glyph returns the glyph for r and where it came from.
func (f *Face) Glyph(r rune) (*Glyph, Source) {
	if g, ok := f.glyphs[r]; ok {
		return g, Table
	}
	if g := f.system(r); g != nil {
		return g, System
	}
	return f.box(), Box
}

// Width is the advance width of s in pixels.
func (f *Face) Width(s string) int {
	w := 0
	for _, r := range s {
		g, _ := f.Glyph(r)
		w += g.Advance
	}
	return w
}

// Height is the height of a line: Bottom - Top.
func (f *Face) Height() int { return f.Bottom - f.Top }

// Draw calls set for every ink pixel of s drawn with the pen starting at x
// and the baseline at y. bold draws each glyph twice, one pixel apart, as
// printers and bitmap fonts embolden.
func (f *Face) Draw(set func(x, y int), x, y int, s string, bold bool) {
	for _, r := range s {
		g, _ := f.Glyph(r)
		w := g.Rect.Dx()
		for gy := 0; gy < g.Rect.Dy(); gy++ {
			for gx := 0; gx < w; gx++ {
				if g.Bits[gy*w+gx] {
					px, py := x+g.Rect.Min.X+gx, y+g.Rect.Min.Y+gy
					set(px, py)
					if bold {
						set(px+1, py)
					}
				}
			}
		}
		x += g.Advance
	}
}

// box is the glyph for a character no font has: a hollow box as wide as a
// Chinese character, so a missing glyph is visible but never mistaken for
// a question mark typed by someone.
func (f *Face) box() *Glyph {
	adv := f.Size
	w, h := max(3, adv*3/4), max(4, f.Bottom-f.Top-1)
	g := &Glyph{Advance: adv, Rect: image.Rect((adv-w)/2, f.Top, (adv-w)/2+w, f.Top+h)}
	g.Bits = make([]bool, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g.Bits[y*w+x] = x == 0 || y == 0 || x == w-1 || y == h-1
		}
	}
	return g
}

// The system font, shared by every size.
var sys struct {
	mu    sync.Mutex
	path  string
	tried bool
	font  *opentype.Font
}

// SetSystemFont names the TTF/OTF/TTC font used for characters the table
// lacks; "" turns the system font off (tests do, so that pictures do not
// depend on the machine). It is loaded on first use; an error here means
// the file is not a usable font.
func SetSystemFont(path string) error {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	sys.path, sys.tried, sys.font = path, path == "", nil
	loadOnce.Do(load)
	for _, f := range faces {
		f.mu.Lock()
		f.sys = nil
		f.mu.Unlock()
	}
	if path == "" {
		return nil
	}
	return loadSystem()
}

func init() { sys.path = DefaultSystemFont }

// loadSystem loads sys.path; sys.mu is held.
func loadSystem() error {
	sys.tried = true
	data, err := os.ReadFile(sys.path)
	if err != nil {
		return fmt.Errorf("bitmapfont: system font: %w", err)
	}
	f, err := ParseFont(data)
	if err != nil {
		return fmt.Errorf("bitmapfont: system font %s: %w", sys.path, err)
	}
	sys.font = f
	return nil
}

// HasSystemFont reports whether a system font is loaded (or loads the
// configured one now).
func HasSystemFont() bool {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	if !sys.tried {
		loadSystem()
	}
	return sys.font != nil
}

// ParseFont reads the first font of a TTF, OTF or TTC file. Fonts whose
// tables are not 4-byte aligned (wqy-microhei.ttc is one), which
// golang.org/x/image/font/sfnt refuses, are copied with aligned tables
// first.
func ParseFont(data []byte) (*opentype.Font, error) {
	f, err := firstFont(data)
	if err == nil {
		return f, nil
	}
	aligned, aerr := alignTables(data)
	if aerr != nil {
		return nil, err
	}
	return firstFont(aligned)
}

func firstFont(data []byte) (*opentype.Font, error) {
	c, err := opentype.ParseCollection(data)
	if err != nil {
		return nil, err
	}
	return c.Font(0)
}

// alignTables returns the first font of an sfnt file or collection as a
// standalone font whose tables start on 4-byte boundaries (the OpenType
// spec's requirement; the table data is unchanged).
func alignTables(data []byte) ([]byte, error) {
	be := binary.BigEndian
	if len(data) < 12 {
		return nil, errors.New("short font")
	}
	off := 0
	if string(data[:4]) == "ttcf" {
		if len(data) < 16 {
			return nil, errors.New("short collection")
		}
		off = int(be.Uint32(data[12:]))
	}
	if off+12 > len(data) {
		return nil, errors.New("bad font offset")
	}
	n := int(be.Uint16(data[off+4:]))
	if off+12+16*n > len(data) {
		return nil, errors.New("bad table directory")
	}
	out := make([]byte, 12+16*n, len(data))
	copy(out, data[off:off+12])
	for i := 0; i < n; i++ {
		rec := data[off+12+16*i : off+28+16*i]
		start, length := int(be.Uint32(rec[8:])), int(be.Uint32(rec[12:]))
		if start < 0 || length < 0 || start+length > len(data) {
			return nil, errors.New("bad table record")
		}
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		copy(out[12+16*i:], rec[:8])
		be.PutUint32(out[12+16*i+8:], uint32(len(out)))
		be.PutUint32(out[12+16*i+12:], uint32(length))
		out = append(out, data[start:start+length]...)
	}
	return out, nil
}

func (f *Face) system(r rune) *Glyph {
	f.mu.Lock()
	if g, ok := f.sys[r]; ok {
		f.mu.Unlock()
		return g
	}
	f.mu.Unlock()
	sys.mu.Lock()
	if !sys.tried {
		loadSystem()
	}
	font := sys.font
	sys.mu.Unlock()
	var g *Glyph
	if font != nil {
		if face, err := NewFace(font, f.Size); err == nil {
			g, _ = Rasterize(face, r)
			face.Close()
		}
	}
	f.mu.Lock()
	if f.sys == nil {
		f.sys = map[rune]*Glyph{}
	}
	f.sys[r] = g
	f.mu.Unlock()
	return g
}

// NewFace is the opentype face the table was made with: size pixels per
// em, no hinting (x/image hints only metrics).
func NewFace(f *opentype.Font, size int) (font.Face, error) {
	return opentype.NewFace(f, &opentype.FaceOptions{Size: float64(size), DPI: 72, Hinting: font.HintingNone})
}

// Rasterize draws r with face on a whole-pixel pen and thresholds it at
// Threshold. It returns nil, false when the face has no glyph for r.
func Rasterize(face font.Face, r rune) (*Glyph, bool) {
	dr, mask, mp, adv, ok := face.Glyph(fixed.Point26_6{}, r)
	if !ok {
		return nil, false
	}
	g := &Glyph{Advance: adv.Round()}
	ink := image.Rectangle{}
	var on []image.Point
	for y := 0; y < dr.Dy(); y++ {
		for x := 0; x < dr.Dx(); x++ {
			_, _, _, a := mask.At(mp.X+x, mp.Y+y).RGBA()
			if a>>8 >= threshold(r) {
				p := image.Pt(dr.Min.X+x, dr.Min.Y+y)
				on = append(on, p)
				ink = ink.Union(image.Rectangle{Min: p, Max: p.Add(image.Pt(1, 1))})
			}
		}
	}
	g.Rect = ink
	g.Bits = make([]bool, ink.Dx()*ink.Dy())
	for _, p := range on {
		g.Bits[(p.Y-ink.Min.Y)*ink.Dx()+p.X-ink.Min.X] = true
	}
	return g, true
}

// Encode writes faces in the table format: per face its size, Top, Bottom
// and glyphs, each glyph as rune, advance, ink box and packed bits, all
// flate-compressed. The generator uses it; decode reads it.
func Encode(w io.Writer, sizes []int, glyphs []map[rune]*Glyph) error {
	var b bytes.Buffer
	put := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("PABF1")
	put(uint16(len(sizes)))
	for i, size := range sizes {
		runes := make([]rune, 0, len(glyphs[i]))
		for r := range glyphs[i] {
			runes = append(runes, r)
		}
		sort.Slice(runes, func(a, b int) bool { return runes[a] < runes[b] })
		put(uint16(size))
		put(uint32(len(runes)))
		for _, r := range runes {
			g := glyphs[i][r]
			put(uint32(r))
			put(int16(g.Advance))
			put([4]int16{int16(g.Rect.Min.X), int16(g.Rect.Min.Y), int16(g.Rect.Max.X), int16(g.Rect.Max.Y)})
			packed := make([]byte, (len(g.Bits)+7)/8)
			for j, on := range g.Bits {
				if on {
					packed[j/8] |= 0x80 >> (j % 8)
				}
			}
			b.Write(packed)
		}
	}
	zw, err := flate.NewWriter(w, flate.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(b.Bytes()); err != nil {
		return err
	}
	return zw.Close()
}

func decode(data []byte) ([]*Face, error) {
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil, fmt.Errorf("bitmapfont: table: %w", err)
	}
	r := bytes.NewReader(raw)
	magic := make([]byte, 5)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "PABF1" {
		return nil, errors.New("bitmapfont: table: bad header")
	}
	get := func(v any) error { return binary.Read(r, binary.LittleEndian, v) }
	var n uint16
	if err := get(&n); err != nil {
		return nil, fmt.Errorf("bitmapfont: table: %w", err)
	}
	var out []*Face
	for range n {
		var size uint16
		var count uint32
		if err := get(&size); err != nil {
			return nil, fmt.Errorf("bitmapfont: table: %w", err)
		}
		if err := get(&count); err != nil {
			return nil, fmt.Errorf("bitmapfont: table: %w", err)
		}
		f := &Face{Size: int(size), glyphs: make(map[rune]*Glyph, count)}
		for range count {
			var cp uint32
			var adv int16
			var box [4]int16
			if err := get(&cp); err != nil {
				return nil, fmt.Errorf("bitmapfont: table: %w", err)
			}
			if err := get(&adv); err != nil {
				return nil, fmt.Errorf("bitmapfont: table: %w", err)
			}
			if err := get(&box); err != nil {
				return nil, fmt.Errorf("bitmapfont: table: %w", err)
			}
			g := &Glyph{Advance: int(adv), Rect: image.Rect(int(box[0]), int(box[1]), int(box[2]), int(box[3]))}
			if g.Rect.Dx() < 0 || g.Rect.Dy() < 0 || g.Rect.Dx() > 1024 || g.Rect.Dy() > 1024 {
				return nil, errors.New("bitmapfont: table: bad glyph box")
			}
			g.Bits = make([]bool, g.Rect.Dx()*g.Rect.Dy())
			packed := make([]byte, (len(g.Bits)+7)/8)
			if _, err := io.ReadFull(r, packed); err != nil {
				return nil, fmt.Errorf("bitmapfont: table: %w", err)
			}
			for j := range g.Bits {
				g.Bits[j] = packed[j/8]&(0x80>>(j%8)) != 0
			}
			f.glyphs[rune(cp)] = g
		}
		f.Top, f.Bottom = metrics(f.glyphs)
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, errors.New("bitmapfont: table: no faces")
	}
	return out, nil
}

// metrics is the ink extent of the characters lines are made of: letters
// with ascenders and descenders, digits, the currency signs and two common
// Chinese characters.
func metrics(glyphs map[rune]*Glyph) (top, bottom int) {
	for _, r := range "Hbdfghjklpqy0123456789¥$中国" {
		if g, ok := glyphs[r]; ok && !g.Rect.Empty() {
			top = min(top, g.Rect.Min.Y)
			bottom = max(bottom, g.Rect.Max.Y)
		}
	}
	return top, bottom
}
