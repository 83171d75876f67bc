package display

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"posagent/display/image565"
)

// payloads are shaped like Upay qr_code values, from short to the 128
// characters the issue asks for.
func payloads() []string {
	long := SampleQR
	if len(long) != 128 {
		panic(fmt.Sprintf("SampleQR is %d characters", len(long)))
	}
	return []string{
		"https://qr.shouqianba.com/7895259238744512",
		"https://qr.shouqianba.com/gw/pay?sn=7895259238744512&t=20261125105812",
		"https://qr.shouqianba.com/gw/pay?sn=7895259238744512&t=20261125105812&sign=0f3c6a1e9b2d4c8e7a5f",
		long[:110],
		long,
		"weixin://wxpay/bizpayurl?pr=AbCdEfG",
		"HTTPS://QR.ALIPAY.COM/BAX09876ABCDEFGHIJKL",
	}
}

// decodeQR reads a QR code back from rendered pixels with gozxing, an
// implementation independent of the encoder. It uses the decoder's fast
// path (no TRY_HARDER), like a phone's first look at the screen.
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("gozxing bitmap: %v", err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("gozxing could not decode the rendered QR code: %v", err)
	}
	return res.GetText()
}

// panelSizes are the panels of Panels plus a few odd ones.
func panelSizes() []PanelSpec {
	p := append([]PanelSpec(nil), Panels...)
	return append(p,
		PanelSpec{"oled-128x32", image.Pt(128, 32), Mono},    // too small for long codes: must fail cleanly
		PanelSpec{"tft-160x128", image.Pt(160, 128), RGB565}, // ST7735-class
		PanelSpec{"tft-480x320", image.Pt(480, 320), RGB565},
	)
}

func TestQRDecodesOnEveryPanel(t *testing.T) {
	for _, p := range panelSizes() {
		for _, payload := range payloads() {
			t.Run(fmt.Sprintf("%s/%d", p.Name, len(payload)), func(t *testing.T) {
				s := Screen{Kind: AwaitingPayment, AmountCents: 123456, QR: payload, Merchant: "Corner Cafe", Subject: "咖啡 x2", OrderNo: "T1-00000042", Remaining: 4 * time.Minute}
				var r Renderer
				img, err := r.Render(s, Options{Size: p.Size, Format: p.Format})
				if err != nil {
					if p.Size.Y >= 64 {
						t.Fatalf("render: %v", err)
					}
					// A panel too small must say so on screen and in the error.
					if !strings.HasPrefix(err.Error(), "display: ") || img == nil {
						t.Fatalf("too small panel: err %v, image %v", err, img)
					}
					return
				}
				if img.Bounds().Size() != p.Size {
					t.Fatalf("image is %v, panel is %v", img.Bounds().Size(), p.Size)
				}
				switch p.Format {
				case Mono:
					if _, ok := img.(*image1bit.VerticalLSB); !ok {
						t.Fatalf("mono panel got %T", img)
					}
				case RGB565:
					if _, ok := img.(*image565.Image); !ok {
						t.Fatalf("colour panel got %T", img)
					}
				}
				if got := decodeQR(t, img); got != payload {
					t.Fatalf("decoded %q, want %q", got, payload)
				}
				checkQRGeometry(t, img, &r, s, p)
			})
		}
	}
}

