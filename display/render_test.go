package display

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"posagent/display/bitmapfont"
	"posagent/display/image565"
	"posagent/display/locale"
)

// payloads are shaped like the gateways' qr_code values, from short to the
// 128 characters of a long Upay one: Upay (seeds/000, qr_code), Alipay
// (seeds/002, qr_code "https://qr.alipay.com/..."), Yedpay (seeds/004,
// _links qrcode), WeChat's bizpayurl.
func payloads() []string {
	long := SampleQR
	if len(long) != 128 {
		panic(fmt.Sprintf("SampleQR is %d characters", len(long)))
	}
	return []string{
		"https://qr.alipay.com/bax0x",
		"https://qr.shouqianba.com/7895259238744512",
		"https://qr.shouqianba.com/gw/pay?sn=7895259238744512&t=20261125105812",
		"https://api.yedpay.com/v1/q/alipay/xXxXxXxXxXXxXx",
		long[:110],
		long,
		"weixin://wxpay/bizpayurl?pr=AbCdEfG",
	}
}

// decodeQR reads a QR code back from pixels with gozxing, an implementation
// independent of the encoder, on its fast path (no TRY_HARDER), like a
// phone's first look at the screen.
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	s, err := decodeQRErr(img)
	if err != nil {
		t.Fatalf("gozxing could not decode the QR code: %v", err)
	}
	return s
}

func decodeQRErr(img image.Image) (string, error) {
	return decodeWith(img, nil)
}

// decodeCamera decodes a camera picture as a phone's scanner does: it
// looks at every frame hard (TRY_HARDER: every row scanned for finder
// patterns), since the frame is blurred, tilted and unevenly lit.
func decodeCamera(img image.Image) (string, error) {
	return decodeWith(img, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
}

func decodeWith(img image.Image, hints map[gozxing.DecodeHintType]any) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// camera is what a phone held over the counter sees of a panel: the
// picture magnified (each panel pixel ≈ zoom camera pixels), slightly
// rotated, defocused (a box blur over about one camera pixel around), with
// the contrast of a lit panel photographed in a shop (black lifted to 40,
// white lowered to 215) and lighting falling off from one side by 25%.
// Sampling is bilinear, so module edges are soft as through a lens.
func camera(img image.Image, zoom, degrees float64) *image.Gray {
	b := img.Bounds()
	src := make([]float64, b.Dx()*b.Dy())
	for y := range b.Dy() {
		for x := range b.Dx() {
			px, py := b.Min.X+x, b.Min.Y+y
			var v float64
			switch m := img.(type) {
			case *image1bit.VerticalLSB:
				if m.BitAt(px, py) {
					v = 255
				}
			case *image.Gray:
				v = float64(m.GrayAt(px, py).Y)
			default:
				r, g, bb, _ := img.At(px, py).RGBA()
				v = (299*float64(r) + 587*float64(g) + 114*float64(bb)) / 1000 / 257
			}
			src[y*b.Dx()+x] = v
		}
	}
	lum := func(x, y int) float64 {
		if x < 0 || y < 0 || x >= b.Dx() || y >= b.Dy() {
			return 255 // the bezel around is light, as a quiet zone would be
		}
		return src[y*b.Dx()+x]
	}
	margin := 24.0
	w := int(float64(b.Dx())*zoom + 2*margin)
	h := int(float64(b.Dy())*zoom + 2*margin)
	sin, cos := math.Sincos(degrees * math.Pi / 180)
	cx, cy := float64(w)/2, float64(h)/2
	sharp := make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Undo the rotation about the centre, then the zoom.
			dx, dy := float64(x)-cx, float64(y)-cy
			sx := (cos*dx+sin*dy)/zoom + float64(b.Dx())/2 - 0.5
			sy := (-sin*dx+cos*dy)/zoom + float64(b.Dy())/2 - 0.5
			if sx < -1 || sy < -1 || sx > float64(b.Dx()) || sy > float64(b.Dy()) {
				sharp[y*w+x] = 255
				continue
			}
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			fx, fy := sx-float64(x0), sy-float64(y0)
			v := lum(x0, y0)*(1-fx)*(1-fy) + lum(x0+1, y0)*fx*(1-fy) + lum(x0, y0+1)*(1-fx)*fy + lum(x0+1, y0+1)*fx*fy
			sharp[y*w+x] = v
		}
	}
	// A 3×3 box blur, as two passes of 3.
	blur := func(in []float64, dx, dy int) []float64 {
		out := make([]float64, len(in))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				sum, n := in[y*w+x], 1.0
				if xx, yy := x-dx, y-dy; xx >= 0 && yy >= 0 {
					sum += in[yy*w+xx]
					n++
				}
				if xx, yy := x+dx, y+dy; xx < w && yy < h {
					sum += in[yy*w+xx]
					n++
				}
				out[y*w+x] = sum / n
			}
		}
		return out
	}
	soft := blur(blur(sharp, 1, 0), 0, 1)
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 40 + soft[y*w+x]*(215-40)/255
			v *= 1 - 0.25*float64(x)/float64(w)
			out.Pix[y*out.Stride+x] = uint8(v)
		}
	}
	return out
}

