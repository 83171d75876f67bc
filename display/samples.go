package display

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"time"

	"periph.io/x/devices/v3/ssd1306/image1bit"

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

// Samples returns one example of every screen kind, as the docs show them.
func Samples() []Screen {
	return []Screen{
		{Kind: Idle, Merchant: "Corner Cafe"},
		{Kind: Entering, Typed: "12.5"},
		{Kind: Connecting, AmountCents: 1250},
		{Kind: AwaitingPayment, AmountCents: 1250, QR: SampleQR, Merchant: "Corner Cafe", Subject: "2x latte", OrderNo: "T1-00000042", Remaining: 3*time.Minute + 59*time.Second},
		{Kind: Paid, AmountCents: 1250, OrderNo: "T1-00000042"},
		{Kind: Canceled, AmountCents: 1250, Reason: "canceled by cashier", OrderNo: "T1-00000042"},
		{Kind: Expired, AmountCents: 1250, OrderNo: "T1-00000042"},
		{Kind: Refunded, AmountCents: 1250, OrderNo: "T1-00000042"},
		{Kind: Offline, Queued: 3, Reason: "no route to gateway"},
		{Kind: Error, Reason: "amount over limit ¥5000.00", OrderNo: "T1-00000042"},
	}
}

// EncodePNG writes img as a PNG file. 1-bit images become 8-bit grey (0 or
// 255) so that any viewer shows them as the panel does.
func EncodePNG(w io.Writer, img image.Image) error {
	var out image.Image = img
	switch m := img.(type) {
	case *image1bit.VerticalLSB:
		g := image.NewGray(m.Rect)
		for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
			for x := m.Rect.Min.X; x < m.Rect.Max.X; x++ {
				if m.BitAt(x, y) {
					g.SetGray(x, y, color.Gray{Y: 0xff})
				}
			}
		}
		out = g
	case *image565.Image:
		n := image.NewNRGBA(m.Rect)
		for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
			for x := m.Rect.Min.X; x < m.Rect.Max.X; x++ {
				n.Set(x, y, m.RGB565At(x, y))
			}
		}
		out = n
	}
	e := png.Encoder{CompressionLevel: png.DefaultCompression}
	return e.Encode(w, out)
}
