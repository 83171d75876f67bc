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
	"posagent/display/locale"
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
	// Locale names the words on screen: "zh-CN", "zh-HK" or "en" (package
	// display/locale); "" means "en".
	Locale string
	// TimeZone is the zone of times on screen (reports); nil means the
	// locale's (UTC+8).
	TimeZone *time.Location
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
	mu      sync.Mutex
	qrCache map[qrKey]qrEntry
	qr      qrPlan      // the last code drawn (tests)
	qrAt    image.Point // and where

	trace *[]drawn // tests: where each line of text went
}

// Render draws s with a fresh Renderer. See Renderer.Render.
func Render(s Screen, o Options) (image.Image, error) {
	var r Renderer
	return r.Render(s, o)
}

// Render draws s for a panel. The result is deterministic: the same Screen
// and Options always give the same pixels (characters outside the
// pre-rendered table aside, which come from the system font). It returns an
// *image565.Image for RGB565 and an *image1bit.VerticalLSB for Mono.
//
// An error means the screen could not be shown as asked (a QR payload too
// long for the panel, a panel too small, an unknown locale); the image then
// carries an error screen saying so, and is still worth showing.
func (r *Renderer) Render(s Screen, o Options) (image.Image, error) {
	if o.Size.X < 32 || o.Size.Y < 32 || o.Size.X > 4096 || o.Size.Y > 4096 {
		return nil, fmt.Errorf("display: panel size %dx%d out of range (32..4096 pixels each side)", o.Size.X, o.Size.Y)
	}
	if o.Format != RGB565 && o.Format != Mono {
		return nil, fmt.Errorf("display: unknown pixel format %d", int(o.Format))
	}
	lc, lerr := lookupLocale(o.Locale)
	img, err := r.paint(s, o, lc)
	if err != nil {
		// Show the reason instead of a half-drawn screen.
		var perr error
		img, perr = r.paint(Screen{Kind: Error, Reason: err.Error(), AmountCents: s.AmountCents, Currency: s.Currency, OrderNo: s.OrderNo}, o, lc)
		if perr != nil {
			return nil, err
		}
	}
	if err == nil {
		err = lerr
	}
	return convert(img, o.Format), err
}

func lookupLocale(tag string) (*locale.Locale, error) {
	if tag == "" {
		return locale.Must("en"), nil
	}
	l, err := locale.Lookup(tag)
	if err != nil {
		return locale.Must("en"), fmt.Errorf("display: %w", err)
	}
	return l, nil
}

// paint draws into a paletted image.
func (r *Renderer) paint(s Screen, o Options, lc *locale.Locale) (*image.Paletted, error) {
	dst := image.NewPaletted(image.Rectangle{Max: o.Size}, colourPalette)
	if r.trace != nil {
		*r.trace = (*r.trace)[:0]
	}
	f := frame{dst: dst, r: dst.Rect, trace: r.trace}
	c := content{s: s, o: o, l: lc}
	if s.Kind == AwaitingPayment {
		return dst, r.paintQR(f, c)
	}
	items, err := c.items()
	if err != nil {
		return nil, err
	}
	f.column(items, max(2, o.Size.X/32))
	return dst, nil
}

// qrKey names a QR plan in the cache.
type qrKey struct {
	payload                  string
	side, minQuiet, maxScale int
}

type qrEntry struct {
	plan qrPlan
	err  error
}

// qrFor returns the QR plan for payload in a square of side pixels. Plans
// are cached (a few: the payment screen tries two areas on small panels),
// so countdown ticks never re-encode the payload.
func (r *Renderer) qrFor(payload string, side, minQuiet, maxScale int) (qrPlan, error) {
	k := qrKey{payload, side, minQuiet, maxScale}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.qrCache[k]; ok {
		return e.plan, e.err
	}
	if len(r.qrCache) >= 4 {
		clear(r.qrCache)
	}
	if r.qrCache == nil {
		r.qrCache = map[qrKey]qrEntry{}
	}
	p, err := planQR(payload, side, minQuiet, maxScale)
	r.qrCache[k] = qrEntry{p, err}
	return p, err
}

// minQuiet is the least quiet zone in modules: 4 (ISO/IEC 18004) on every
// panel but the 64-pixel-high ones, where 2 buys a module size (issue 16).
func minQuiet(o Options) int {
	if o.Size.Y <= 64 || o.Size.X <= 64 {
		return 2
	}
	return 4
}

// paintQR lays out the payment screen: the code as large as the panel allows
// on the left (landscape) or top (portrait and square), and beside or under
// it the instruction, the amount at least amountFloor high, the countdown,
// then what fits of merchant, subject and order number.
func (r *Renderer) paintQR(f frame, c content) error {
	o := c.o
	w, h := o.Size.X, o.Size.Y
	landscape := w > h
	items := c.qrItems()
	// Room the text needs at its floors: the instruction, the amount and
	// the countdown.
	amt := items[1]
	asz := amountSize(amountFloor(h))
	stacked := amt
	stacked.stack = true
	needW := max(64, stacked.amountWidth(asz)+4)
	needW = max(needW, textWidth(items[0].text, minText(o), true)+4)
	needH := 0
	for i, it := range items[:3] {
		size := minText(o)
		if i == 1 {
			size = asz
		}
		it.fit(1<<20, size)
		needH += it.height() + gap + 1
	}
	area := func(col, row int) int {
		if landscape {
			return min(h, w-col)
		}
		return min(w, h-row)
	}
	maxScale := max(3, min(w, h)/48)
	p, err := r.qrFor(c.s.QR, area(needW, needH), minQuiet(o), maxScale)
	if err != nil || p.scale < 2 {
		// Modules of one pixel do not survive a phone camera: give the
		// code more room, down to a third of the panel for the text (the
		// amount then goes under its floor, still whole).
		q, qerr := r.qrFor(c.s.QR, area(max(48, w/3), max(40, h/5)), minQuiet(o), maxScale)
		if qerr == nil && (err != nil || q.scale > p.scale || q.side() > p.side()) {
			p, err = q, nil
		}
	}
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
	drawQR(f.dst, qrAt, p)
	r.mu.Lock()
	r.qr, r.qrAt = p, qrAt
	r.mu.Unlock()
	f.r = info
	f.column(items, 2)
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