// scan is a phone scanning a panel: it takes a few frames as the hand
// moves (the panel at 2.3, 2.5 and 2.7 camera pixels per panel pixel, the
// resolution of a phone's preview frames at a counter) and succeeds when
// one decodes.
func scan(img image.Image, degrees float64) (string, error) {
	var err error
	for _, zoom := range []float64{2.3, 2.5, 2.7} {
		var s string
		if s, err = decodeCamera(camera(img, zoom, degrees)); err == nil {
			return s, nil
		}
	}
	return "", err
}

// panelSizes are the panels of Panels plus a few odd ones.
func panelSizes() []PanelSpec {
	p := append([]PanelSpec(nil), Panels...)
	return append(p,
		PanelSpec{"oled-128x32", image.Pt(128, 32), Mono},    // too small for long codes: must fail cleanly
		PanelSpec{"tft-160x128", image.Pt(160, 128), RGB565}, // ST7735-class
		PanelSpec{"tft-480x320", image.Pt(480, 320), RGB565},
		// ST7789 modules display/tft centres (issue 16).
		PanelSpec{"st7789-135x240", image.Pt(135, 240), RGB565},
		PanelSpec{"st7789-240x280", image.Pt(240, 280), RGB565},
		PanelSpec{"st7789-172x320", image.Pt(172, 320), RGB565},
	)
}

// TestQRDecodesOnEveryPanel: every payload on every panel decodes from the
// exact pixels and after the camera (issue 16), tilted one way or the other
// (alternating by payload), and the code follows the policy of the package
// doc.
func TestQRDecodesOnEveryPanel(t *testing.T) {
	for _, p := range panelSizes() {
		for i, payload := range payloads() {
			t.Run(fmt.Sprintf("%s/%d", p.Name, len(payload)), func(t *testing.T) {
				s := Screen{Kind: AwaitingPayment, AmountCents: 123456, Currency: "HKD", QR: payload, Merchant: "Corner Cafe", Subject: "咖啡 x2", OrderNo: "T1-00000042", Remaining: 4 * time.Minute}
				var r Renderer
				img, err := r.Render(s, Options{Size: p.Size, Format: p.Format, Locale: "zh-HK"})
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
				deg := []float64{3, -5}[i%2]
				if p.Size.Y >= 64 { // 128×32: a code at all is the most it can do
					if got, err := scan(img, deg); err != nil || got != payload {
						t.Fatalf("through the camera at %v°: %q, %v", deg, got, err)
					}
				}
				checkQRGeometry(t, img, &r, s, p)
			})
		}
	}
}

