package tft

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/display"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"posagent/display/image565"
)

// Commands shared by ST7789 and ILI9341 (MIPI DCS).
const (
	cmdSWRESET = 0x01
	cmdSLPIN   = 0x10
	cmdSLPOUT  = 0x11
	cmdNORON   = 0x13
	cmdINVOFF  = 0x20
	cmdINVON   = 0x21
	cmdDISPOFF = 0x28
	cmdDISPON  = 0x29
	cmdCASET   = 0x2A
	cmdRASET   = 0x2B // PASET on the ILI9341
	cmdRAMWR   = 0x2C
	cmdMADCTL  = 0x36
	cmdCOLMOD  = 0x3A // PIXSET on the ILI9341
)

// MADCTL bits.
const (
	madMY  = 0x80
	madMX  = 0x40
	madMV  = 0x20
	madBGR = 0x08
)

// The frame memory of both controllers.
const (
	ramW = 240
	ramH = 320
)

// Controller selects the command set.
type Controller int

const (
	ST7789 Controller = iota
	ILI9341
)

func (c Controller) String() string {
	switch c {
	case ST7789:
		return "st7789"
	case ILI9341:
		return "ili9341"
	}
	return fmt.Sprintf("Controller(%d)", int(c))
}

// Opts describes the module.
type Opts struct {
	Controller Controller
	// Width and Height are the module's native size in its portrait
	// orientation (as the controller scans it): 240×240 or 240×320.
	Width, Height int
	// Rotation is 0, 90, 180 or 270 degrees clockwise. A 240×320 module at
	// 90 or 270 is a 320×240 landscape panel.
	Rotation int
	// Clock is the SPI clock. Zero means the controller's default: 40 MHz for
	// the ST7789, 32 MHz for the ILI9341. Lower it if the picture shows
	// noise or shifted lines (long wires, breadboards).
	Clock physic.Frequency
	// BGR: try toggling this if red and blue are swapped.
	BGR bool
	// Invert turns on display inversion. Most ST7789 IPS modules need it
	// (colours look like a negative without it); ILI9341 modules do not.
	Invert bool
	// MirrorX: try toggling this if the picture is mirrored left to right
	// (some modules are mounted with the columns reversed).
	MirrorX bool
}

// Presets for the modules these terminals carry.
var (
	ST7789x240x240 = Opts{Controller: ST7789, Width: 240, Height: 240, Invert: true}
	ST7789x240x320 = Opts{Controller: ST7789, Width: 240, Height: 320, Invert: true}
	// Common ILI9341 modules (2.4" and 2.8" boards) scan their columns right
	// to left and take BGR; landscape is then MADCTL MV|BGR (0x28).
	ILI9341x320x240 = Opts{Controller: ILI9341, Width: 240, Height: 320, Rotation: 90, BGR: true, MirrorX: true}
)

// sleep is replaced in tests to record the delays the datasheets require.
var sleep = time.Sleep

// Dev is an open handle to a panel. It implements display.Drawer.
type Dev struct {
	c      spi.Conn
	dc     gpio.PinOut
	bl     gpio.PinOut
	opts   Opts
	rect   image.Rectangle // logical, after rotation
	madctl byte
	offX   int // logical column of the first visible pixel in memory
	offY   int
	maxTx  int

	// front is what the panel shows, back the frame being drawn.
	front, back *image565.Image
	fresh       bool // the panel content is unknown: send everything
	off         bool // Halt turned the display off
	scratch     []byte
}

