package escpos

import (
	"bytes"
	"encoding/hex"
	"image"
	"image/color"
	"strings"
	"testing"
)

// h turns "1D 28 6B" into bytes; the expected values below are copied from
// the command reference tables (cited per case), not from this package.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func build(t *testing.T, f func(b *Builder)) []byte {
	t.Helper()
	b := NewBuilder(nil)
	f(b)
	out, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCommandsFromReference(t *testing.T) {
	cases := []struct {
		name string
		f    func(b *Builder)
		want string
	}{
		// ESC @ = 1B 40, then ESC t 0 (PC437) = 1B 74 00.
		{"init cp437", func(b *Builder) { b.Init() }, "1B 40 1B 74 00"},
		// FS & = 1C 26 (Chinese character mode).
		{"init gb18030", func(b *Builder) { b.charset = GB18030; b.Init() }, "1B 40 1C 26"},
		// ESC a n = 1B 61 n, n=1 centre.
		{"align centre", func(b *Builder) { b.Align(Center) }, "1B 61 01"},
		// ESC ! n: 0x08 emphasized + 0x10 double height + 0x20 double width = 0x38.
		{"style all", func(b *Builder) { b.Style(Style{Bold: true, DoubleHeight: true, DoubleWidth: true}) }, "1B 21 38"},
		{"style bold", func(b *Builder) { b.Style(Style{Bold: true}) }, "1B 21 08"},
		// ESC d n = 1B 64 n.
		{"feed 3", func(b *Builder) { b.Feed(3) }, "1B 64 03"},
		// GS V m n, m=66 feed to cut position and partial cut = 1D 56 42 00.
		{"cut partial", func(b *Builder) { b.Cut(CutPartial) }, "1D 56 42 00"},
		{"cut full", func(b *Builder) { b.Cut(CutFull) }, "1D 56 41 00"},
		// GS ( k, cn=49:
		//  Function 165: 1D 28 6B 04 00 31 41 32 00 (model 2)
		//  Function 167: 1D 28 6B 03 00 31 43 06     (module 6 dots)
		//  Function 169: 1D 28 6B 03 00 31 45 31     (level M)
		//  Function 180: 1D 28 6B 06 00 31 50 30 'A' 'B' 'C'  (pL = k+3 = 6)
		//  Function 181: 1D 28 6B 03 00 31 51 30
		{"native qr", func(b *Builder) { b.QR("ABC", 6, ECCMedium) },
			"1D286B0400314132 00 1D286B0300314306 1D286B0300314531 1D286B0600315030 414243 1D286B0300315130"},
		// GS v 0 m xL xH yL yH: a 10x2 image is 2 bytes wide, 2 rows; k = 4.
		{"raster", func(b *Builder) {
			bm := NewBitmap(10, 2)
			bm.Set(0, 0, true) // MSB of the first byte
			bm.Set(9, 1, true) // second bit of the second byte of row 2
			b.Raster(bm)
		}, "1D 76 30 00 02 00 02 00 80 00 00 40"},
		// Text: control characters never reach the printer.
		{"text sanitised", func(b *Builder) { b.Line("A\x1b@B") }, "41 20 40 42 0A"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := build(t, c.f)
			if want := h(c.want); !bytes.Equal(got, want) {
				t.Fatalf("got % X\nwant % X", got, want)
			}
		})
	}
}

func TestQRStoreLengthTwoBytes(t *testing.T) {
	// 300 bytes of data: pL+pH·256 = 303 = 0x012F → pL=2F pH=01.
	data := strings.Repeat("x", 300)
	got := build(t, func(b *Builder) { b.QR(data, 4, ECCLow) })
	store := h("1D 28 6B 2F 01 31 50 30")
	if !bytes.Contains(got, store) {
		t.Fatalf("store header % X not in stream", store)
	}
}

func TestRasterBands(t *testing.T) {
	bm := NewBitmap(8, 300)
	got := build(t, func(b *Builder) { b.Raster(bm) })
	// 255 rows then 45 rows, each 1 byte wide.
	if !bytes.HasPrefix(got, h("1D 76 30 00 01 00 FF 00")) {
		t.Fatalf("first band header % X", got[:8])
	}
	second := 8 + 255
	if !bytes.Equal(got[second:second+8], h("1D 76 30 00 01 00 2D 00")) {
		t.Fatalf("second band header % X", got[second:second+8])
	}
	if len(got) != 8+255+8+45 {
		t.Fatalf("len %d", len(got))
	}
}

func TestBadInputIsAnError(t *testing.T) {
	for name, f := range map[string]func(b *Builder){
		"empty qr":     func(b *Builder) { b.QR("", 4, ECCLow) },
		"module 0":     func(b *Builder) { b.QR("x", 0, ECCLow) },
		"module 17":    func(b *Builder) { b.QR("x", 17, ECCLow) },
		"ecc":          func(b *Builder) { b.QR("x", 3, 52) },
		"huge qr":      func(b *Builder) { b.QR(strings.Repeat("x", MaxQRData+1), 3, ECCLow) },
		"feed":         func(b *Builder) { b.Feed(256) },
		"align":        func(b *Builder) { b.Align(3) },
		"cut":          func(b *Builder) { b.Cut(1) },
		"raster nil":   func(b *Builder) { b.Raster(nil) },
		"raster short": func(b *Builder) { b.Raster(&Bitmap{W: 8, H: 2, Pix: []byte{1}}) },
	} {
		b := NewBuilder(nil)
		f(b)
		if _, err := b.Bytes(); err == nil || !strings.HasPrefix(err.Error(), "escpos: ") {
			t.Errorf("%s: err = %v, want an escpos error", name, err)
		}
	}
}