// The camera simulation must be able to fail: a code drawn without a quiet
// zone and at one pixel per module under text, as the first version of the
// renderer could on small panels, is not read after the camera, while the
// exact pixels of the same symbol with its quiet zone are.
func TestCameraCanFail(t *testing.T) {
	q, err := qrcode.New(SampleQR, qrcode.Low)
	if err != nil {
		t.Fatal(err)
	}
	q.DisableBorder = true
	bits := q.Bitmap()
	img := image.NewGray(image.Rect(0, 0, len(bits)+2, len(bits)+2))
	for y := range img.Rect.Dy() {
		for x := range img.Rect.Dx() {
			img.SetGray(x, y, color.Gray{Y: 255})
		}
	}
	for y, row := range bits {
		for x, dark := range row {
			if dark {
				img.SetGray(x+1, y+1, color.Gray{})
			}
		}
	}
	if got, err := scan(img, 4); err == nil {
		t.Fatalf("a 1-pixel code with a 1-module margin decoded through the camera (%q): the simulation is too kind", got)
	}
}

// checkQRGeometry checks what makes a code scan on the first try: the quiet
// zone is entirely light, every module is a solid scale×scale block of one
// colour, and the sizing policy of issue 16.
func checkQRGeometry(t *testing.T, img image.Image, r *Renderer, s Screen, p PanelSpec) {
	t.Helper()
	plan, at := r.qr, r.qrAt
	if plan.n == 0 {
		t.Fatal("no QR plan cached")
	}
	// Issue 16: quiet zone ≥ 2 modules on 128×64, ≥ 4 elsewhere.
	small := p.Size.Y <= 64
	if plan.quiet < 2 || (!small && plan.quiet < 4) {
		t.Fatalf("quiet zone %d modules on %v", plan.quiet, p.Size)
	}
	side := plan.side()
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
	if !(image.Rectangle{Min: at, Max: at.Add(image.Pt(side, side))}).In(img.Bounds()) {
		t.Fatalf("code at %v, %d px, leaves the panel", at, side)
	}
	// Issue 16: at least 2 px per module wherever the payload allows:
	// 1 px only if even level L with the smallest quiet zone would not fit
	// at 2 px on the panel's short side.
	low, err := qrcode.New(s.QR, qrcode.Low)
	if err != nil {
		t.Fatal(err)
	}
	low.DisableBorder = true
	nL := len(low.Bitmap())
	minQ := 4
	if small {
		minQ = 2
	}
	short := min(p.Size.X, p.Size.Y)
	if plan.scale < 2 && (nL+2*minQ)*2 <= short-(short/4) {
		t.Errorf("1 px per module, but level L (%d modules) fits at 2 px in %d of %d pixels", nL, short-short/4, short)
	}
	// Error correction: the next level up would cost module size.
	if plan.level < qrcode.Highest {
		if q, err := qrcode.New(s.QR, plan.level+1); err == nil {
			q.DisableBorder = true
			n := len(q.Bitmap())
			if (n+2*plan.quiet)*plan.scale <= side {
				t.Errorf("level %s chosen, but level %s (%d modules) fits in the same %d pixels", levelName(plan.level), levelName(plan.level+1), n, side)
			}
		}
	}
}

// TestLegibilityFloor measures, from the rendered pixels, every line of
// text on every sample screen of every panel and locale (issue 16): the
// amount's ink is at least 1/8 of the panel height and 16 px, no text on a
// colour panel is under 8 px, every QR screen has its instruction line,
// text stays on the panel without overlapping, and no line ends in the
// middle of a word.
func TestLegibilityFloor(t *testing.T) {
	for _, tag := range locale.Tags {
		for _, p := range panelSizes() {
			if p.Size.Y < 64 {
				continue
			}
			samples := SamplesFor(tag)
			for i, s := range append(samples, hardScreens()...) {
				hard := i >= len(samples)
				name := fmt.Sprintf("%s/%s/%s", tag, p.Name, s.Kind)
				var trace []drawn
				r := Renderer{trace: &trace}
				img, err := r.Render(s, Options{Size: p.Size, Format: p.Format, Locale: tag})
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				checkLegible(t, name, img, trace, s, p, locale.Must(tag), hard)
			}
		}
	}
}