// New opens a panel on an SPI port. dc is required. rst and bl (backlight)
// may be nil when the module ties them high.
func New(p spi.Port, dc, rst, bl gpio.PinOut, o *Opts) (*Dev, error) {
	if o == nil {
		return nil, errors.New("tft: no Opts")
	}
	opts := *o
	if dc == nil || dc == gpio.INVALID {
		return nil, errors.New("tft: a DC (data/command) pin is required")
	}
	if opts.Controller != ST7789 && opts.Controller != ILI9341 {
		return nil, fmt.Errorf("tft: unknown controller %d", int(opts.Controller))
	}
	if opts.Width < 1 || opts.Width > ramW || opts.Height < 1 || opts.Height > ramH {
		return nil, fmt.Errorf("tft: native size %dx%d does not fit the %dx%d frame memory", opts.Width, opts.Height, ramW, ramH)
	}
	if opts.Clock == 0 {
		opts.Clock = 40 * physic.MegaHertz
		if opts.Controller == ILI9341 {
			opts.Clock = 32 * physic.MegaHertz
		}
	}
	d := &Dev{dc: dc, bl: bl, opts: opts, fresh: true}
	switch opts.Rotation {
	case 0:
		d.madctl = 0
	case 90:
		d.madctl = madMV | madMX
	case 180:
		d.madctl = madMX | madMY
	case 270:
		d.madctl = madMV | madMY
	default:
		return nil, fmt.Errorf("tft: rotation %d, want 0, 90, 180 or 270", opts.Rotation)
	}
	if opts.MirrorX {
		d.madctl ^= madMX
	}
	if opts.BGR {
		d.madctl |= madBGR
	}
	// Mirroring an axis moves the visible part of a smaller panel to the
	// far end of the 240×320 memory.
	mx, my := d.madctl&madMX != 0, d.madctl&madMY != 0
	colOff, rowOff := 0, 0
	if mx {
		colOff = ramW - opts.Width
	}
	if my {
		rowOff = ramH - opts.Height
	}
	if d.madctl&madMV != 0 {
		d.rect = image.Rect(0, 0, opts.Height, opts.Width)
		d.offX, d.offY = rowOff, colOff
	} else {
		d.rect = image.Rect(0, 0, opts.Width, opts.Height)
		d.offX, d.offY = colOff, rowOff
	}
	c, err := p.Connect(opts.Clock, spi.Mode0, 8)
	if err != nil {
		return nil, fmt.Errorf("tft: %w", err)
	}
	d.c = c
	d.maxTx = 1 << 30
	if l, ok := c.(conn.Limits); ok && l.MaxTxSize() > 0 {
		d.maxTx = l.MaxTxSize()
	}
	d.front = image565.New(d.rect)
	d.back = image565.New(d.rect)
	if err := d.init(rst); err != nil {
		return nil, err
	}
	return d, nil
}

// step is one command of an init sequence and the pause after it.
type step struct {
	cmd    byte
	params []byte
	wait   time.Duration
}

// initSequence returns the power-on sequence from the datasheets.
func (d *Dev) initSequence() []step {
	seq := []step{
		{cmd: cmdSWRESET, wait: 150 * time.Millisecond}, // ≥120 ms before SLPOUT
		{cmd: cmdSLPOUT, wait: 120 * time.Millisecond},  // ≥5 ms; power settles
	}
	if d.opts.Controller == ILI9341 {
		seq = append(seq,
			step{cmd: 0xC0, params: []byte{0x23}},       // Power Control 1: GVDD 4.60 V
			step{cmd: 0xC1, params: []byte{0x10}},       // Power Control 2: step-up factor
			step{cmd: 0xC5, params: []byte{0x3E, 0x28}}, // VCOM Control 1: VCOMH 4.25 V, VCOML -1.5 V
			step{cmd: 0xC7, params: []byte{0x86}},       // VCOM Control 2: offset
			step{cmd: 0xB1, params: []byte{0x00, 0x18}}, // Frame Rate Control: 79 Hz
			step{cmd: 0xB6, params: []byte{0x08, 0x82, 0x27}},
			step{cmd: 0x26, params: []byte{0x01}}, // Gamma Set: curve 1
			step{cmd: 0xE0, params: []byte{0x0F, 0x31, 0x2B, 0x0C, 0x0E, 0x08, 0x4E, 0xF1, 0x37, 0x07, 0x10, 0x03, 0x0E, 0x09, 0x00}},
			step{cmd: 0xE1, params: []byte{0x00, 0x0E, 0x14, 0x03, 0x11, 0x07, 0x31, 0xC1, 0x48, 0x08, 0x0F, 0x0C, 0x31, 0x36, 0x0F}},
		)
	}
	inv := byte(cmdINVOFF)
	if d.opts.Invert {
		inv = cmdINVON
	}
	seq = append(seq,
		step{cmd: cmdCOLMOD, params: []byte{0x55}}, // 16 bits/pixel, RGB565
		step{cmd: cmdMADCTL, params: []byte{d.madctl}},
		step{cmd: inv},
		step{cmd: cmdNORON, wait: 10 * time.Millisecond},
		step{cmd: cmdDISPON, wait: 10 * time.Millisecond},
	)
	return seq
}

