package st7567

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"time"

	"periph.io/x/conn/v3/display"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/devices/v3/ssd1306/image1bit"
)

// Size of the picture this driver draws.
const (
	Width  = 128
	Height = 64
	pages  = Height / 8
)

// Instructions (datasheet section 9).
const (
	cmdDisplayOff   = 0xAE
	cmdDisplayOn    = 0xAF
	cmdStartLine    = 0x40 // | line 0–63
	cmdPage         = 0xB0 // | page 0–8
	cmdColumnHigh   = 0x10 // | column bits 7..4
	cmdColumnLow    = 0x00 // | column bits 3..0
	cmdAllPixelsOff = 0xA4 // show the RAM
	cmdAllPixelsOn  = 0xA5
	cmdPowerControl = 0x28 // | VB 4, VR 2, VF 1
	cmdRegulation   = 0x20 // | ratio 0–7
	cmdVolume       = 0x81 // followed by EV 0–63

	powerAll = 0x07 // booster, regulator and follower on
)

// Bias is the LCD bias ratio instruction.
type Bias byte

// Bias values.
const (
	Bias19 Bias = 0xA2 // 1/9
	Bias17 Bias = 0xA3 // 1/7
)

// SegmentDirection is the SEG (column) direction instruction.
type SegmentDirection byte

// SEG directions.
const (
	SegmentDirNormal  SegmentDirection = 0xA0 // column 0 drives SEG0
	SegmentDirReverse SegmentDirection = 0xA1 // column 0 drives SEG131
)

// CommonDirection is the COM (row) scan direction instruction.
type CommonDirection byte

// COM directions.
const (
	CommonDirNormal  CommonDirection = 0xC0 // COM0 to COM63
	CommonDirReverse CommonDirection = 0xC8 // COM63 to COM0
)

// Display selects normal or inverse display.
type Display byte

// Display modes.
const (
	DisplayNormal  Display = 0xA6 // a set RAM bit is a dark dot
	DisplayInverse Display = 0xA7 // a set RAM bit is a light dot
)

// Opts describes the module. The field names and values are those of
// periph.io/x/devices/v3/st7567.Opts, except RegulationRatio, which is the
// 3-bit ratio itself (periph's RegResistorRR0|RegResistorRR1 is 3).
type Opts struct {
	// Bias is the LCD bias ratio: Bias17 for most 128×64 modules. A faint
	// picture with dark "ghost" rows or a washed-out one may want the other.
	Bias Bias
	// SegmentDirection: try toggling this if the picture is mirrored left
	// to right.
	SegmentDirection SegmentDirection
	// CommonDirection: try toggling this if the picture is upside down
	// (mirrored top to bottom).
	CommonDirection CommonDirection
	// Display: DisplayInverse if the module shows a negative.
	Display Display
	// RegulationRatio (0–7) sets the LCD drive voltage coarsely; Contrast
	// (electronic volume, 0–63) sets it finely. If Contrast at 63 is still
	// too faint raise the ratio; if the whole glass turns dark lower it.
	RegulationRatio byte
	// StartLine (0–63) is the RAM row shown on the top line. Leave it 0; try
	// another value only if the picture is rolled vertically.
	StartLine byte
	// Contrast is the electronic volume, 0–63: raise it if the picture is
	// too light, lower it if the background turns grey or dark. u8g2 drives
	// JLX12864 modules at 10, periph's example at 40.
	Contrast byte
	// ColumnOffset (0–4) is the RAM column of the picture's left edge.
	// The controller has 132 columns and the glass 128: with
	// SegmentDirReverse, column address 0 drives SEG131, so a glass wired to
	// SEG0–127 shows columns 4–131 and wants 4 (u8g2's JLX12864 setup, in
	// csrc/u8x8_d_st7567.c, uses x offset 4 with SEG reversed and 0 with
	// SEG normal). Try 4 (or 0) if the picture is cut off at one edge with
	// a 4-pixel blank strip at the other.
	ColumnOffset int
	// Clock is the SPI clock; 0 means 1 MHz, as periph's driver uses.
	// Lower it if the picture shows noise (long wires).
	Clock physic.Frequency
}

// DefaultOpts are the settings of the common 128×64 modules (and periph's
// st7567 example).
var DefaultOpts = Opts{
	Bias:             Bias17,
	SegmentDirection: SegmentDirNormal,
	CommonDirection:  CommonDirReverse,
	Display:          DisplayNormal,
	RegulationRatio:  3,
	StartLine:        0,
	Contrast:         40,
}