func TestCharsets(t *testing.T) {
	// GB18030 of 中 is D6 D0, 文 is CE C4 (GB2312 row/cell, unchanged in GBK/GB18030).
	if got := GB18030.Encode(nil, "中文A"); !bytes.Equal(got, h("D6D0 CEC4 41")) {
		t.Errorf("gb18030: % X", got)
	}
	// U+20000 (CJK ext. B) is a 4-byte GB18030 sequence: GBK printers get '?'.
	if got := GBK.Encode(nil, "\U00020000"); string(got) != "?" {
		t.Errorf("gbk ext-B: % X", got)
	}
	if got := GB18030.Encode(nil, "\U00020000"); len(got) != 4 {
		t.Errorf("gb18030 ext-B: % X", got)
	}
	// PC437: é is 0x82, ¥ is 0x9D; Chinese has no PC437 glyph: '?'.
	if got := CP437.Encode(nil, "é¥中"); !bytes.Equal(got, h("82 9D 3F")) {
		t.Errorf("cp437: % X", got)
	}
	if c := GB18030.Cells("中A"); c != 3 {
		t.Errorf("cells = %d", c)
	}
	if _, err := LookupCharset("utf-8"); err == nil {
		t.Error("utf-8 accepted: printers have no UTF-8")
	}
}

func TestStatus(t *testing.T) {
	// A healthy printer answers 0x12 to each DLE EOT (fixed bits 1 and 4).
	s, err := ParseStatus(h("12 12 12 12"))
	if err != nil || s != (Status{}) {
		t.Fatalf("healthy: %+v %v", s, err)
	}
	// Offline (n=1 bit 3), paper end stop (n=2 bit 5), paper end sensor (n=4 bits 5,6).
	s, err = ParseStatus(h("1A 32 12 72"))
	if err != nil || !s.Offline || !s.PaperOut || s.CoverOpen {
		t.Fatalf("paper out: %+v %v", s, err)
	}
	// Cover open is n=2 bit 2.
	s, _ = ParseStatus(h("1A 16 12 12"))
	if !s.CoverOpen {
		t.Fatalf("cover: %+v", s)
	}
	if _, err := ParseStatus(h("00 12 12 12")); err == nil {
		t.Fatal("noise accepted as status")
	}
	for _, st := range []Status{{PaperOut: true, Offline: true}, {CoverOpen: true, Error: true}, {PaperNearEnd: true}, {CutterError: true, Unrecoverable: true, AutoRecoverable: true}} {
		got, err := ParseStatus(st.Bytes())
		if err != nil || got != st {
			t.Errorf("round trip %+v: %+v %v", st, got, err)
		}
	}
}

func TestCanEncode(t *testing.T) {
	for _, c := range []struct {
		cs   *Charset
		s    string
		want bool
	}{
		{CP437, "Café ¥12", true},
		{CP437, "Łódź", false},
		{CP437, "中", false},
		{GB18030, "中文 abc", true},
		{GBK, "\U00020000", false},
		{GB18030, "\U00020000", true},
		{CP858, "€", true},
	} {
		if got := c.cs.CanEncode(c.s); got != c.want {
			t.Errorf("%s.CanEncode(%q) = %v", c.cs.Name, c.s, got)
		}
	}
}

func TestRasterCannotCarryRealtimeCommands(t *testing.T) {
	// Row bytes 10 14 01 would be DLE DC4 1 (pulse the drawer) to a
	// printer scanning its input; 10 04 02 would be DLE EOT 2.
	bm := &Bitmap{W: 24, H: 2, Pix: h("101401 100402")}
	got := build(t, func(b *Builder) { b.Raster(bm) })
	if want := h("1D 76 30 00 03 00 02 00 001401 000402"); !bytes.Equal(got, want) {
		t.Fatalf("got % X\nwant % X", got, want)
	}
	if bm.Pix[0] != 0x10 {
		t.Fatal("caller's bitmap was modified")
	}
}

func TestFromImage(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 10, 1))
	for x := range 10 {
		img.SetGray(x, 0, color.Gray{Y: 255})
	}
	img.SetGray(0, 0, color.Gray{Y: 0})   // burns
	img.SetGray(9, 0, color.Gray{Y: 100}) // darker than half: burns
	img.SetGray(5, 0, color.Gray{Y: 200}) // light: does not
	bm := FromImage(img)
	if bm.W != 10 || bm.H != 1 || !bytes.Equal(bm.Pix, h("80 40")) {
		t.Fatalf("%+v", bm)
	}
}