func (d *Dev) init(rst gpio.PinOut) error {
	if rst != nil && rst != gpio.INVALID {
		// Hardware reset: a low pulse ≥10 µs, then 120 ms before commands.
		if err := rst.Out(gpio.High); err != nil {
			return fmt.Errorf("tft: reset pin: %w", err)
		}
		if err := rst.Out(gpio.Low); err != nil {
			return fmt.Errorf("tft: reset pin: %w", err)
		}
		sleep(time.Millisecond)
		if err := rst.Out(gpio.High); err != nil {
			return fmt.Errorf("tft: reset pin: %w", err)
		}
		sleep(120 * time.Millisecond)
	}
	for _, s := range d.initSequence() {
		if err := d.command(s.cmd, s.params...); err != nil {
			return err
		}
		if s.wait > 0 {
			sleep(s.wait)
		}
	}
	if d.bl != nil && d.bl != gpio.INVALID {
		if err := d.bl.Out(gpio.High); err != nil {
			return fmt.Errorf("tft: backlight pin: %w", err)
		}
	}
	return nil
}

// String implements conn.Resource.
func (d *Dev) String() string {
	return fmt.Sprintf("tft.Dev{%s, %s, %dx%d, rotation %d}", d.opts.Controller, d.c, d.rect.Dx(), d.rect.Dy(), d.opts.Rotation)
}

// ColorModel implements display.Drawer.
func (d *Dev) ColorModel() color.Model { return image565.Model }

// Bounds implements display.Drawer: the panel as mounted, Min is {0, 0}.
func (d *Dev) Bounds() image.Rectangle { return d.rect }

// Halt implements conn.Resource: display and backlight off. The next Draw
// turns the display back on and resends the whole frame.
func (d *Dev) Halt() error {
	if d.bl != nil && d.bl != gpio.INVALID {
		if err := d.bl.Out(gpio.Low); err != nil {
			return fmt.Errorf("tft: backlight pin: %w", err)
		}
	}
	if err := d.command(cmdDISPOFF); err != nil {
		return err
	}
	d.fresh, d.off = true, true
	return nil
}

// Draw implements display.Drawer. It sends only the rectangles that differ
// from what the panel shows. An *image565.Image of the panel's size drawn
// at the origin is copied without conversion.
func (d *Dev) Draw(r image.Rectangle, src image.Image, sp image.Point) error {
	if m, ok := src.(*image565.Image); ok && r == d.rect && m.Rect == d.rect && sp == (image.Point{}) {
		copy(d.back.Pix, m.Pix)
	} else {
		draw.Draw(d.back, r, src, sp, draw.Src)
	}
	if d.fresh {
		if d.off {
			// Halt turned the display off.
			if err := d.command(cmdDISPON); err != nil {
				return err
			}
			if d.bl != nil && d.bl != gpio.INVALID {
				if err := d.bl.Out(gpio.High); err != nil {
					return fmt.Errorf("tft: backlight pin: %w", err)
				}
			}
			d.off = false
		}
		if err := d.send(d.rect); err != nil {
			return err
		}
		d.fresh = false
		return nil
	}
	for _, w := range d.changed() {
		if err := d.send(w); err != nil {
			d.fresh = true // the panel is in an unknown state now
			return err
		}
	}
	return nil
}

