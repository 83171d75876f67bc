package display

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"time"

	"periph.io/x/devices/v3/ssd1306/image1bit"

	"posagent/agent/report"
	"posagent/display/image565"
)

// PanelSpec is a panel size and format that the drivers support out of the
// box; docs/screens has every sample screen for each of them.
type PanelSpec struct {
	Name   string
	Size   image.Point
	Format Format
}

// Panels lists the panels these terminals carry, for docs and tests.
var Panels = []PanelSpec{
	{"ssd1306-128x64", image.Pt(128, 64), Mono},
	{"st7567-128x64", image.Pt(128, 64), Mono},
	{"epd2in13-250x122", image.Pt(250, 122), Mono},
	{"st7789-240x240", image.Pt(240, 240), RGB565},
	{"st7789-240x320", image.Pt(240, 320), RGB565},
	{"ili9341-320x240", image.Pt(320, 240), RGB565},
}

// SampleQR is a 128-character payload shaped like a long Upay qr_code.
const SampleQR = "https://qr.shouqianba.com/gw/pay?sn=7895259238744512&t=20261125105812&sign=0f3c6a1e9b2d4c8e7a5f1b3d9c2e6a4f8b0d2c4e6a8f0b2d4c6e8"

// Samples returns one example of every screen kind, as the docs show them,
// with English names.
func Samples() []Screen { return SamplesFor("en") }

// SamplesFor returns one example of every screen kind with a shop of the
// locale's place: a café in Shanghai (CNY), a cha chaan teng in Hong Kong
// (HKD) or the English "Corner Cafe". Every character of these names is
// in the pre-rendered font table (display/bitmapfont), so the golden
// screens never depend on a system font.
func SamplesFor(tag string) []Screen {
	merchant, subject, declined, cur, channel := "Corner Cafe", "2x latte", "insufficient balance", "CNY", "Alipay"
	switch tag {
	case "zh-CN":
		merchant, subject, declined, channel = "街角咖啡", "拿铁 大杯 ×2", "余额不足", "微信"
	case "zh-HK":
		merchant, subject, declined, cur, channel = "港式茶餐廳", "奶茶 ×2", "餘額不足", "HKD", "支付寶"
	}
	at := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	rep := &report.Summary{Kind: report.Z, Terminal: "T100123", Merchant: merchant, Currency: cur, From: at, To: at.Add(12 * time.Hour),
		ByOutcome: []report.Line{{Key: "paid", Count: 41, Cents: 128650}, {Key: "canceled", Count: 3, Cents: 4200}, {Key: "expired", Count: 2, Cents: 2500}},
		Refunds:   report.Line{Count: 1, Cents: 1250}, NetCents: 127400,
		Open: []report.Order{{ClientSN: "T1-00000099", AmountCents: 990, Device: "pending", Gateway: "no answer"}}}
	return []Screen{
		{Kind: Idle, Merchant: merchant, Currency: cur},
		{Kind: Entering, Typed: "12.5", Currency: cur, Keys: []string{"key.enter", "key.cancel"}},
		{Kind: Connecting, AmountCents: 1250, Currency: cur},
		{Kind: AwaitingPayment, AmountCents: 1250, Currency: cur, QR: SampleQR, Merchant: merchant, Subject: subject, OrderNo: "T1-00000042", Remaining: 3*time.Minute + 59*time.Second, Keys: []string{"key.cancel"}},
		{Kind: Paid, AmountCents: 1250, Currency: cur, Channel: channel, OrderNo: "T1-00000042"},
		{Kind: Canceled, AmountCents: 1250, Currency: cur, OrderNo: "T1-00000042"},
		{Kind: Expired, AmountCents: 1250, Currency: cur, OrderNo: "T1-00000042"},
		{Kind: Refunded, AmountCents: 1250, RefundedCents: 500, Currency: cur, OrderNo: "T1-00000042"},
		{Kind: Offline, Queued: 3, QueuedCents: 3680, Currency: cur, Reason: "no route to gateway"},
		{Kind: Error, Reason: "amount.over_max", AmountCents: 500100, Currency: cur, OrderNo: "T1-00000042"},
		{Kind: Declined, AmountCents: 1250, Currency: cur, Reason: declined, OrderNo: "T1-00000042", Keys: []string{"key.ok"}},
		{Kind: Checking, AmountCents: 1250, Currency: cur, Recovered: true, OrderNo: "T1-00000042", Keys: []string{"key.check", "key.cancel"}},
		{Kind: LatePaid, AmountCents: 1250, Currency: cur, Channel: channel, OrderNo: "T1-00000042", Keys: []string{"key.keep", "key.refund"}},
		{Kind: Menu, Menu: []string{"refund_last", "refund_order", "reprint", "x_report", "z_report", "selftest", "network", "checkin", "activate"}, Selected: 2, Keys: []string{"key.down", "key.ok", "key.back"}},
		{Kind: PIN, Typed: "123", Reason: "pin_wrong", Keys: []string{"key.ok", "key.back"}},
		{Kind: Report, Report: rep, Currency: cur, Keys: []string{"key.back"}},
		{Kind: Info, Title: "network", Facts: []Fact{{Label: "status", Value: "ok"}, {Label: "ip", Value: "192.168.1.20"}, {Label: "gateway", Value: "upay 38 ms"}, {Label: "last_checkin", Value: "09:02"}}, Keys: []string{"key.back"}},
	}
}

// EncodePNG writes img as a PNG file. 1-bit images become 8-bit grey (0 or
// 255) so that any viewer shows them as the panel does; colour screens,
// which use a handful of colours, become paletted PNGs (exact, and a
// fraction of the size of 24-bit ones).
func EncodePNG(w io.Writer, img image.Image) error {
	var out image.Image = img
	switch m := img.(type) {
	case *image1bit.VerticalLSB:
		g := image.NewGray(m.Rect)
		for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
			for x := m.Rect.Min.X; x < m.Rect.Max.X; x++ {
				if m.BitAt(x, y) {
					g.Pix[g.PixOffset(x, y)] = 0xff
				}
			}
		}
		out = g
	case *image565.Image:
		if p := paletted(m.Rect, func(x, y int) color.RGBA {
			c := m.RGB565At(x, y)
			r, g, b, _ := c.RGBA()
			return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff}
		}); p != nil {
			out = p
		} else {
			n := image.NewNRGBA(m.Rect)
			for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
				for x := m.Rect.Min.X; x < m.Rect.Max.X; x++ {
					n.Set(x, y, m.RGB565At(x, y))
				}
			}
			out = n
		}
	case *image.RGBA:
		if p := paletted(m.Rect, func(x, y int) color.RGBA { return m.RGBAAt(x, y) }); p != nil {
			out = p
		}
	}
	e := png.Encoder{CompressionLevel: png.DefaultCompression}
	return e.Encode(w, out)
}

// paletted returns the picture as an image.Paletted when it has at most 256
// colours, else nil.
func paletted(r image.Rectangle, at func(x, y int) color.RGBA) *image.Paletted {
	index := map[color.RGBA]uint8{}
	var pal color.Palette
	p := image.NewPaletted(r, nil)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := at(x, y)
			i, ok := index[c]
			if !ok {
				if len(pal) == 256 {
					return nil
				}
				i = uint8(len(pal))
				index[c] = i
				pal = append(pal, c)
			}
			p.Pix[p.PixOffset(x, y)] = i
		}
	}
	p.Palette = pal
	return p
}
