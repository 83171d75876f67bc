package bitmapfont

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/image/font/gofont/goregular"

	"posagent/display/locale"
)

// Every word of every locale is pre-rendered at every size up to 32 px:
// screens need no system font for the fixed interface strings (issue 16).
func TestEveryWordIsInTheTable(t *testing.T) {
	for _, size := range Sizes() {
		if size > 32 {
			continue
		}
		f := ForSize(size)
		for _, tag := range locale.Tags {
			l := locale.Must(tag)
			for _, id := range l.IDs() {
				for _, r := range l.T(id) {
					if _, ok := f.glyphs[r]; !ok {
						t.Errorf("%d px lacks %q of %s %q", size, r, tag, id)
					}
				}
			}
		}
	}
}

func TestTableRoundTrip(t *testing.T) {
	sizes := Sizes()
	if len(sizes) < 6 || sizes[0] > 12 || sizes[len(sizes)-1] < 40 {
		t.Fatalf("sizes %v: want from ≤12 px (128×64 panels) to ≥40 px (amounts on 240-pixel panels)", sizes)
	}
	var b bytes.Buffer
	var tables []map[rune]*Glyph
	for _, s := range sizes {
		tables = append(tables, ForSize(s).glyphs)
	}
	if err := Encode(&b, sizes, tables); err != nil {
		t.Fatal(err)
	}
	got, err := decode(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range got {
		want := ForSize(sizes[i])
		if f.Size != want.Size || len(f.glyphs) != len(want.glyphs) || f.Top != want.Top {
			t.Fatalf("size %d: decoded %d glyphs, want %d", f.Size, len(f.glyphs), len(want.glyphs))
		}
		for r, g := range want.glyphs {
			h := f.glyphs[r]
			if h == nil || h.Rect != g.Rect || h.Advance != g.Advance || len(h.Bits) != len(g.Bits) {
				t.Fatalf("size %d %q differs", f.Size, r)
			}
			for j := range g.Bits {
				if g.Bits[j] != h.Bits[j] {
					t.Fatalf("size %d %q bit %d differs", f.Size, r, j)
				}
			}
		}
	}
	for _, bad := range [][]byte{nil, []byte("junk"), b.Bytes()[:len(b.Bytes())/2]} {
		if _, err := decode(bad); err == nil {
			t.Errorf("decode(%d bytes) accepted", len(bad))
		}
	}
}

// Glyph heights grow with the size: a 16-px face draws a Chinese character
// between 13 and 17 pixels high, digits at least 10 (WenQuanYi Micro Hei's
// cap height is about 0.72 em).
func TestGlyphSizes(t *testing.T) {
	f := ForSize(16)
	if f.Size != 16 {
		t.Fatalf("ForSize(16) is %d px", f.Size)
	}
	g, src := f.Glyph('码')
	if src != Table || g.Rect.Dy() < 13 || g.Rect.Dy() > 17 || g.Advance != 16 {
		t.Errorf("码 at 16 px: %v advance %d from %v", g.Rect, g.Advance, src)
	}
	d, _ := f.Glyph('8')
	if d.Rect.Dy() < 10 || d.Rect.Max.Y != 0 {
		t.Errorf("8 at 16 px: %v, want ≥10 px high on the baseline", d.Rect)
	}
	if ForSize(1).Size != Sizes()[0] || ForSize(15).Size != 14 {
		t.Error("ForSize picks the largest size not above the request")
	}
}

// Without a system font, a character outside the table is a hollow box as
// wide as a Chinese character: visible, and not a '?'.
func TestMissingIsABox(t *testing.T) {
	if err := SetSystemFont(""); err != nil {
		t.Fatal(err)
	}
	defer SetSystemFont(DefaultSystemFont)
	f := ForSize(16)
	g, src := f.Glyph('鑫')
	if src != Box || g.Advance != 16 || g.Rect.Dx() < 8 {
		t.Fatalf("鑫 without a font: %v %v", src, g.Rect)
	}
	// Hollow: the middle is empty, the frame is ink.
	w, h := g.Rect.Dx(), g.Rect.Dy()
	if g.Bits[(h/2)*w+w/2] || !g.Bits[0] || !g.Bits[len(g.Bits)-1] {
		t.Error("box is not a hollow frame")
	}
	if HasSystemFont() {
		t.Error("system font still on")
	}
}

// A system font fills in dynamic text; Go Regular stands in for a CJK font
// here (it has 'Ł', which the table does not).
func TestSystemFont(t *testing.T) {
	path := t.TempDir() + "/go.ttf"
	if err := os.WriteFile(path, goregular.TTF, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SetSystemFont(path); err != nil {
		t.Fatal(err)
	}
	defer SetSystemFont(DefaultSystemFont)
	g, src := ForSize(16).Glyph('Ł')
	if src != System || g.Rect.Empty() {
		t.Fatalf("Ł from the system font: %v %v", src, g.Rect)
	}
	if err := SetSystemFont(t.TempDir() + "/none.ttf"); err == nil {
		t.Error("missing font accepted")
	}
}

// The Debian font file has unaligned tables; ParseFont must still read it.
func TestDebianFont(t *testing.T) {
	data, err := os.ReadFile(DefaultSystemFont)
	if err != nil {
		t.Skip("fonts-wqy-microhei not installed")
	}
	f, err := ParseFont(data)
	if err != nil {
		t.Fatal(err)
	}
	face, err := NewFace(f, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer face.Close()
	// The table is this font at these sizes: regenerate it if this fails.
	want, _ := Rasterize(face, '付')
	got, _ := ForSize(16).Glyph('付')
	if want.Rect != got.Rect || len(want.Bits) != len(got.Bits) {
		t.Fatalf("table 付 %v, font %v: run go generate ./display/bitmapfont", got.Rect, want.Rect)
	}
}