// changed returns the bounding rectangles of runs of consecutive changed
// rows. Each costs one window (11 bytes), so runs are split only at rows that
// did not change at all.
func (d *Dev) changed() []image.Rectangle {
	var out []image.Rectangle
	w := d.rect.Dx()
	var cur image.Rectangle
	open := false
	for y := 0; y < d.rect.Dy(); y++ {
		o := y * d.back.Stride
		b, f := d.back.Pix[o:o+2*w], d.front.Pix[o:o+2*w]
		x0 := -1
		for x := 0; x < w; x++ {
			if b[2*x] != f[2*x] || b[2*x+1] != f[2*x+1] {
				x0 = x
				break
			}
		}
		if x0 < 0 {
			if open {
				out = append(out, cur)
				open = false
			}
			continue
		}
		x1 := x0 + 1
		for x := w - 1; x > x0; x-- {
			if b[2*x] != f[2*x] || b[2*x+1] != f[2*x+1] {
				x1 = x + 1
				break
			}
		}
		row := image.Rect(x0, y, x1, y+1)
		if open {
			cur = cur.Union(row)
		} else {
			cur, open = row, true
		}
	}
	if open {
		out = append(out, cur)
	}
	return out
}

// send writes the window r of the back buffer to the panel.
func (d *Dev) send(r image.Rectangle) error {
	x0, x1 := r.Min.X+d.offX, r.Max.X-1+d.offX
	y0, y1 := r.Min.Y+d.offY, r.Max.Y-1+d.offY
	if err := d.command(cmdCASET, byte(x0>>8), byte(x0), byte(x1>>8), byte(x1)); err != nil {
		return err
	}
	if err := d.command(cmdRASET, byte(y0>>8), byte(y0), byte(y1>>8), byte(y1)); err != nil {
		return err
	}
	if err := d.command(cmdRAMWR); err != nil {
		return err
	}
	var data []byte
	if r.Min.X == 0 && r.Max.X == d.rect.Max.X {
		// Full-width rows are contiguous in memory.
		data = d.back.Pix[d.back.PixOffset(0, r.Min.Y):d.back.PixOffset(0, r.Max.Y)]
	} else {
		n := 2 * r.Dx() * r.Dy()
		if cap(d.scratch) < n {
			d.scratch = make([]byte, n)
		}
		data = d.scratch[:0]
		for y := r.Min.Y; y < r.Max.Y; y++ {
			data = append(data, d.back.Pix[d.back.PixOffset(r.Min.X, y):d.back.PixOffset(r.Max.X, y)]...)
		}
	}
	if err := d.data(data); err != nil {
		return err
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(d.front.Pix[d.front.PixOffset(r.Min.X, y):d.front.PixOffset(r.Max.X, y)], d.back.Pix[d.back.PixOffset(r.Min.X, y):d.back.PixOffset(r.Max.X, y)])
	}
	return nil
}

// command sends one command byte with DC low, then its parameters with DC
// high.
func (d *Dev) command(cmd byte, params ...byte) error {
	if err := d.dc.Out(gpio.Low); err != nil {
		return fmt.Errorf("tft: DC pin: %w", err)
	}
	if err := d.c.Tx([]byte{cmd}, nil); err != nil {
		return fmt.Errorf("tft: command %#02x: %w", cmd, err)
	}
	if len(params) == 0 {
		return nil
	}
	return d.data(params)
}

// data sends bytes with DC high, in pieces the SPI driver accepts (spidev
// limits one transfer to its bufsiz, 4096 bytes by default).
func (d *Dev) data(b []byte) error {
	if err := d.dc.Out(gpio.High); err != nil {
		return fmt.Errorf("tft: DC pin: %w", err)
	}
	for len(b) > 0 {
		n := min(len(b), d.maxTx)
		if err := d.c.Tx(b[:n], nil); err != nil {
			return fmt.Errorf("tft: data: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// FrameBytes is the size of one full frame in the panel's pixel format.
func (d *Dev) FrameBytes() int { return 2 * d.rect.Dx() * d.rect.Dy() }

// Clock is the SPI clock the device was opened with.
func (d *Dev) Clock() physic.Frequency { return d.opts.Clock }

var _ display.Drawer = (*Dev)(nil)
