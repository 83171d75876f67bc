package printer

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
	"golang.org/x/image/font/gofont/gomono"

	"posagent/agent/report"
	"posagent/printer/preview"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bin and docs/printer/*.png (then review them!)")

// Fixtures. 03:00 UTC is 11:00 in Beijing, where times are printed.
var (
	at   = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	slip = Slip{
		Merchant: "Corner Cafe", AmountCents: 1250, ClientSN: "7100012345",
		QR: "https://qr.example.com/p/7100012345", ExpiresAt: at.Add(4 * time.Minute),
	}
	slipCN = Slip{
		Merchant: "街角咖啡", AmountCents: 880, ClientSN: "7100012346",
		QR: "https://qr.example.com/p/7100012346", ExpiresAt: at.Add(4 * time.Minute),
	}
	paid = Receipt{
		Kind: Paid, Merchant: "Corner Cafe", AmountCents: 1250, At: at.Add(time.Minute),
		ClientSN: "7100012345", SN: "7895259204617", TradeNo: "2026112522001455551234567890", Channel: "Alipay",
	}
	refundedCN = Receipt{
		Kind: Refunded, Merchant: "街角咖啡", AmountCents: 880, RefundedCents: 500, At: at.Add(time.Hour),
		ClientSN: "7100012346", SN: "7895259204618", TradeNo: "4200002026112512345678", Channel: "微信支付",
	}
)

// void, summary and commission are the new forms of issue 15.
var (
	void    = Void{ClientSN: "7100012345", AmountCents: 1250, Reason: "canceled", At: at.Add(2 * time.Minute)}
	summary = report.Summary{
		Kind: report.Z, Terminal: "T100123", Merchant: "街角咖啡", Currency: "CNY", From: at.Add(-3 * time.Hour), To: at.Add(10 * time.Hour),
		ByOutcome:  []report.Line{{Key: "paid", Count: 3, Cents: 3850}, {Key: "canceled", Count: 1, Cents: 500}},
		ByChannel:  []report.Line{{Key: "Alipay", Count: 2, Cents: 2600}, {Key: "微信", Count: 1, Cents: 1250}},
		ByOperator: []report.Line{{Key: "amy", Count: 3, Cents: 3850}},
		Refunds:    report.Line{Count: 1, Cents: 500},
		NetCents:   3350,
		Open:       []report.Order{{ClientSN: "7100012399", AmountCents: 990, CreatedAt: at.Add(9 * time.Hour), Device: "pending", Gateway: "no answer: timeout"}},
	}
	commission = Commissioning{Terminal: "T100123", Store: "Corner Cafe", Gateway: "upay", Version: "1.4.0",
		Checks:    []Check{{Name: "Clock", OK: true}, {Name: "Printer", OK: false, Detail: "paper near end"}},
		SupportQR: "tel:+864001234567"}
)

type goldenCase struct {
	name  string
	cfg   Config
	build func(l *Layout) ([]byte, error)
	texts []string // must each appear in a printed line
	qr    string   // the payload that must decode from the paper
}

var goldenCases = []goldenCase{
	{"slip_native_58", Config{NativeQR: true}, func(l *Layout) ([]byte, error) { return l.Slip(slip) },
		[]string{"Corner Cafe", "Scan to pay", "¥12.50", "Order 7100012345", "Expires 2026-11-25 11:04:00"}, slip.QR},
	{"slip_raster_58", Config{}, func(l *Layout) ([]byte, error) { return l.Slip(slip) },
		[]string{"Corner Cafe", "¥12.50", "Order 7100012345", "Expires 2026-11-25 11:04:00"}, slip.QR},
	{"slip_raster_80", Config{PaperMM: 80}, func(l *Layout) ([]byte, error) { return l.Slip(slip) },
		[]string{"Corner Cafe", "¥12.50"}, slip.QR},
	{"slip_native_80_gb18030", Config{PaperMM: 80, NativeQR: true, Charset: "gb18030"}, func(l *Layout) ([]byte, error) { return l.Slip(slipCN) },
		[]string{"街角咖啡", "￥8.80", "Order 7100012346"}, slipCN.QR},
	{"receipt_paid_58", Config{}, func(l *Layout) ([]byte, error) { return l.Receipt(paid) },
		[]string{"Corner Cafe", "PAID", "Amount                    ¥12.50", "Time         2026-11-25 11:01:00",
			"Order                 7100012345", "Txn                7895259204617", "Trade no", "    2026112522001455551234567890",
			"Channel                   Alipay", "Thank you"}, ""},
	{"receipt_refunded_80_gb18030", Config{PaperMM: 80, Charset: "gb18030", Locale: "zh-CN"}, func(l *Layout) ([]byte, error) { return l.Receipt(refundedCN) },
		[]string{"街角咖啡", "退款成功", "金额", "￥8.80", "退款金额", "￥5.00", "2026-11-25 12:00:00", "支付方式", "微信支付", "谢谢惠顾"}, ""},
	{"receipt_late_paid_58_gb18030", Config{Charset: "gb18030", Locale: "zh-CN"}, func(l *Layout) ([]byte, error) { r := paid; r.Kind = ReceiptLatePaid; return l.Receipt(r) },
		[]string{"取消后已付款", "￥12.50", "支付宝", "请保留或退款"}, ""},
	{"receipt_paid_58_cp437_zh-CN", Config{Locale: "zh-CN"}, func(l *Layout) ([]byte, error) { return l.Receipt(paid) },
		[]string{"Corner Cafe", "--------------------------------"}, ""},
	{"void_58", Config{}, func(l *Layout) ([]byte, error) { return l.Void(void) },
		[]string{"*** VOID ***", "Canceled: do not scan", "Amount                    ¥12.50", "Order                 7100012345", "2026-11-25 11:02:00"}, ""},
	{"void_80_gb18030_zh-HK", Config{PaperMM: 80, Charset: "gb18030", Locale: "zh-HK", Currency: "HKD"}, func(l *Layout) ([]byte, error) { v := void; v.Reason = "expired"; return l.Void(v) },
		[]string{"*** 作廢 ***", "已逾時，請勿掃碼", "HK$12.50", "訂單號"}, ""},
	{"report_z_80_gb18030", Config{PaperMM: 80, Charset: "gb18030", Locale: "zh-CN"}, func(l *Layout) ([]byte, error) { return l.Report(summary) },
		[]string{"街角咖啡", "Z 报表（日结）", "已支付 ×3", "￥38.50", "支付宝 ×2", "微信支付 ×1", "amy ×3", "退款 ×1", "实收", "￥33.50", "未完成订单 (1)", "7100012399", "网关: no answer: timeout", "对账差异 (0)", "无"}, ""},
	{"commissioning_58", Config{}, func(l *Layout) ([]byte, error) { return l.Commissioning(commission) },
		[]string{"COMMISSIONING", "Terminal", "T100123", "Corner Cafe", "upay", "Clock", "[OK]", "Printer", "[Failed]", "paper near end", "Some checks failed", "Support"}, commission.SupportQR},
	{"selftest_58_raster", Config{}, func(l *Layout) ([]byte, error) { return l.SelfTest() },
		[]string{"SELF-TEST", "Charset", "cp437", "QR                         image", "Cut                      partial", "01234567890123456789012345678901", "Café Straße ¥12.50"}, "POSAGENT SELF-TEST raster"},
	{"selftest_80_native_gb18030", Config{PaperMM: 80, NativeQR: true, Charset: "gb18030"}, func(l *Layout) ([]byte, error) { return l.SelfTest() },
		[]string{"SELF-TEST", "gb18030", "中文打印测试 ￥12.50"}, "POSAGENT SELF-TEST native"},
	{"selftest_58_gb18030_zh-CN", Config{Charset: "gb18030", Locale: "zh-CN"}, func(l *Layout) ([]byte, error) { return l.SelfTest() },
		[]string{"打印自检", "纸宽", "384 点，32 列", "字符集", "二维码", "图像", "切纸", "半切", "加粗", "倍高", "倍宽", "中文打印测试 ￥12.50"}, "POSAGENT SELF-TEST raster"},
}

// TestGoldenLayouts: each layout's bytes equal the golden file, and the
// golden file, read back by the independent emulator in package preview,
// prints what it should: the texts, one cut at the end, no overflowing
// line, and a QR code that decodes (gozxing, from the rendered dots) to the
// payload, drawn natively or as a raster image as configured.
func TestGoldenLayouts(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			l, err := NewLayout(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.build(l)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", c.name+".bin")
			if *update {
				writeGolden(t, path, got, c.name, l.Dots())
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("bytes differ from %s at offset %d (got %d bytes, want %d)", path, firstDiff(got, want), len(got), len(want))
			}
			checkPage(t, want, l.Dots(), c.cfg.NativeQR, c.texts, c.qr)
		})
	}
}

func writeGolden(t *testing.T, path string, b []byte, name string, dots int) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join("..", "docs", "printer", name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := preview.Render(f, b, preview.Options{Width: dots}); err != nil {
		t.Fatal(err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func checkPage(t *testing.T, data []byte, dots int, native bool, texts []string, qr string) *preview.Page {
	t.Helper()
	p, err := preview.Parse(data, preview.Options{Width: dots})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) > 0 {
		t.Errorf("warnings: %v", p.Warnings)
	}
	all := strings.Join(p.Texts(), "\n")
	for _, s := range texts {
		if !strings.Contains(all, s) {
			t.Errorf("printed text lacks %q; printed:\n%s", s, all)
		}
	}
	if len(p.Cuts) != 1 || !strings.HasPrefix(p.Listing[len(p.Listing)-1], "GS V") {
		t.Errorf("want exactly one cut, at the end: cuts %v, last command %q", p.Cuts, p.Listing[len(p.Listing)-1])
	}
	if qr == "" {
		if len(p.QRs) != 0 {
			t.Errorf("unexpected QR %v", p.QRs)
		}
		return p
	}
	var rect image.Rectangle
	if native {
		if len(p.QRs) != 1 || p.QRs[0].Payload != qr {
			t.Fatalf("native QRs %+v, want payload %q", p.QRs, qr)
		}
		rect = p.QRs[0].Rect
	} else {
		if len(p.QRs) != 0 {
			t.Fatalf("raster layout sent native QR %+v", p.QRs)
		}
		// The QR is the last (tallest) raster image on the page.
		for _, r := range p.Rasters {
			if r.Dy() > rect.Dy() {
				rect = r
			}
		}
	}
	if got := decodeQR(t, p.Image, rect); got != qr {
		t.Errorf("QR decodes to %q, want %q", got, qr)
	}
	return p
}

// decodeQR decodes the QR code inside r of img (plus a white margin).
func decodeQR(t *testing.T, img *image.Gray, r image.Rectangle) string {
	t.Helper()
	const margin = 40
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
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("QR in %v does not decode: %v", r, err)
	}
	return res.GetText()
}

// TestSlipBytesFromReference spells out the native-QR slip byte by byte from
// the command reference, so the golden file above is a claim checked
// against the manual and not a recording.
func TestSlipBytesFromReference(t *testing.T) {
	l, err := NewLayout(Config{NativeQR: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Slip(slip)
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	b := func(p ...byte) { w.Write(p) }
	s := func(x string) { w.WriteString(x) }
	b(0x1B, 0x40)                                  // ESC @: initialise
	b(0x1B, 0x74, 0)                               // ESC t 0: PC437
	b(0x1B, 0x61, 1)                               // ESC a 1: centre
	b(0x1B, 0x21, 0x38)                            // ESC !: bold | double height | double width ("Corner Cafe" is 22 ≤ 32 cells doubled)
	s("Corner Cafe\n")                             //
	b(0x1B, 0x21, 0)                               // ESC ! 0
	s("Scan to pay\n")                             //
	b(0x1B, 0x21, 0x38)                            // amount, big
	b(0x9D)                                        // ¥ in PC437
	s("12.50\n")                                   //
	b(0x1B, 0x21, 0)                               //
	s("Order 7100012345\n")                        //
	s("\n")                                        // blank line above the QR: quiet zone
	b(0x1D, 0x28, 0x6B, 4, 0, 0x31, 0x41, 0x32, 0) // Function 165: model 2
	// Function 167: 35 bytes in byte mode at level M need version 3
	// (version 2-M holds 26 bytes, 3-M 42; ISO/IEC 18004 table 7): 29
	// modules. 3/4 of 384 dots = 288, 288/29 = 9, capped at 8 dots.
	b(0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x43, 8)
	b(0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x45, 0x31) // Function 169: level M
	if len(slip.QR) != 35 {
		t.Fatalf("fixture changed: %d bytes", len(slip.QR))
	}
	b(0x1D, 0x28, 0x6B, 35+3, 0, 0x31, 0x50, 0x30) // Function 180: pL = k+3
	s(slip.QR)
	b(0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x51, 0x30) // Function 181: print
	s("\n")                                     // blank line below
	s("Expires 2026-11-25 11:04:00\n")          // 03:04 UTC in Beijing
	b(0x1D, 0x56, 66, 0)                        // GS V 66 0: feed to cutter, partial cut
	if !bytes.Equal(got, w.Bytes()) {
		t.Fatalf("slip differs at offset %d:\ngot  % X\nwant % X", firstDiff(got, w.Bytes()), got, w.Bytes())
	}
}

func TestNoUTF8ReachesAPrinterWithoutChinese(t *testing.T) {
	l, err := NewLayout(Config{Charset: "cp437"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Receipt(refundedCN)
	if err != nil {
		t.Fatal(err)
	}
	// UTF-8 lead bytes of Chinese (E0..EF) followed by continuation bytes
	// would print as junk; each character becomes one '?' instead.
	for i := 0; i+1 < len(got); i++ {
		if got[i] >= 0xE0 && got[i] <= 0xEF && got[i+1] >= 0x80 && got[i+1] <= 0xBF {
			t.Fatalf("UTF-8 sequence at offset %d: % X", i, got[i:i+3])
		}
	}
	// The Chinese merchant and channel lines go out as images (from
	// display/bitmapfont), never as '?'.
	p := checkPage(t, got, 384, false, []string{"REFUNDED", "¥8.80", "¥5.00"}, "")
	for _, line := range p.Texts() {
		if strings.Contains(line, "?") {
			t.Errorf("printed %q", line)
		}
	}
	if len(p.Rasters) == 0 {
		t.Error("the Chinese merchant name was not printed as an image")
	}
}

func TestCommandInjectionIsDefused(t *testing.T) {
	l, _ := NewLayout(Config{})
	evil := slip
	evil.Merchant = "Shop\x1d\x56\x00\x1b@" // GS V 0 (cut) then ESC @ in the name
	got, err := l.Slip(evil)
	if err != nil {
		t.Fatal(err)
	}
	p := checkPage(t, got, 384, false, []string{"Shop V  @"}, slip.QR)
	if len(p.Cuts) != 1 {
		t.Fatalf("cuts %v", p.Cuts)
	}
}

func TestLayoutBadInput(t *testing.T) {
	l, _ := NewLayout(Config{})
	bad := []struct {
		name string
		f    func() ([]byte, error)
	}{
		{"no QR", func() ([]byte, error) { s := slip; s.QR = ""; return l.Slip(s) }},
		{"zero amount", func() ([]byte, error) { s := slip; s.AmountCents = 0; return l.Slip(s) }},
		{"QR too long", func() ([]byte, error) { s := slip; s.QR = strings.Repeat("x", 2000); return l.Slip(s) }},
		{"no kind", func() ([]byte, error) { r := paid; r.Kind = 0; return l.Receipt(r) }},
		{"refund > amount", func() ([]byte, error) { r := refundedCN; r.RefundedCents = 1000; return l.Receipt(r) }},
		{"negative amount", func() ([]byte, error) { r := paid; r.AmountCents = -5; return l.Receipt(r) }},
	}
	for _, c := range bad {
		if _, err := c.f(); err == nil || !strings.HasPrefix(err.Error(), "printer: ") {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	for _, cfg := range []Config{{PaperMM: 57}, {Charset: "utf-8"}, {Cut: "none"}, {QRModule: 17}} {
		if _, err := NewLayout(cfg); err == nil || !strings.HasPrefix(err.Error(), "printer: ") {
			t.Errorf("%+v: err = %v", cfg, err)
		}
	}
}

// TestPreviewsAreCurrent makes sure docs/printer holds a preview for each
// golden file and that it is the rendering of that file.
func TestPreviewsAreCurrent(t *testing.T) {
	for _, c := range goldenCases {
		l, _ := NewLayout(c.cfg)
		data, err := os.ReadFile(filepath.Join("testdata", c.name+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := preview.Render(&want, data, preview.Options{Width: l.Dots()}); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join("..", "docs", "printer", c.name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		wimg, _ := png.Decode(&want)
		if img.Bounds() != wimg.Bounds() || !slices.Equal(pixels(img), pixels(wimg)) {
			t.Errorf("docs/printer/%s.png is stale: run go test ./printer -run TestGoldenLayouts -update", c.name)
		}
	}
}

func pixels(img image.Image) []uint32 {
	var out []uint32
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v, _, _, _ := img.At(x, y).RGBA()
			out = append(out, v)
		}
	}
	return out
}

// TestTextFontRasterisesWhatTheCodePageLacks: "Łódź" has two letters PC437
// lacks. Without a text font they print as '?'; with one (Go Mono here,
// written to a file as a CJK font would be installed) the line goes out as
// an image of the same size and alignment as the text line it replaces.
func TestTextFontRasterisesWhatTheCodePageLacks(t *testing.T) {
	s := slip
	s.Merchant = "Łódź"

	// Without a text font the line is drawn from display/bitmapfont (the
	// system font, or boxes): an image, never '?'.
	plain, _ := NewLayout(Config{})
	b, err := plain.Slip(s)
	if err != nil {
		t.Fatal(err)
	}
	pp := checkPage(t, b, 384, false, []string{"Scan to pay"}, s.QR)
	if strings.Contains(strings.Join(pp.Texts(), "\n"), "?") || len(pp.Rasters) != 2 {
		t.Errorf("Łódź without a font: texts %q, rasters %v (want the name and the QR as images)", pp.Texts(), pp.Rasters)
	}

	path := filepath.Join(t.TempDir(), "font.ttf")
	if err := os.WriteFile(path, gomono.TTF, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := NewLayout(Config{TextFont: path, NativeQR: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err = l.Slip(s)
	if err != nil {
		t.Fatal(err)
	}
	p := checkPage(t, b, 384, true, []string{"Scan to pay", "¥12.50"}, s.QR)
	for _, line := range p.Texts() {
		if strings.Contains(line, "ód") || strings.Contains(line, "?") {
			t.Errorf("merchant printed as text: %q", line)
		}
	}
	if len(p.Rasters) != 1 {
		t.Fatalf("rasters %v, want the merchant line", p.Rasters)
	}
	// Bold double size: 48 dots high plus the 6-dot line gap; 4 characters
	// of 24 dots, centred on 384 dots.
	r := p.Rasters[0]
	if r.Dy() != 54 {
		t.Errorf("merchant image %v, want 54 dots high", r)
	}
	ink := image.Rectangle{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if p.Image.GrayAt(x, y).Y == 0 {
				ink = ink.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if ink.Empty() || ink.Dx() < 60 || ink.Dx() > 110 || abs((ink.Min.X+ink.Max.X)/2-192) > 12 {
		t.Errorf("merchant ink %v: want ~96 dots wide centred on 192", ink)
	}

	if _, err := NewLayout(Config{TextFont: filepath.Join(t.TempDir(), "none.ttf")}); err == nil || !strings.HasPrefix(err.Error(), "printer: ") {
		t.Errorf("missing font: %v", err)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestReceiptBytesFromReference spells out the paid receipt on 58 mm paper
// (32 columns of 12-dot font A) from the command reference.
func TestReceiptBytesFromReference(t *testing.T) {
	l, _ := NewLayout(Config{})
	got, err := l.Receipt(paid)
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	b := func(p ...byte) { w.Write(p) }
	line := func(x string) { w.WriteString(x + "\n") }
	kv := func(k, v string, vcells int) { // label left, value right, 32 cells
		line(k + strings.Repeat(" ", 32-len(k)-vcells) + v)
	}
	b(0x1B, 0x40, 0x1B, 0x74, 0) // ESC @, ESC t 0 (PC437)
	b(0x1B, 0x61, 1)             // ESC a 1: centre
	b(0x1B, 0x21, 0x38)          // ESC ! bold, double height, double width
	line("Corner Cafe")
	b(0x1B, 0x21, 0)
	b(0x1B, 0x21, 0x38)
	line("PAID")
	b(0x1B, 0x21, 0)
	b(0x1B, 0x61, 0) // ESC a 0: left
	line(strings.Repeat("-", 32))
	kv("Amount", "\x9d12.50", 6) // ¥ = 9D in PC437: one cell
	kv("Time", "2026-11-25 11:01:00", 19)
	kv("Order", "7100012345", 10)
	kv("Txn", "7895259204617", 13)
	line("Trade no") // 8 + 1 + 28 > 32: the value goes right-aligned below
	line("    2026112522001455551234567890")
	kv("Channel", "Alipay", 6)
	line(strings.Repeat("-", 32))
	b(0x1B, 0x61, 1)
	line("Thank you")
	b(0x1D, 0x56, 66, 0) // GS V 66 0
	if !bytes.Equal(got, w.Bytes()) {
		t.Fatalf("receipt differs at offset %d:\ngot  %q\nwant %q", firstDiff(got, w.Bytes()), got, w.Bytes())
	}
}

// TestSelfTestDotPattern reads the self-test's head pattern back dot by
// dot: 8×8 checkerboard for 16 rows, then 8 solid rows, across the paper.
func TestSelfTestDotPattern(t *testing.T) {
	for _, paper := range []int{58, 80} {
		l, _ := NewLayout(Config{PaperMM: paper})
		b, _ := l.SelfTest()
		p, err := preview.Parse(b, preview.Options{Width: l.Dots()})
		if err != nil {
			t.Fatal(err)
		}
		r := p.Rasters[0]
		if r.Dx() != l.Dots() || r.Dy() != 24 {
			t.Fatalf("pattern %v", r)
		}
		for y := 0; y < 24; y++ {
			for x := 0; x < l.Dots(); x++ {
				want := y >= 16 || (x/8+y/8)%2 == 0
				if got := p.Image.GrayAt(r.Min.X+x, r.Min.Y+y).Y == 0; got != want {
					t.Fatalf("%d mm: dot (%d,%d) burnt=%v, want %v", paper, x, y, got, want)
				}
			}
		}
	}
}

// TestRasterisedLineKeepsColumns: a receipt line whose value the code page
// lacks ("翼支付") is rasterised with the same columns as text: the line
// image spans the 32 cells and the three wide characters fill the last 6.
func TestRasterisedLineKeepsColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "font.ttf")
	if err := os.WriteFile(path, gomono.TTF, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := NewLayout(Config{TextFont: path})
	if err != nil {
		t.Fatal(err)
	}
	r := refundedCN
	r.Merchant = "Corner Cafe"
	r.Channel = "翼支付" // a channel with no English name in package locale: printed as given
	b, err := l.Receipt(r)
	if err != nil {
		t.Fatal(err)
	}
	p := checkPage(t, b, 384, false, []string{"Corner Cafe", "Amount                     ¥8.80", "Refunded                   ¥5.00"}, "")
	if len(p.Rasters) != 1 {
		t.Fatalf("rasters %v: want only the channel line", p.Rasters)
	}
	line := p.Rasters[0]
	if line.Dx() != 384 || line.Dy() != 30 {
		t.Fatalf("channel line image %v, want 384×30", line)
	}
	inkIn := func(x0, x1 int) int {
		return darkIn(p.Image, image.Rect(line.Min.X+x0, line.Min.Y, line.Min.X+x1, line.Max.Y))
	}
	if inkIn(0, 84) == 0 || inkIn(84, 312) != 0 || inkIn(312, 384) == 0 {
		t.Errorf("ink: label %d, gap %d, value %d", inkIn(0, 84), inkIn(84, 312), inkIn(312, 384))
	}
}

func darkIn(img *image.Gray, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.GrayAt(x, y).Y == 0 {
				n++
			}
		}
	}
	return n
}

// A Chinese merchant name and subject on a GB18030 printer go out as
// GB18030 text after FS & (field notes: Chinese printers take GB18030
// bytes after FS &) and read back as themselves with the ESC/POS reader,
// next to the zh-CN words of the receipt (issue 16; the screen side is
// display's TestChineseNamesOnScreen).
func TestChineseOnAGB18030Receipt(t *testing.T) {
	l, err := NewLayout(Config{PaperMM: 58, Charset: "gb18030", Locale: "zh-CN"})
	if err != nil {
		t.Fatal(err)
	}
	r := paid
	r.Merchant, r.Subject, r.Channel = "星巴克咖啡", "拿铁 大杯 ×2", "Alipay"
	b, err := l.Receipt(r)
	if err != nil {
		t.Fatal(err)
	}
	// 星 is D0 C7 and 巴 is B0 CD in GB 2312-80, which GB18030 keeps.
	if !bytes.Contains(b, []byte{0x1C, 0x26}) || !bytes.Contains(b, []byte{0xD0, 0xC7, 0xB0, 0xCD}) {
		t.Errorf("no FS & or no GB18030 星巴 in % X", b)
	}
	p := checkPage(t, b, 384, false, []string{"星巴克咖啡", "支付成功", "拿铁 大杯 ×2", "金额", "￥12.50", "支付宝", "谢谢惠顾"}, "")
	if len(p.Rasters) != 0 {
		t.Errorf("a GB18030 printer got images %v: Chinese must go as text", p.Rasters)
	}
}

// On a Western (CP437) printer the zh-HK words are printed as images drawn
// from the pre-rendered WenQuanYi table: no system font is needed, and
// nothing is printed as '?'.
func TestChineseWordsOnAWesternPrinter(t *testing.T) {
	l, err := NewLayout(Config{Locale: "zh-HK", Currency: "HKD"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Void(void)
	if err != nil {
		t.Fatal(err)
	}
	// Lines with Chinese labels are images as a whole; only the rules are
	// text.
	p := checkPage(t, b, 384, false, []string{"--------------------------------"}, "")
	for _, line := range p.Texts() {
		if strings.Contains(line, "?") {
			t.Errorf("printed %q", line)
		}
	}
	if len(p.Rasters) < 3 {
		t.Errorf("rasters %v: want the title, reason and labels as images", p.Rasters)
	}
}

// Lines wrap between words, never inside one (issue 16: nothing cut off
// mid-word), Chinese between characters and preferably after a comma; only
// a word longer than a line is cut.
func TestWrapKeepsWords(t *testing.T) {
	l, _ := NewLayout(Config{Charset: "gb18030"})
	for _, c := range []struct {
		in   string
		cols int
		want []string
	}{
		{"Paid after the sale was canceled: keep it or refund it", 20, []string{"Paid after the sale", "was canceled: keep", "it or refund it"}},
		{"订单取消后顾客仍已付款：请保留或退款", 32, []string{"订单取消后顾客仍已付款：", "请保留或退款"}},
		{"2026112522001455551234567890", 10, []string{"2026112522", "0014555512", "34567890"}},
	} {
		got := l.wrap(c.in, c.cols)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", c.in, c.cols, got, c.want)
		}
	}
}
