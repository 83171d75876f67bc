package preview

import (
	"bytes"
	"encoding/hex"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
	"golang.org/x/image/font/gofont/gomono"
)

// h turns "1B 40" into bytes. Streams here are written by hand from the
// command reference: this package must not learn ESC/POS from the encoder.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		panic(err)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func parse(t *testing.T, data []byte, width int) *Page {
	t.Helper()
	p, err := Parse(data, Options{Width: width})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTextAndAlignment(t *testing.T) {
	data := cat(h("1B40 1B7400 1B6101"), []byte("Hi"), h("0A 1B6102"), []byte("R"), h("0A 1B6100 1B2138"), []byte("AB"), h("0A"))
	p := parse(t, data, Width58)
	if got := strings.Join(p.Texts(), "|"); got != "Hi|R|AB" {
		t.Fatalf("texts %q", got)
	}
	// "Hi" is 24 dots wide, centred on 384: x = 180. "R" right: x = 372.
	if r := p.Lines[0].Rect; r.Min.X != 180 || r.Dx() != 24 || r.Dy() != 24 {
		t.Errorf("centred line at %v", r)
	}
	if r := p.Lines[1].Rect; r.Min.X != 372 {
		t.Errorf("right line at %v", r)
	}
	// Double width and height: 2 glyphs of 24×48.
	if r := p.Lines[2].Rect; r.Min.X != 0 || r.Dx() != 48 || r.Dy() != 48 {
		t.Errorf("double line at %v", r)
	}
	// Something was drawn inside each line box and nothing right of "AB".
	if dark(p.Image, p.Lines[0].Rect) == 0 || dark(p.Image, p.Lines[2].Rect) == 0 {
		t.Error("text not drawn")
	}
	if n := dark(p.Image, image.Rect(60, p.Lines[2].Rect.Min.Y, 384, p.Lines[2].Rect.Max.Y)); n != 0 {
		t.Errorf("%d stray dots right of the text", n)
	}
}

func dark(img *image.Gray, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.GrayAt(x, y).Y < 128 {
				n++
			}
		}
	}
	return n
}

func TestRasterDotsLandExactly(t *testing.T) {
	// GS v 0, 2 bytes × 3 rows: row 0 = 80 00 (dot 0), row 1 = 00 01 (dot 15), row 2 = FF FF.
	data := cat(h("1B40"), h("1D763000 0200 0300 8000 0001 FFFF"))
	p := parse(t, data, Width58)
	if len(p.Rasters) != 1 || p.Rasters[0] != image.Rect(0, 0, 16, 3) {
		t.Fatalf("rasters %v", p.Rasters)
	}
	img := p.Image
	want := map[image.Point]bool{{0, 0}: true, {1, 0}: false, {15, 1}: true, {14, 1}: false, {7, 2}: true, {16, 2}: false}
	for pt, black := range want {
		if got := img.GrayAt(pt.X, pt.Y).Y == 0; got != black {
			t.Errorf("dot %v black=%v, want %v", pt, got, black)
		}
	}
	if n := dark(img, image.Rect(0, 0, 16, 3)); n != 1+1+16 {
		t.Errorf("%d dots, want 18", n)
	}
}

func TestNativeQRDecodes(t *testing.T) {
	payload := "https://qr.example.com/p/42"
	n := len(payload) + 3
	data := cat(h("1B40 1B6101"),
		h("1D286B 0400 3141 3200"), // Function 165: model 2
		h("1D286B 0300 3143 06"),   // Function 167: module 6
		h("1D286B 0300 3145 31"),   // Function 169: level M
		[]byte{0x1D, 0x28, 0x6B, byte(n), byte(n >> 8), 0x31, 0x50, 0x30}, []byte(payload), // Function 180
		h("1D286B 0300 3151 30"), // Function 181
	)
	p := parse(t, data, Width58)
	if len(p.QRs) != 1 || p.QRs[0].Payload != payload || p.QRs[0].Module != 6 || p.QRs[0].ECC != 'M' {
		t.Fatalf("qrs %+v", p.QRs)
	}
	if got := DecodeQR(t, p.Image, p.QRs[0].Rect); got != payload {
		t.Fatalf("decoded %q", got)
	}
}

// DecodeQR decodes the QR code inside r (plus a white margin) of img.
func DecodeQR(t *testing.T, img *image.Gray, r image.Rectangle) string {
	t.Helper()
	margin := 40
	crop := image.NewGray(image.Rect(0, 0, r.Dx()+2*margin, r.Dy()+2*margin))
	for i := range crop.Pix {
		crop.Pix[i] = 0xFF
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			crop.SetGray(x-r.Min.X+margin, y-r.Min.Y+margin, img.GrayAt(x, y))
		}
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(crop)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: false})
	if err != nil {
		t.Fatalf("QR does not decode: %v", err)
	}
	return res.GetText()
}

func TestChineseMode(t *testing.T) {
	// FS & then GB18030: 中 = D6 D0, 文 = CE C4; 4-byte U+20000 = 95 32 82 36.
	data := cat(h("1B40 1C26"), h("D6D0 CEC4 41 95328236 0A"), h("1C2E"), []byte("x\n"))
	p := parse(t, data, Width80)
	if got := p.Texts(); got[0] != "中文A\U00020000" || got[1] != "x" {
		t.Fatalf("texts %q", got)
	}
	// Chinese characters take 24 dots: 3×24 + 12.
	if w := p.Lines[0].Rect.Dx(); w != 84 {
		t.Errorf("width %d", w)
	}
}