// sleep is replaced in tests to record the reset pulse timing.
var sleep = time.Sleep

// resetPulse is how long RST is held low and how long the controller is
// then left to come out of reset; periph's driver uses 50 ms for both.
const resetPulse = 50 * time.Millisecond

// Dev is an open handle to the LCD. It implements display.Drawer.
type Dev struct {
	c    spi.Conn
	dc   gpio.PinOut
	opts Opts

	// front is what the controller's RAM holds, in RAM layout (a set bit is
	// a dark dot). fresh means it is unknown and the next frame goes whole.
	front  [pages][Width]byte
	next   [pages][Width]byte
	fresh  bool
	halted bool
	// scratch converts pictures that are not a full-size VerticalLSB.
	scratch *image1bit.VerticalLSB
}

// New opens the LCD on an SPI port and initialises it. dc is required; rst
// may be nil (or gpio.INVALID) when the module ties its reset high, otherwise
// the controller is reset with it first.
func New(port spi.Port, dc gpio.PinOut, rst gpio.PinOut, opts *Opts) (*Dev, error) {
	if opts == nil {
		return nil, errors.New("st7567: no Opts (start from DefaultOpts)")
	}
	o := *opts
	if dc == nil || dc == gpio.INVALID {
		return nil, errors.New("st7567: a DC (data/command, A0) pin is required")
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Clock == 0 {
		o.Clock = physic.MegaHertz
	}
	c, err := port.Connect(o.Clock, spi.Mode0, 8)
	if err != nil {
		return nil, fmt.Errorf("st7567: %w", err)
	}
	d := &Dev{c: c, dc: dc, opts: o, fresh: true}
	if rst != nil && rst != gpio.INVALID {
		if err := rst.Out(gpio.Low); err != nil {
			return nil, fmt.Errorf("st7567: reset: %w", err)
		}
		sleep(resetPulse)
		if err := rst.Out(gpio.High); err != nil {
			return nil, fmt.Errorf("st7567: reset: %w", err)
		}
		sleep(resetPulse)
	}
	if err := d.command(initSequence(&o)...); err != nil {
		return nil, fmt.Errorf("st7567: init: %w", err)
	}
	return d, nil
}

func (o *Opts) check() error {
	switch {
	case o.Bias != Bias17 && o.Bias != Bias19:
		return fmt.Errorf("st7567: Bias %#02x, want Bias17 or Bias19", byte(o.Bias))
	case o.SegmentDirection != SegmentDirNormal && o.SegmentDirection != SegmentDirReverse:
		return fmt.Errorf("st7567: SegmentDirection %#02x, want SegmentDirNormal or SegmentDirReverse", byte(o.SegmentDirection))
	case o.CommonDirection != CommonDirNormal && o.CommonDirection != CommonDirReverse:
		return fmt.Errorf("st7567: CommonDirection %#02x, want CommonDirNormal or CommonDirReverse", byte(o.CommonDirection))
	case o.Display != DisplayNormal && o.Display != DisplayInverse:
		return fmt.Errorf("st7567: Display %#02x, want DisplayNormal or DisplayInverse", byte(o.Display))
	case o.RegulationRatio > 7:
		return fmt.Errorf("st7567: RegulationRatio %d, want 0–7", o.RegulationRatio)
	case o.StartLine > 63:
		return fmt.Errorf("st7567: StartLine %d, want 0–63", o.StartLine)
	case o.ColumnOffset < 0 || o.ColumnOffset > 132-Width:
		return fmt.Errorf("st7567: ColumnOffset %d, want 0–%d", o.ColumnOffset, 132-Width)
	case o.Contrast > 63:
		return fmt.Errorf("st7567: Contrast %d, want 0–63 (the electronic volume has 6 bits)", o.Contrast)
	}
	return nil
}

// initSequence is periph's st7567 initialisation, byte for byte.
func initSequence(o *Opts) []byte {
	return []byte{
		byte(o.Bias),
		byte(o.SegmentDirection),
		byte(o.CommonDirection),
		byte(o.Display),
		cmdStartLine | o.StartLine,
		cmdPowerControl | powerAll,
		cmdRegulation | o.RegulationRatio,
		cmdDisplayOn,
		cmdVolume, o.Contrast,
	}
}

func (d *Dev) String() string { return "st7567" }

// ColorModel implements display.Drawer: image1bit.On is a light pixel.
func (d *Dev) ColorModel() color.Model { return image1bit.BitModel }

// Bounds implements display.Drawer.
func (d *Dev) Bounds() image.Rectangle { return image.Rect(0, 0, Width, Height) }

// Draw implements display.Drawer. It returns once the changed columns are
// on the wire. Pixels outside r keep what the last Draw left (light before
// the first). A full-size *image1bit.VerticalLSB drawn whole at the origin
// is converted without an intermediate copy.
func (d *Dev) Draw(r image.Rectangle, src image.Image, sp image.Point) error {
	m, ok := src.(*image1bit.VerticalLSB)
	if !ok || m.Rect != d.Bounds() || r != d.Bounds() || sp != (image.Point{}) {
		if d.scratch == nil {
			d.scratch = image1bit.NewVerticalLSB(d.Bounds())
		}
		// Start from the picture on the glass, so that drawing a part of
		// it leaves the rest as it is (before the first frame: light).
		for p := 0; p < pages; p++ {
			row := d.scratch.Pix[p*d.scratch.Stride:]
			for x, b := range d.front[p] {
				row[x] = ^b
			}
		}
		draw.Src.Draw(d.scratch, r, src, sp)
		m = d.scratch
	}
	// VerticalLSB has the RAM's layout; only the sense of a bit differs.
	for p := 0; p < pages; p++ {
		row := m.Pix[p*m.Stride : p*m.Stride+Width]
		for x, b := range row {
			d.next[p][x] = ^b
		}
	}
	return d.flush()
}

// flush sends, page by page, the columns of next that differ from front.
func (d *Dev) flush() error {
	if d.halted {
		// Leave power save: all pixels normal, then display on.
		if err := d.command(cmdAllPixelsOff, cmdDisplayOn); err != nil {
			return fmt.Errorf("st7567: wake up: %w", err)
		}
		d.halted = false
	}
	for p := 0; p < pages; p++ {
		lo, hi := 0, Width
		if !d.fresh {
			for lo < hi && d.front[p][lo] == d.next[p][lo] {
				lo++
			}
			for hi > lo && d.front[p][hi-1] == d.next[p][hi-1] {
				hi--
			}
			if lo == hi {
				continue
			}
		}
		col := byte(lo + d.opts.ColumnOffset)
		if err := d.command(cmdPage|byte(p), cmdColumnHigh|col>>4, cmdColumnLow|col&0x0F); err != nil {
			d.fresh = true
			return fmt.Errorf("st7567: page %d: %w", p, err)
		}
		if err := d.data(d.next[p][lo:hi]); err != nil {
			// Part of the span may have landed: the RAM is unknown.
			d.fresh = true
			return fmt.Errorf("st7567: page %d: %w", p, err)
		}
		copy(d.front[p][lo:hi], d.next[p][lo:hi])
	}
	d.fresh = false
	return nil
}

// SetContrast sets the electronic volume (0–63).
func (d *Dev) SetContrast(v byte) error {
	if v > 63 {
		return fmt.Errorf("st7567: contrast %d, want 0–63", v)
	}
	if err := d.command(cmdVolume, v); err != nil {
		return fmt.Errorf("st7567: %w", err)
	}
	d.opts.Contrast = v
	return nil
}

// Halt implements display.Drawer: the controller enters power save (display
// off, then all pixels on: the datasheet's sleep mode), which blanks the
// glass. The next Draw wakes it and sends the whole frame.
func (d *Dev) Halt() error {
	d.fresh = true
	if err := d.command(cmdDisplayOff, cmdAllPixelsOn); err != nil {
		return fmt.Errorf("st7567: halt: %w", err)
	}
	d.halted = true
	return nil
}

// command sends instruction bytes (A0/DC low).
func (d *Dev) command(b ...byte) error {
	if err := d.dc.Out(gpio.Low); err != nil {
		return err
	}
	return d.c.Tx(b, nil)
}

// data sends display data bytes (A0/DC high).
func (d *Dev) data(b []byte) error {
	if err := d.dc.Out(gpio.High); err != nil {
		return err
	}
	return d.c.Tx(b, nil)
}

var _ display.Drawer = (*Dev)(nil)