// hardScreens push the layout: long words, long amounts, long Chinese.
func hardScreens() []Screen {
	return []Screen{
		{Kind: AwaitingPayment, AmountCents: 99800, Currency: "HKD", QR: SampleQR, Merchant: "Supercalifragilistic Expialidocious Bakery", Subject: "拿铁 大杯 ×2 港式奶茶 美式", OrderNo: "T1-00000042", Remaining: time.Minute, Recovered: true},
		{Kind: Declined, AmountCents: 1, Reason: "请稍后再试 系统繁忙 余额不足 请稍后再试 系统繁忙 余额不足 请稍后再试", OrderNo: "T1-00000042"},
		{Kind: Error, Reason: strings.Repeat("gateway unreachable ", 12)},
		{Kind: Offline, Queued: 12345, QueuedCents: 123456789, Reason: "no route to host"},
		{Kind: Info, Title: "activation", Facts: []Fact{{Label: "result", Value: "activated: terminal T100123 of store Corner Cafe"}, {Label: "terminal", Value: "T100123"}}},
	}
}

func supported(p PanelSpec) bool {
	for _, q := range Panels {
		if q == p {
			return true
		}
	}
	return false
}

func checkLegible(t *testing.T, name string, img image.Image, trace []drawn, s Screen, p PanelSpec, l *locale.Locale, hard bool) {
	t.Helper()
	b := img.Bounds()
	sawAmount, sawInstruction := false, false
	for i, d := range trace {
		if !d.rect.In(b) {
			t.Errorf("%s: %q at %v leaves the panel", name, d.text, d.rect)
		}
		for _, e := range trace[:i] {
			if d.rect.Overlaps(e.rect) && !strings.HasSuffix(d.role, ".value") && !strings.HasSuffix(e.role, ".value") {
				t.Errorf("%s: %q %v overlaps %q %v", name, d.text, d.rect, e.text, e.rect)
			}
		}
		h := inkHeight(img, d.rect.Intersect(b))
		switch {
		case d.role == "amount":
			sawAmount = true
			// The floor holds on the supported panels (Panels) for the
			// samples; hard cases and odd panels may give the amount less
			// when it would not fit whole beside a code of 2-pixel modules.
			if floor := max(16, p.Size.Y/8); h < floor && supported(p) && !hard {
				t.Errorf("%s: amount %q is %d px high, floor %d", name, d.text, h, floor)
			}
		case d.role == "instruction":
			sawInstruction = true
		}
		if p.Format == RGB565 && h < 8 && strings.TrimFunc(d.text, unicode.IsPunct) != "" {
			t.Errorf("%s: %q is %d px high on a colour panel", name, d.text, h)
		}
		checkWholeWords(t, name, d.text, s, l)
	}
	if s.Kind == AwaitingPayment && !sawInstruction {
		t.Errorf("%s: no instruction line on the QR screen", name)
	}
	if s.AmountCents > 0 && s.Kind != Refunded && !sawAmount {
		t.Errorf("%s: no amount", name)
	}
}

// inkHeight is the number of rows from the first to the last that hold a
// pixel of another colour than the rectangle's top-left corner (the
// background the text is drawn on).
func inkHeight(img image.Image, r image.Rectangle) int {
	if r.Empty() {
		return 0
	}
	bg := img.At(r.Min.X, r.Min.Y)
	first, last := -1, -1
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.At(x, y) != bg {
				if first < 0 {
					first = y
				}
				last = y
				break
			}
		}
	}
	if first < 0 {
		return 0
	}
	return last - first + 1
}