// checkQRGeometry checks what makes a code scan on the first try: the quiet
// zone is entirely light, every module is a solid scale×scale block of one
// colour (no blur, no stray text), and the scale is the largest that fits.
func checkQRGeometry(t *testing.T, img image.Image, r *Renderer, s Screen, p PanelSpec) {
	t.Helper()
	plan := r.qr
	if plan.n == 0 {
		t.Fatal("no QR plan cached")
	}
	if plan.quiet != 2 && plan.quiet != 4 {
		t.Fatalf("quiet zone %d modules", plan.quiet)
	}
	side := plan.side()
	// Find the code: landscape left and centred vertically, else top centred.
	var at image.Point
	if p.Size.X > p.Size.Y {
		at = image.Pt(0, (p.Size.Y-side)/2)
	} else {
		at = image.Pt((p.Size.X-side)/2, 0)
	}
	isLight := func(x, y int) bool {
		rr, g, b, _ := img.At(x, y).RGBA()
		return (rr+g+b)/3 >= 0x8000
	}
	q := plan.quiet * plan.scale
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			inCode := x >= q && y >= q && x < side-q && y < side-q
			if !inCode && !isLight(at.X+x, at.Y+y) {
				t.Fatalf("quiet zone pixel (%d,%d) is dark", at.X+x, at.Y+y)
			}
		}
	}
	for my, row := range plan.modules {
		for mx, dark := range row {
			for dy := 0; dy < plan.scale; dy++ {
				for dx := 0; dx < plan.scale; dx++ {
					x := at.X + q + mx*plan.scale + dx
					y := at.Y + q + my*plan.scale + dy
					if isLight(x, y) == dark {
						t.Fatalf("module (%d,%d) pixel (%d,%d) has the wrong colour", mx, my, x, y)
					}
				}
			}
		}
	}
	// The policy, stated independently of fitQR: the code fits its area;
	// one more pixel per module would not; a 2-module quiet zone only where
	// 4 modules would not fit at this scale and would leave modules under 3
	// pixels.
	area := min(p.Size.X, p.Size.Y-minInfoH)
	if p.Size.X > p.Size.Y {
		area = min(p.Size.Y, p.Size.X-minInfoW)
	}
	if side > area {
		t.Errorf("code is %d pixels, area %d", side, area)
	}
	if (plan.n+2*plan.quiet)*(plan.scale+1) <= area {
		t.Errorf("scale %d with %d modules, but %d pixels would allow %d", plan.scale, plan.n, area, plan.scale+1)
	}
	if plan.quiet == 2 && ((plan.n+8)*plan.scale <= area || (plan.n+8)*3 <= area) {
		t.Errorf("quiet zone 2 at scale %d where 4 modules fit (%d modules, %d pixels)", plan.scale, plan.n, area)
	}
	// Error correction: the next level up would not fit at the same scale
	// and quiet zone (it would cost module size), else it should be used.
	if plan.level < qrcode.Highest {
		if q, err := qrcode.New(s.QR, plan.level+1); err == nil {
			q.DisableBorder = true
			n := len(q.Bitmap())
			if (n+2*plan.quiet)*plan.scale <= area {
				t.Errorf("level %s chosen, but level %s (%d modules) fits at the same scale %d", levelName(plan.level), levelName(plan.level+1), n, plan.scale)
			}
		}
	}
}

func TestMonoIsExactThresholdOfColour(t *testing.T) {
	// The same screen on a 1-bit panel must be the colour one thresholded
	// at 50% luminance: no dithering, no lost text.
	for _, s := range Samples() {
		c, err := Render(s, Options{Size: image.Pt(240, 240), Format: RGB565})
		if err != nil {
			t.Fatal(err)
		}
		m, err := Render(s, Options{Size: image.Pt(240, 240), Format: Mono})
		if err != nil {
			t.Fatal(err)
		}
		cm, mm := c.(*image565.Image), m.(*image1bit.VerticalLSB)
		for y := 0; y < 240; y++ {
			for x := 0; x < 240; x++ {
				r, g, b, _ := cm.At(x, y).RGBA()
				lum := (299*float64(r) + 587*float64(g) + 114*float64(b)) / 1000
				want := lum >= math.MaxUint16/2
				if bool(mm.BitAt(x, y)) != want {
					t.Fatalf("%s: pixel (%d,%d) mono %v, colour luminance %.0f", s.Kind, x, y, mm.BitAt(x, y), lum)
				}
			}
		}
	}
}

func TestEveryScreenOnEveryPanel(t *testing.T) {
	chinese := Screen{Kind: AwaitingPayment, AmountCents: 1, QR: "https://qr.shouqianba.com/1", Merchant: "星巴克咖啡", Subject: "拿铁 ×2 大杯", Remaining: time.Second}
	for _, p := range panelSizes() {
		for _, s := range append(Samples(), chinese, Screen{Kind: Error}, Screen{Kind: Entering}, Screen{Kind: Offline, Reason: strings.Repeat("very long reason ", 20)}) {
			img, err := Render(s, Options{Size: p.Size, Format: p.Format})
			if err != nil && !(s.Kind == AwaitingPayment && p.Size.Y < 64) {
				t.Errorf("%s %s: %v", p.Name, s.Kind, err)
				continue
			}
			if img == nil || img.Bounds().Size() != p.Size {
				t.Errorf("%s %s: bad image", p.Name, s.Kind)
			}
		}
	}
}

