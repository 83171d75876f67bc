package display

import (
	"fmt"
	"image"
	"image/color"
	"strconv"
	"sync"
	"time"

	"periph.io/x/devices/v3/ssd1306/image1bit"

	"posagent/display/image565"
)

// Format is the pixel format of a panel.
type Format int

const (
	// RGB565 is for colour TFTs: Render returns an *image565.Image.
	RGB565 Format = iota
	// Mono is for 1-bit panels: Render returns an *image1bit.VerticalLSB in
	// which image1bit.On means a light pixel (lit on an OLED, white on
	// e-paper; the ST7567 adapter inverts it for its dark-on-light LCD).
	Mono
)

func (f Format) String() string {
	switch f {
	case RGB565:
		return "rgb565"
	case Mono:
		return "mono"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Options says how to draw a Screen for one panel.
type Options struct {
	// Size is the panel size in pixels, as mounted (after rotation).
	Size image.Point
	// Format is RGB565 or Mono.
	Format Format
	// CountdownStep rounds the countdown up to a multiple of this step, so a
	// slow panel (e-paper) redraws only when the shown value changes. Zero
	// means one second.
	CountdownStep time.Duration
}

// Palette indices used while drawing. Every screen is drawn into an
// image.Paletted first and then converted for the panel, so the monochrome
// picture is an exact threshold of the colour one.
const (
	cBG     uint8 = iota // light background
	cFG                  // text and QR modules
	cGood                // paid
	cBad                 // error, canceled
	cWarn                // offline, expired
	cAccent              // idle, connecting
	cMuted               // small print
	nColors
)

var colourPalette = color.Palette{
	cBG:     color.RGBA{0xff, 0xff, 0xff, 0xff},
	cFG:     color.RGBA{0x00, 0x00, 0x00, 0xff},
	cGood:   color.RGBA{0x00, 0x8c, 0x3c, 0xff},
	cBad:    color.RGBA{0xc8, 0x1e, 0x1e, 0xff},
	cWarn:   color.RGBA{0xb4, 0x64, 0x00, 0xff},
	cAccent: color.RGBA{0x00, 0x5a, 0xaa, 0xff},
	cMuted:  color.RGBA{0x50, 0x50, 0x50, 0xff},
}

// light reports whether a palette colour is drawn as a light pixel on a
// 1-bit panel: a plain luminance threshold at 50%, no dithering.
func light(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	y := (299*r + 587*g + 114*b) / 1000
	return y >= 0x8000
}

// Renderer draws Screens. It keeps the last QR encoding so that countdown
// ticks do not re-encode the payload. It is safe for concurrent use; the
// zero value is ready.
type Renderer struct {
	mu     sync.Mutex
	qrKey  string
	qrSide int
	qr     qrPlan
	qrErr  error
}

// Render draws s with a fresh Renderer. See Renderer.Render.
func Render(s Screen, o Options) (image.Image, error) {
	var r Renderer
	return r.Render(s, o)
}

// Render draws s for a panel. The result is deterministic: the same Screen
// and Options always give the same pixels. It returns an *image565.Image for
// RGB565 and an *image1bit.VerticalLSB for Mono.
//
// An error means the screen could not be shown as asked (a QR payload too
// long for the panel, a panel too small); the image then carries an error
// screen saying so, and is still worth showing.
func (r *Renderer) Render(s Screen, o Options) (image.Image, error) {
	if o.Size.X < 32 || o.Size.Y < 32 || o.Size.X > 4096 || o.Size.Y > 4096 {
		return nil, fmt.Errorf("display: panel size %dx%d out of range (32..4096 pixels each side)", o.Size.X, o.Size.Y)
	}
	if o.Format != RGB565 && o.Format != Mono {
		return nil, fmt.Errorf("display: unknown pixel format %d", int(o.Format))
	}
	img, err := r.paint(s, o)
	if err != nil {
		// Show the reason instead of a half-drawn screen.
		var perr error
		img, perr = r.paint(Screen{Kind: Error, Reason: err.Error(), AmountCents: s.AmountCents, OrderNo: s.OrderNo}, o)
		if perr != nil {
			return nil, err
		}
	}
	return convert(img, o.Format), err
}

// paint draws into a paletted image.
func (r *Renderer) paint(s Screen, o Options) (*image.Paletted, error) {
	dst := image.NewPaletted(image.Rectangle{Max: o.Size}, colourPalette)
	l := &layout{dst: dst, r: dst.Rect}
	switch s.Kind {
	case Idle:
		l.status("READY", cAccent, []line{
			{text: s.Merchant, maxK: 2, color: cFG, optional: true},
			{text: "Enter amount", maxK: 2, color: cMuted, optional: true},
		})
	case Entering:
		typed := s.Typed
		l.status("AMOUNT", cAccent, []line{
			{text: "¥" + typed + "_", maxK: 5, color: cFG, font: bold},
			{text: "press Enter", maxK: 2, color: cMuted, optional: true},
		})
	case Connecting:
		l.status("CONNECTING…", cAccent, []line{
			{text: FormatAmount(s.AmountCents), maxK: 5, color: cFG, font: bold},
			{text: "please wait", maxK: 2, color: cMuted, optional: true},
		})
	case AwaitingPayment:
		if err := r.paintQR(l, s, o); err != nil {
			return nil, err
		}
	case Paid:
		l.status("PAID", cGood, []line{
			{text: FormatAmount(s.AmountCents), maxK: 5, color: cFG, font: bold},
			{text: "Thank you", maxK: 2, color: cFG, optional: true},
			{text: s.OrderNo, maxK: 1, color: cMuted, optional: true},
		})
	case Canceled:
		l.status("CANCELED", cBad, []line{
			{text: FormatAmount(s.AmountCents), maxK: 5, color: cFG, font: bold},
			{text: s.Reason, maxK: 2, color: cFG, optional: true, wrap: 2},
			{text: "not charged", maxK: 2, color: cMuted, optional: true},
		})
	case Expired:
		l.status("EXPIRED", cWarn, []line{
			{text: FormatAmount(s.AmountCents), maxK: 5, color: cFG, font: bold},
			{text: "not paid", maxK: 2, color: cFG, optional: true},
			{text: s.OrderNo, maxK: 1, color: cMuted, optional: true},
		})
	case Refunded:
		l.status("REFUNDED", cWarn, []line{
			{text: FormatAmount(s.AmountCents), maxK: 5, color: cFG, font: bold},
			{text: s.OrderNo, maxK: 1, color: cMuted, optional: true},
		})
	case Offline:
		l.status("OFFLINE", cWarn, []line{
			{text: strconv.Itoa(s.Queued) + " queued", maxK: 5, color: cFG, font: bold},
			{text: "not payable yet", maxK: 2, color: cFG, optional: true},
			{text: s.Reason, maxK: 2, color: cMuted, optional: true, wrap: 2},
		})
	case Error:
		reason := s.Reason
		if reason == "" {
			reason = "unknown error"
		}
		l.status("ERROR", cBad, []line{
			{text: reason, maxK: 2, color: cFG, wrap: 4},
			{text: s.OrderNo, maxK: 1, color: cMuted, optional: true},
		})
	default:
		return nil, fmt.Errorf("display: unknown screen kind %d", int(s.Kind))
	}
	return dst, nil
}

// qrFor returns the QR plan for payload in a square of side pixels, cached.
func (r *Renderer) qrFor(payload string, side int) (qrPlan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.qrKey == payload && r.qrSide == side && (r.qr.n > 0 || r.qrErr != nil) {
		return r.qr, r.qrErr
	}
	r.qr, r.qrErr = planQR(payload, side)
	r.qrKey, r.qrSide = payload, side
	return r.qr, r.qrErr
}

// Minimum room kept for the amount and countdown beside or under the code.
const (
	minInfoW = 64 // 8 characters of the 8-pixel font
	minInfoH = 32 // two lines of text: amount and countdown
)

// paintQR lays out the payment screen: the code as large as the panel allows
// on the left (landscape) or top (portrait and square), text in the rest.
func (r *Renderer) paintQR(l *layout, s Screen, o Options) error {
	w, h := o.Size.X, o.Size.Y
	landscape := w > h
	var area int
	if landscape {
		area = min(h, w-minInfoW)
	} else {
		area = min(w, h-minInfoH)
	}
	p, err := r.qrFor(s.QR, area)
	if err != nil {
		return err
	}
	side := p.side()
	var qrAt image.Point
	var info image.Rectangle
	if landscape {
		qrAt = image.Pt(0, (h-side)/2)
		info = image.Rect(side, 0, w, h)
	} else {
		qrAt = image.Pt((w-side)/2, 0)
		info = image.Rect(0, side, w, h)
	}
	drawQR(l.dst, qrAt, p)
	step := o.CountdownStep
	if step <= 0 {
		step = time.Second
	}
	remaining := (s.Remaining + step - 1) / step * step
	inner := &layout{dst: l.dst, r: info.Inset(1)}
	amount := FormatAmount(s.AmountCents)
	// The countdown is never bigger than the amount.
	ka := max(1, min(3, inner.r.Dx()/max(1, bold.width(amount, 1))))
	inner.flow([]line{
		{text: amount, maxK: 3, color: cFG, font: bold},
		{text: formatCountdown(remaining), maxK: min(2, ka), color: cAccent},
		{text: s.Merchant, maxK: 1, color: cFG, optional: true},
		{text: s.Subject, maxK: 1, color: cFG, optional: true},
		{text: s.OrderNo, maxK: 1, color: cMuted, optional: true},
	}, false)
	return nil
}

// drawQR paints the quiet zone light and the dark modules, each module a
// scale×scale block of whole pixels.
func drawQR(dst *image.Paletted, at image.Point, p qrPlan) {
	side := p.side()
	fillRect(dst, image.Rectangle{Min: at, Max: at.Add(image.Pt(side, side))}, cBG)
	off := at.Add(image.Pt(p.quiet*p.scale, p.quiet*p.scale))
	for y, row := range p.modules {
		for x, dark := range row {
			if dark {
				px := off.X + x*p.scale
				py := off.Y + y*p.scale
				fillRect(dst, image.Rect(px, py, px+p.scale, py+p.scale), cFG)
			}
		}
	}
}

// convert turns the paletted drawing into the panel's pixel format.
func convert(src *image.Paletted, f Format) image.Image {
	b := src.Rect
	if f == Mono {
		var on [nColors]bool
		for i, c := range src.Palette {
			on[i] = light(c)
		}
		dst := image1bit.NewVerticalLSB(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				if on[row[x]] {
					dst.SetBit(b.Min.X+x, y, image1bit.On)
				}
			}
		}
		return dst
	}
	var lut [nColors]image565.Color
	for i, c := range src.Palette {
		lut[i] = image565.Model.Convert(c).(image565.Color)
	}
	dst := image565.New(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := src.Pix[src.PixOffset(b.Min.X, y):]
		out := dst.Pix[dst.PixOffset(b.Min.X, y):]
		for x := 0; x < b.Dx(); x++ {
			c := lut[row[x]]
			out[2*x] = byte(c >> 8)
			out[2*x+1] = byte(c)
		}
	}
	return dst
}