// checkWholeWords: a line that was shortened ends with "…", and the word
// before it is a whole word of some text the screen was given (its fields
// and every locale word), not a piece of one.
func checkWholeWords(t *testing.T, name, line string, s Screen, l *locale.Locale) {
	t.Helper()
	if !strings.HasSuffix(line, "…") {
		return
	}
	body := strings.TrimSpace(strings.TrimSuffix(line, "…"))
	if body == "" {
		t.Errorf("%s: a line of only …", name)
		return
	}
	runes := []rune(body)
	lastR := runes[len(runes)-1]
	if lastR > 0x2e7f || unicode.IsPunct(lastR) {
		return // Chinese breaks between any two characters
	}
	// The run of letters and digits the line ends with.
	end := len(runes)
	for end > 0 && unicode.IsPunct(runes[end-1]) {
		end--
	}
	start := end
	for start > 0 && (unicode.IsLetter(runes[start-1]) || unicode.IsDigit(runes[start-1]) || runes[start-1] == '-') {
		start--
	}
	last := string(runes[start:end])
	var sources []string
	sources = append(sources, s.Merchant, s.Subject, s.Reason, s.OrderNo)
	for _, f := range s.Facts {
		sources = append(sources, f.Label, f.Value)
	}
	for _, id := range l.IDs() {
		sources = append(sources, l.T(id))
	}
	for _, src := range sources {
		for _, w := range strings.FieldsFunc(src, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) && r != '-' }) {
			if w == last {
				return
			}
		}
	}
	t.Errorf("%s: %q ends in %q, which is not a whole word of the screen's text", name, line, last)
}

