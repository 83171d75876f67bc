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
	// Mode is the SPI mode. Both controllers sample on the rising clock
	// edge, which modes 0 and 3 share. Many ST7789 modules without a chip
	// select pin (CS tied low on the board) only synchronise in mode 3, so
	// the ST7789 presets use it, as TFT_eSPI does for every ST7789 and
	// Adafruit's ST7789 init(w, h, mode) allows. Try the other one if the
	// panel stays blank or black.
	Mode spi.Mode
	// Offset is the frame-memory column (X) and row (Y) of the glass's
	// top-left pixel with the module in its native orientation (rotation 0,
	// nothing mirrored): TFT_eSPI's colstart/rowstart for rotation 0. Nil
	// derives it from the size: 0 for 240×240 and 240×320 modules, glass
	// centred in the 240×320 memory otherwise (135×240 at 52,40; 240×280 at
	// 0,20; 172×320 at 34,0; 170×320 at 35,0), as Adafruit's and TFT_eSPI's
	// drivers place them. Set it if the picture is shifted with a band of
	// noise along one edge.
	Offset *image.Point
}

// Presets for the modules these terminals carry.
var (
	ST7789x240x240 = Opts{Controller: ST7789, Width: 240, Height: 240, Invert: true, Mode: spi.Mode3}
	ST7789x240x320 = Opts{Controller: ST7789, Width: 240, Height: 320, Invert: true, Mode: spi.Mode3}
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
	// Mirroring an axis counts that memory address from the far end, so
	// the glass of a smaller panel starts ram - size - start from there.
	start := DefaultOffset(opts.Width, opts.Height)
	if opts.Offset != nil {
		start = *opts.Offset
		if start.X < 0 || start.Y < 0 || start.X+opts.Width > ramW || start.Y+opts.Height > ramH {
			return nil, fmt.Errorf("tft: a %dx%d glass at offset %d,%d does not fit the %dx%d frame memory", opts.Width, opts.Height, start.X, start.Y, ramW, ramH)
		}
	}
	colOff, rowOff := start.X, start.Y
	if d.madctl&madMX != 0 {
		colOff = ramW - opts.Width - start.X
	}
	if d.madctl&madMY != 0 {
		rowOff = ramH - opts.Height - start.Y
	}
	if d.madctl&madMV != 0 {
		d.rect = image.Rect(0, 0, opts.Height, opts.Width)
		d.offX, d.offY = rowOff, colOff
	} else {
		d.rect = image.Rect(0, 0, opts.Width, opts.Height)
		d.offX, d.offY = colOff, rowOff
	}
	if opts.Mode&^spi.Mode3 != 0 {
		return nil, fmt.Errorf("tft: SPI mode %#x, want 0 to 3", int(opts.Mode))
	}
	c, err := p.Connect(opts.Clock, opts.Mode, 8)
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

// DefaultOffset is where the glass of a w×h module (native orientation)
// starts in the 240×320 memory when Opts.Offset is nil: 240×240 modules use
// the first 240 rows (Adafruit_ST7789.cpp init(): "right justified"), other
// sizes are centred, with an odd column left over on the far side.
func DefaultOffset(w, h int) image.Point {
	if w == ramW && h == ramW {
		return image.Point{}
	}
	return image.Pt((ramW-w)/2, (ramH-h)/2)
}

// step is one command of an init sequence and the pause after it.
type step struct {
	cmd    byte
	params []byte
	wait   time.Duration
}

// initSequence returns the power-on sequence.
func (d *Dev) initSequence() []step {
	if d.opts.Controller == ILI9341 {
		return d.ili9341Sequence()
	}
	inv := byte(cmdINVOFF)
	if d.opts.Invert {
		inv = cmdINVON
	}
	// The datasheet's order, which Adafruit's generic_st7789 table follows.
	return []step{
		{cmd: cmdSWRESET, wait: 150 * time.Millisecond}, // ≥120 ms before SLPOUT
		{cmd: cmdSLPOUT, wait: 120 * time.Millisecond},  // ≥5 ms; power settles
		{cmd: cmdCOLMOD, params: []byte{0x55}},          // 16 bits/pixel, RGB565
		{cmd: cmdMADCTL, params: []byte{d.madctl}},
		{cmd: inv},
		{cmd: cmdNORON, wait: 10 * time.Millisecond},
		{cmd: cmdDISPON, wait: 10 * time.Millisecond},
	}
}

// ili9341Sequence is the power-up sequence Adafruit's and TinyGo's ILI9341
// drivers send: the power and timing registers of the extended command set
// first, then the panel settings, and sleep-out and display-on last, once
// the charge pumps are set up. Sending SLPOUT before the power registers
// leaves some modules blank or white.
func (d *Dev) ili9341Sequence() []step {
	seq := []step{
		{cmd: cmdSWRESET, wait: 150 * time.Millisecond},
		// Extended register commands (ILI9341 v1.11, section 8.4); EFh is
		// not documented there, every known module init sends it.
		{cmd: 0xEF, params: []byte{0x03, 0x80, 0x02}},
		{cmd: 0xCF, params: []byte{0x00, 0xC1, 0x30}},             // Power control B
		{cmd: 0xED, params: []byte{0x64, 0x03, 0x12, 0x81}},       // Power on sequence control
		{cmd: 0xE8, params: []byte{0x85, 0x00, 0x78}},             // Driver timing control A
		{cmd: 0xCB, params: []byte{0x39, 0x2C, 0x00, 0x34, 0x02}}, // Power control A
		{cmd: 0xF7, params: []byte{0x20}},                         // Pump ratio control
		{cmd: 0xEA, params: []byte{0x00, 0x00}},                   // Driver timing control B
		{cmd: 0xC0, params: []byte{0x23}},                         // Power Control 1: GVDD 4.60 V
		{cmd: 0xC1, params: []byte{0x10}},                         // Power Control 2: step-up factor
		{cmd: 0xC5, params: []byte{0x3E, 0x28}},                   // VCOM Control 1: VCOMH 4.25 V, VCOML -1.5 V
		{cmd: 0xC7, params: []byte{0x86}},                         // VCOM Control 2: offset
		{cmd: cmdMADCTL, params: []byte{d.madctl}},
		{cmd: 0x37, params: []byte{0x00}},       // Vertical Scrolling Start Address: 0
		{cmd: cmdCOLMOD, params: []byte{0x55}},  // 16 bits/pixel, RGB565
		{cmd: 0xB1, params: []byte{0x00, 0x18}}, // Frame Rate Control: 79 Hz
		{cmd: 0xB6, params: []byte{0x08, 0x82, 0x27}},
		{cmd: 0xF2, params: []byte{0x00}}, // 3-gamma function off
		{cmd: 0x26, params: []byte{0x01}}, // Gamma Set: curve 1
		{cmd: 0xE0, params: []byte{0x0F, 0x31, 0x2B, 0x0C, 0x0E, 0x08, 0x4E, 0xF1, 0x37, 0x07, 0x10, 0x03, 0x0E, 0x09, 0x00}},
		{cmd: 0xE1, params: []byte{0x00, 0x0E, 0x14, 0x03, 0x11, 0x07, 0x31, 0xC1, 0x48, 0x08, 0x0F, 0x0C, 0x31, 0x36, 0x0F}},
	}
	if d.opts.Invert {
		// Inversion is off after reset.
		seq = append(seq, step{cmd: cmdINVON})
	}
	return append(seq,
		step{cmd: cmdSLPOUT, wait: 120 * time.Millisecond}, // ≥5 ms; the picture settles in 120 ms
		step{cmd: cmdDISPON, wait: 10 * time.Millisecond},
	)
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