func TestCodePage(t *testing.T) {
	// PC437 0x9D is ¥; PC858 0xD5 is €.
	p := parse(t, cat(h("1B40 1B7400 9D 0A 1B7413 D5 0A")), Width58)
	if got := strings.Join(p.Texts(), "|"); got != "¥|€" {
		t.Fatalf("texts %q", got)
	}
}

func TestStatusRequestsAndCut(t *testing.T) {
	p := parse(t, h("1B40 100401 100404 1D564200"), Width58)
	if len(p.StatusRequests) != 2 || p.StatusRequests[1] != 4 {
		t.Errorf("status requests %v", p.StatusRequests)
	}
	if len(p.Cuts) != 1 {
		t.Errorf("cuts %v", p.Cuts)
	}
}

func TestOverflowWarns(t *testing.T) {
	p := parse(t, cat(h("1B40"), []byte(strings.Repeat("x", 33)+"\n")), Width58)
	if len(p.Warnings) != 1 || len(p.Lines) != 2 {
		t.Fatalf("warnings %v lines %q", p.Warnings, p.Texts())
	}
}

func TestMalformedIsRejected(t *testing.T) {
	cases := map[string]string{
		"unknown ESC":           "1B 7A 00",
		"unknown GS":            "1D 7A",
		"unknown FS":            "1C 7A",
		"truncated ESC !":       "1B 21",
		"bad ESC !":             "1B 21 01",
		"bad justification":     "1B 61 03",
		"ESC a mid-line":        "41 1B 61 01 0A",
		"unknown code table":    "1B 74 63 0A",
		"control byte":          "07",
		"DEL":                   "7F",
		"DLE ENQ":               "10 05 01",
		"DLE EOT 5":             "10 04 05",
		"QR wrong cn":           "1D 28 6B 03 00 30 41 00",
		"QR model 3":            "1D 28 6B 04 00 31 41 33 00",
		"QR model len":          "1D 28 6B 03 00 31 41 32",
		"QR module 0":           "1D 28 6B 03 00 31 43 00",
		"QR module 17":          "1D 28 6B 03 00 31 43 11",
		"QR ecc 52":             "1D 28 6B 03 00 31 45 34",
		"QR store empty":        "1D 28 6B 03 00 31 50 30",
		"QR store m":            "1D 28 6B 04 00 31 50 31 41",
		"QR store short":        "1D 28 6B 10 00 31 50 30 41",
		"QR print unstored":     "1D 28 6B 03 00 31 51 30",
		"QR fn 182":             "1D 28 6B 03 00 31 52 30",
		"GS ( k short len":      "1D 28 6B 02 00 31 41",
		"raster truncated":      "1D 76 30 00 01 00 02 00 FF",
		"raster empty":          "1D 76 30 00 00 00 01 00",
		"raster too wide":       "1D 76 30 00 31 00 01 00" + strings.Repeat("00", 49),
		"raster mode":           "1D 76 30 01 01 00 01 00 FF",
		"raster mid-line":       "41 1D 76 30 00 01 00 01 00 FF 0A",
		"cut mid-line":          "41 1D 56 42 00",
		"cut mode":              "1D 56 07",
		"cut truncated":         "1D 56 42",
		"bad GB18030":           "1C 26 D6 0A",
		"GB18030 truncated":     "1C 26 D6",
		"GB18030 bad 4-byte":    "1C 26 81 30 20 30 0A",
		"text without LF":       "41 42",
		"ESC @ drops text":      "41 1B 40",
		"GS ! too big":          "1D 21 22",
		"paper width":           "",
		"ESC d truncated":       "1B 64",
		"GS v truncated header": "1D 76 30 00",
	}
	for name, stream := range cases {
		width := Width58
		if name == "paper width" {
			width = 100
		}
		_, err := Parse(h(stream), Options{Width: width})
		if err == nil || !strings.HasPrefix(err.Error(), "preview: ") {
			t.Errorf("%s: err = %v, want a preview error", name, err)
		}
	}
}

func TestRenderPNG(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, cat(h("1B40"), []byte("ok\n")), Options{}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != Width58 {
		t.Fatalf("bounds %v", img.Bounds())
	}
}

func TestCJKFontOption(t *testing.T) {
	if _, err := Parse(h("1B40"), Options{CJKFont: []byte("not a font")}); err == nil || !strings.HasPrefix(err.Error(), "preview: ") {
		t.Fatalf("bad font accepted: %v", err)
	}
	// With a font lacking the character (Go Mono has no 中) the box stays.
	data := cat(h("1B40 1C26 D6D0 0A"))
	p, err := Parse(data, Options{CJKFont: gomono.TTF})
	if err != nil {
		t.Fatal(err)
	}
	if p.Texts()[0] != "中" || dark(p.Image, p.Lines[0].Rect) == 0 {
		t.Fatalf("texts %q", p.Texts())
	}
}