// A Chinese merchant name and subject (dynamic text) appear on screen as
// the characters themselves: the pixels where the renderer says it drew
// them hold exactly WenQuanYi Micro Hei's glyphs of those characters, not
// boxes or question marks. With no system font, a character outside the
// table is a box, and the rest of the name is still drawn.
func TestChineseNamesOnScreen(t *testing.T) {
	if err := bitmapfont.SetSystemFont(""); err != nil {
		t.Fatal(err)
	}
	defer bitmapfont.SetSystemFont(bitmapfont.DefaultSystemFont)
	s := Screen{Kind: AwaitingPayment, AmountCents: 880, QR: "https://qr.alipay.com/bax0x", Merchant: "街角咖啡", Subject: "拿铁 大杯", Remaining: time.Minute}
	var trace []drawn
	r := Renderer{trace: &trace}
	img, err := r.Render(s, Options{Size: image.Pt(320, 240), Format: RGB565, Locale: "zh-CN"})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, d := range trace {
		if d.role != "merchant" && d.role != "subject" {
			continue
		}
		found[d.text] = true
		want := image.NewGray(d.rect)
		f := bitmapfont.ForSize(d.size)
		x := d.rect.Min.X
		if g, _ := f.Glyph([]rune(d.text)[0]); g.Rect.Min.X < 0 {
			x -= g.Rect.Min.X
		}
		top, _ := lineExtent(d.text, d.size)
		f.Draw(func(px, py int) { want.SetGray(px, py, color.Gray{Y: 255}) }, x, d.rect.Min.Y-top, d.text, false)
		for y := d.rect.Min.Y; y < d.rect.Max.Y; y++ {
			for x := d.rect.Min.X; x < d.rect.Max.X; x++ {
				ink := img.At(x, y) != color.Color(image565.Color(0xffff)) // the background is white
				if ink != (want.GrayAt(x, y).Y == 255) {
					t.Fatalf("%q: pixel (%d,%d) ink=%v, WenQuanYi's glyph says %v", d.text, x, y, ink, !ink)
				}
			}
		}
	}
	if !found["街角咖啡"] || !found["拿铁 大杯"] {
		t.Fatalf("drawn: %v; all: %+v", found, trace)
	}
	// 鑫 is in no table: a box, and 街角 still drawn.
	var tr2 []drawn
	r2 := Renderer{trace: &tr2}
	s.Merchant = "鑫街角"
	if _, err := r2.Render(s, Options{Size: image.Pt(240, 320), Format: RGB565, Locale: "zh-CN"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range tr2 {
		if d.role == "merchant" && d.text != "鑫街角" {
			t.Errorf("merchant drawn as %q", d.text)
		}
	}
	if _, src := bitmapfont.ForSize(16).Glyph('鑫'); src != bitmapfont.Box {
		t.Errorf("鑫 without a system font comes from %v", src)
	}
}

func TestMonoIsExactThresholdOfColour(t *testing.T) {
	// A drawing on a 1-bit panel is the colour one thresholded at 50%
	// luminance: no dithering, no lost text.
	for _, s := range SamplesFor("zh-CN") {
		var r Renderer
		o := Options{Size: image.Pt(240, 240), Format: Mono, Locale: "zh-CN"}
		pal, err := r.paint(s, o, locale.Must("zh-CN"))
		if err != nil {
			t.Fatal(err)
		}
		cm, mm := convert(pal, RGB565).(*image565.Image), convert(pal, Mono).(*image1bit.VerticalLSB)
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
		for _, tag := range locale.Tags {
			for _, s := range append(SamplesFor(tag), chinese, Screen{Kind: Error}, Screen{Kind: Entering}, Screen{Kind: Report}, Screen{Kind: Menu}, Screen{Kind: Info},
				Screen{Kind: PIN, Remaining: 90 * time.Second}, Screen{Kind: Offline, Reason: strings.Repeat("very long reason ", 20)}) {
				img, err := Render(s, Options{Size: p.Size, Format: p.Format, Locale: tag})
				if err != nil && !(s.Kind == AwaitingPayment && p.Size.Y < 64) {
					t.Errorf("%s %s %s: %v", tag, p.Name, s.Kind, err)
					continue
				}
				if img == nil || img.Bounds().Size() != p.Size {
					t.Errorf("%s %s: bad image", p.Name, s.Kind)
				}
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
		{Screen{}, Options{Size: image.Pt(240, 240), Locale: "fr"}},
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
		for _, s := range SamplesFor("zh-HK") {
			o := Options{Size: p.Size, Format: p.Format, Locale: "zh-HK"}
			a, _ := Render(s, o)
			b, _ := Render(s, o)
			if !bytes.Equal(pixels(a), pixels(b)) || len(pixels(a)) == 0 {
				t.Fatalf("%s %s differs between two renders", p.Name, s.Kind)
			}
		}
	}
}

// Every character of the sample screens is in the font table, so the
// golden screens do not depend on the machine's fonts.
func TestSamplesNeedNoSystemFont(t *testing.T) {
	for _, tag := range locale.Tags {
		for _, s := range SamplesFor(tag) {
			for _, text := range []string{s.Merchant, s.Subject, s.Reason, s.OrderNo, s.Channel, locale.Must(tag).Channel(s.Channel)} {
				for _, size := range []int{12, 16, 24} {
					if !bitmapfont.ForSize(size).InTable(text) {
						t.Errorf("%s %s: %q is not all in the %d-px table: add it to display/bitmapfont/gen and run go generate", tag, s.Kind, text, size)
					}
				}
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
			t.Errorf("formatCountdown(%d) = %q, want %q", d, got, want)
		}
	}
}

// Shortening is by rule: whole words, then "…" (issue 16: nothing cut off
// mid-word).
func TestShortenByRule(t *testing.T) {
	for _, c := range []struct {
		in   string
		w    int
		want string
	}{
		{"no route to gateway", 1000, "no route to gateway"},
		{"no route to gateway", textWidth("no route to…", 16, false), "no route to…"},
		{"no route to gateway", textWidth("no route to gat…", 16, false), "no route to…"},
		{"请稍后再试", textWidth("请稍后…", 16, false), "请稍后…"},
		{"Supercalifragilistic", 30, ""},
	} {
		if got := shorten(c.in, c.w, 16, false); got != c.want {
			t.Errorf("shorten(%q, %d) = %q, want %q", c.in, c.w, got, c.want)
		}
	}
	lines, ok := wrapText("收银员已取消，请勿交付商品", textWidth("收银员已取消，", 16, false), 16, false, 2)
	if !ok || len(lines) != 2 || lines[0] != "收银员已取消，" {
		t.Errorf("wrap = %q, %v", lines, ok)
	}
}

// FuzzRender: no input breaks rendering, and the QR code on the payment
// screen stays intact (quiet zone light, modules exact) whatever text is
// around it. `go test` runs the seeds; `go test -fuzz FuzzRender` explores.
func FuzzRender(f *testing.F) {
	f.Add(int64(1250), "12.5", "Corner Cafe", "2x latte", "T1-00000042", int64(239), 3, "no route", uint8(3), uint8(0))
	f.Add(int64(-1), "", "星巴克咖啡", "拿铁 ×2 大杯", "", int64(-5), -1, "\x00\x1b[31m", uint8(0), uint8(1))
	f.Add(int64(math.MaxInt64), strings.Repeat("9", 40), strings.Repeat("W", 200), strings.Repeat("é", 70), strings.Repeat("x", 64), int64(1<<40), 1<<30, strings.Repeat("why ", 100), uint8(9), uint8(2))
	f.Fuzz(func(t *testing.T, cents int64, typed, merchant, subject, order string, secs int64, queued int, reason string, kind, loc uint8) {
		k := Kind(int(kind) % (int(Info) + 1))
		tag := locale.Tags[int(loc)%len(locale.Tags)]
		s := Screen{Kind: k, AmountCents: cents, Typed: typed, QR: SampleQR, Merchant: merchant, Subject: subject, OrderNo: order,
			Remaining: time.Duration(secs) * time.Second, Queued: queued, Reason: reason, Menu: []string{merchant, "reprint"}, Selected: queued,
			Facts: []Fact{{Label: subject, Value: order}}, Title: reason, Keys: []string{typed, "key.ok"}}
		for _, p := range Panels {
			var r Renderer
			img, err := r.Render(s, Options{Size: p.Size, Format: p.Format, Locale: tag})
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

// The counter names outcomes with the ids of lines a screen always has
// (agent/counter/events.go: Checking "do_not_hand_over", Declined
// "not_charged"): each is said once.
func TestReasonNotRepeated(t *testing.T) {
	for _, s := range []Screen{
		{Kind: Checking, AmountCents: 100, Reason: "do_not_hand_over"},
		{Kind: Declined, AmountCents: 100, Reason: "not_charged"},
	} {
		var trace []drawn
		r := Renderer{trace: &trace}
		if _, err := r.Render(s, Options{Size: image.Pt(240, 320), Format: RGB565, Locale: "zh-CN"}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, d := range trace {
			if seen[d.text] {
				t.Errorf("%s: %q twice", s.Kind, d.text)
			}
			seen[d.text] = true
		}
	}
}

// A fact whose value is too wide for its row is not lost: it becomes a
// paragraph "label: value".
func TestLongFactKept(t *testing.T) {
	s := Screen{Kind: Info, Title: "activation", Facts: []Fact{{Label: "result", Value: "activated: terminal T100123 of store Corner Cafe"}}}
	var trace []drawn
	r := Renderer{trace: &trace}
	if _, err := r.Render(s, Options{Size: image.Pt(240, 240), Format: RGB565, Locale: "en"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range trace {
		if d.role == "fact" {
			got = append(got, d.text)
		}
	}
	if len(got) == 0 || !strings.HasPrefix(got[0], "Result: activated") {
		t.Errorf("fact drawn as %q", got)
	}
}