func TestBadInputIsAnError(t *testing.T) {
	cases := []struct {
		s Screen
		o Options
	}{
		{Screen{}, Options{Size: image.Pt(0, 0)}},
		{Screen{}, Options{Size: image.Pt(100000, 64)}},
		{Screen{}, Options{Size: image.Pt(128, 64), Format: Format(7)}},
		{Screen{Kind: Kind(99)}, Options{Size: image.Pt(128, 64)}},
		{Screen{Kind: AwaitingPayment}, Options{Size: image.Pt(128, 64)}},
		{Screen{Kind: AwaitingPayment, QR: strings.Repeat("x", 5000)}, Options{Size: image.Pt(240, 240)}},
	}
	for i, c := range cases {
		_, err := Render(c.s, c.o)
		if err == nil || !strings.HasPrefix(err.Error(), "display: ") {
			t.Errorf("case %d: err = %v, want a display: error", i, err)
		}
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	for _, p := range Panels {
		for _, s := range Samples() {
			a, _ := Render(s, Options{Size: p.Size, Format: p.Format})
			b, _ := Render(s, Options{Size: p.Size, Format: p.Format})
			if !bytes.Equal(pixels(a), pixels(b)) || len(pixels(a)) == 0 {
				t.Fatalf("%s %s differs between two renders", p.Name, s.Kind)
			}
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for cents, want := range map[int64]string{
		0: "¥0.00", 5: "¥0.05", 1250: "¥12.50", 100: "¥1.00", 999999: "¥9999.99", -5: "-¥0.05",
		math.MinInt64: "-¥92233720368547758.08",
	} {
		if got := FormatAmount(cents); got != want {
			t.Errorf("FormatAmount(%d) = %q, want %q", cents, got, want)
		}
	}
}

func TestCountdown(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4 * time.Minute: "4:00", 239*time.Second + 1: "4:00", time.Millisecond: "0:01", 0: "0:00", -time.Second: "0:00",
	} {
		if got := formatCountdown(d); got != want {
			t.Errorf("formatCountdown(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"Corner Cafe":    "Corner Cafe",
		"Café  au\tlait": "Café au lait",
		"拿铁 ×2 大杯":       "",
		"Latte 拿":        "Latte ?",
	} {
		if got := printable(in, regular); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRender: no input breaks rendering, and the QR code on the payment
// screen stays intact (quiet zone light, modules exact) whatever text is
// around it. `go test` runs the seeds; `go test -fuzz FuzzRender` explores.
func FuzzRender(f *testing.F) {
	f.Add(int64(1250), "12.5", "Corner Cafe", "2x latte", "T1-00000042", int64(239), 3, "no route", uint8(3))
	f.Add(int64(-1), "", "星巴克咖啡", "拿铁 ×2 大杯", "", int64(-5), -1, "\x00\x1b[31m", uint8(0))
	f.Add(int64(math.MaxInt64), strings.Repeat("9", 40), strings.Repeat("W", 200), strings.Repeat("é", 70), strings.Repeat("x", 64), int64(1<<40), 1<<30, strings.Repeat("why ", 100), uint8(9))
	f.Fuzz(func(t *testing.T, cents int64, typed, merchant, subject, order string, secs int64, queued int, reason string, kind uint8) {
		k := Kind(int(kind) % (int(Error) + 1))
		s := Screen{Kind: k, AmountCents: cents, Typed: typed, QR: SampleQR, Merchant: merchant, Subject: subject, OrderNo: order,
			Remaining: time.Duration(secs) * time.Second, Queued: queued, Reason: reason}
		for _, p := range Panels {
			var r Renderer
			img, err := r.Render(s, Options{Size: p.Size, Format: p.Format})
			if err != nil {
				t.Fatalf("%s %s: %v", p.Name, k, err)
			}
			if img.Bounds().Size() != p.Size {
				t.Fatalf("%s: image %v", p.Name, img.Bounds())
			}
			if k == AwaitingPayment {
				checkQRGeometry(t, img, &r, s, p)
			}
		}
	})
}
