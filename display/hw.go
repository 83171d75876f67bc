package display

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/devices/v3/ssd1306"
	"periph.io/x/devices/v3/waveshare2in13v2"
	"periph.io/x/devices/v3/waveshare2in13v3"
	"periph.io/x/devices/v3/waveshare2in13v4"
	"periph.io/x/host/v3"

	"posagent/display/st7567"
	"posagent/display/tft"
)

// openHardware opens a panel on the device's buses. It is the only place
// that initialises periph's host drivers.
func openHardware(cfg Config) (Display, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("display: periph host: %w", err)
	}
	if cfg.Driver == "ssd1306-i2c" {
		bus, err := i2creg.Open(cfg.I2CBus)
		if err != nil {
			return nil, fmt.Errorf("display: I²C bus %q: %w (is I²C enabled, e.g. dtparam=i2c_arm=on?)", cfg.I2CBus, err)
		}
		d, err := NewSSD1306I2C(bus, cfg)
		if err != nil {
			bus.Close()
			return nil, err
		}
		d.closer = bus.Close
		return d, nil
	}
	port, err := spireg.Open(cfg.SPIPort)
	if err != nil {
		return nil, fmt.Errorf("display: SPI port %q: %w (is SPI enabled, e.g. dtparam=spi=on?)", cfg.SPIPort, err)
	}
	pins, err := lookupPins(cfg)
	if err != nil {
		port.Close()
		return nil, err
	}
	var d *Panel
	switch cfg.Driver {
	case "st7789", "ili9341":
		d, err = NewTFT(port, pins, cfg)
	case "ssd1306":
		d, err = NewSSD1306SPI(port, pins, cfg)
	case "st7567":
		d, err = NewST7567(port, pins, cfg)
	default: // e-paper
		d, err = NewEPD2in13(port, pins, cfg)
	}
	if err != nil {
		port.Close()
		return nil, err
	}
	d.closer = port.Close
	return d, nil
}

// Pins are the GPIO lines of an SPI panel. Nil means not connected.
type Pins struct {
	DC, RST, BL, CS gpio.PinOut
	BUSY            gpio.PinIn
}

func lookupPins(cfg Config) (Pins, error) {
	var p Pins
	get := func(role, name string) (gpio.PinIO, error) {
		if name == "" {
			return nil, nil
		}
		pin := gpioreg.ByName(name)
		if pin == nil {
			return nil, fmt.Errorf("display: %s pin %q not found (use a name like GPIO25)", role, name)
		}
		return pin, nil
	}
	for _, x := range []struct {
		role, name string
		out        *gpio.PinOut
	}{{"DC", cfg.DCPin, &p.DC}, {"RST", cfg.RSTPin, &p.RST}, {"BL", cfg.BLPin, &p.BL}, {"CS", cfg.CSPin, &p.CS}} {
		pin, err := get(x.role, x.name)
		if err != nil {
			return p, err
		}
		if pin != nil {
			*x.out = pin
		}
	}
	busy, err := get("BUSY", cfg.BUSYPin)
	if err != nil {
		return p, err
	}
	if busy != nil {
		p.BUSY = busy
	}
	return p, nil
}

func size(cfg Config, w, h int) image.Point {
	if cfg.Width != 0 || cfg.Height != 0 {
		return image.Pt(cfg.Width, cfg.Height)
	}
	return image.Pt(w, h)
}

// NewTFT opens an ST7789 or ILI9341 colour panel (cfg.Driver) on port.
// A picture wider than tall is the module turned by 90°. cfg.SPIMode,
// cfg.OffsetX and cfg.OffsetY override the SPI mode and where the glass
// sits in the controller's memory (see tft.Opts).
func NewTFT(port spi.Port, pins Pins, cfg Config) (*Panel, error) {
	if pins.DC == nil {
		return nil, errors.New("display: " + cfg.Driver + " needs a DC pin (DCPin)")
	}
	var o tft.Opts
	switch cfg.Driver {
	case "st7789":
		o = tft.ST7789x240x240
		sz := size(cfg, 240, 240)
		o.Width, o.Height = min(sz.X, sz.Y), max(sz.X, sz.Y)
		if sz.X > sz.Y {
			o.Rotation = 90
		}
	case "ili9341":
		o = tft.ILI9341x320x240
		sz := size(cfg, 320, 240)
		if sz.X < sz.Y {
			o.Rotation = 0
		}
	default:
		return nil, fmt.Errorf("display: %q is not a TFT driver", cfg.Driver)
	}
	o.Rotation = (o.Rotation + cfg.Rotation) % 360
	o.Clock = physic.Frequency(cfg.SPIHz) * physic.Hertz
	o.MirrorX = o.MirrorX != cfg.MirrorX
	o.BGR = o.BGR != cfg.SwapRB
	o.Invert = o.Invert != cfg.ToggleInvert
	if cfg.SPIMode != nil {
		if m := *cfg.SPIMode; m < 0 || m > 3 {
			return nil, fmt.Errorf("display: spi_mode %d, want 0, 1, 2 or 3", m)
		}
		o.Mode = spi.Mode(*cfg.SPIMode)
	}
	if cfg.OffsetX != nil || cfg.OffsetY != nil {
		start := tft.DefaultOffset(o.Width, o.Height)
		if cfg.OffsetX != nil {
			start.X = *cfg.OffsetX
		}
		if cfg.OffsetY != nil {
			start.Y = *cfg.OffsetY
		}
		o.Offset = &start
	}
	dev, err := tft.New(port, pins.DC, pins.RST, pins.BL, &o)
	if err != nil {
		return nil, fmt.Errorf("display: %w", err)
	}
	return NewPanel(cfg.Driver, dev, RGB565, cfg.CountdownStep, nil), nil
}

// NewSSD1306SPI opens a 128×64 or 128×32 SSD1306 OLED on port (4-wire
// SPI).
func NewSSD1306SPI(port spi.Port, pins Pins, cfg Config) (*Panel, error) {
	if pins.DC == nil {
		return nil, errors.New("display: ssd1306 on SPI needs a DC pin (DCPin); use ssd1306-i2c for I²C modules")
	}
	if l, ok := port.(interface{ LimitSpeed(physic.Frequency) error }); ok && cfg.SPIHz != 0 {
		if err := l.LimitSpeed(physic.Frequency(cfg.SPIHz) * physic.Hertz); err != nil {
			return nil, fmt.Errorf("display: ssd1306: %w", err)
		}
	}
	if err := monoRotation(cfg); err != nil {
		return nil, err
	}
	o := ssd1306Opts(cfg)
	dev, err := ssd1306.NewSPI(port, pins.DC, &o)
	if err != nil {
		return nil, fmt.Errorf("display: %w", err)
	}
	if err := ssd1306Contrast(dev, cfg); err != nil {
		return nil, err
	}
	return NewPanel("ssd1306", dev, Mono, cfg.CountdownStep, nil), nil
}

// NewSSD1306I2C opens a 128×64 or 128×32 SSD1306 OLED on an I²C bus at
// cfg.I2CAddr (0x3C by default).
func NewSSD1306I2C(bus i2c.Bus, cfg Config) (*Panel, error) {
	addr := cfg.I2CAddr
	if addr == 0 {
		addr = 0x3C
	}
	if err := monoRotation(cfg); err != nil {
		return nil, err
	}
	o := ssd1306Opts(cfg)
	// periph's ssd1306 always talks to 0x3C; readdress for 0x3D modules.
	dev, err := ssd1306.NewI2C(&readdress{Bus: bus, addr: addr}, &o)
	if err != nil {
		return nil, fmt.Errorf("display: ssd1306 at I²C %#02x: %w", addr, err)
	}
	if err := ssd1306Contrast(dev, cfg); err != nil {
		return nil, err
	}
	return NewPanel("ssd1306-i2c", dev, Mono, cfg.CountdownStep, nil), nil
}

type readdress struct {
	i2c.Bus
	addr uint16
}

func (r *readdress) Tx(_ uint16, w, rd []byte) error { return r.Bus.Tx(r.addr, w, rd) }

// monoRotation checks the rotations periph's 128×64 drivers can do.
func monoRotation(cfg Config) error {
	if cfg.Rotation != 0 && cfg.Rotation != 180 {
		return fmt.Errorf("display: %s can rotate by 0 or 180 degrees, not %d", cfg.Driver, cfg.Rotation)
	}
	return nil
}

func ssd1306Opts(cfg Config) ssd1306.Opts {
	o := ssd1306.DefaultOpts
	sz := size(cfg, 128, 64)
	o.W, o.H = sz.X, sz.Y
	if cfg.Rotation == 180 {
		o.MirrorVertical, o.MirrorHorizontal = true, true
	}
	// 128×32 (and 96×16) glasses are wired to the COM pins in sequence;
	// with periph's default, the alternative layout of 128×64 glasses, their
	// rows interleave and half of them go missing. Adafruit_SSD1306 begin()
	// sends COM pins 0x02 (sequential) for these and 0x12 for 128×64.
	o.Sequential = o.H == 32 && o.W == 128 || o.H == 16 && o.W == 96
	o.Sequential = o.Sequential != cfg.ToggleCOMLayout
	return o
}

// ssd1306Contrast sets cfg.Contrast (1–255) when given; periph's init
// leaves the maximum, 255.
func ssd1306Contrast(dev *ssd1306.Dev, cfg Config) error {
	if cfg.Contrast == 0 {
		return nil
	}
	if cfg.Contrast < 1 || cfg.Contrast > 255 {
		return fmt.Errorf("display: contrast %d, want 1–255 for ssd1306", cfg.Contrast)
	}
	if err := dev.SetContrast(byte(cfg.Contrast)); err != nil {
		return fmt.Errorf("display: ssd1306 contrast: %w", err)
	}
	return nil
}

// NewST7567 opens a 128×64 ST7567 LCD on port (4-wire SPI) with the
// driver in display/st7567, which sends only the columns that changed.
// cfg.SPIHz overrides its 1 MHz clock; Rotation 180 reverses the SEG and
// COM directions and moves the picture to controller columns 4–131, the
// ones a glass on SEG0–127 shows then (u8g2's jlx12864 setup: SEG reversed
// with x offset 4, normal with 0). cfg.ColumnOffset and cfg.Contrast
// override the column offset and the electronic volume.
func NewST7567(port spi.Port, pins Pins, cfg Config) (*Panel, error) {
	if pins.DC == nil {
		return nil, errors.New("display: st7567 needs a DC pin (DCPin)")
	}
	if err := monoRotation(cfg); err != nil {
		return nil, err
	}
	o := st7567.DefaultOpts
	if cfg.Rotation == 180 {
		o.SegmentDirection, o.CommonDirection = st7567.SegmentDirReverse, st7567.CommonDirNormal
		o.ColumnOffset = 132 - st7567.Width
	}
	if cfg.ColumnOffset != nil {
		if c := *cfg.ColumnOffset; c < 0 || c > 132-st7567.Width {
			return nil, fmt.Errorf("display: column_offset %d, want 0–%d for st7567", c, 132-st7567.Width)
		}
		o.ColumnOffset = *cfg.ColumnOffset
	}
	if cfg.Contrast != 0 {
		if cfg.Contrast < 1 || cfg.Contrast > 63 {
			return nil, fmt.Errorf("display: contrast %d, want 1–63 for st7567", cfg.Contrast)
		}
		o.Contrast = byte(cfg.Contrast)
	}
	o.Clock = physic.Frequency(cfg.SPIHz) * physic.Hertz
	dev, err := st7567.New(port, pins.DC, pins.RST, &o)
	if err != nil {
		return nil, fmt.Errorf("display: %w", err)
	}
	return NewPanel("st7567", dev, Mono, cfg.CountdownStep, nil), nil
}

// NewEPD2in13 opens a Waveshare 2.13" e-paper (V4 by default, cfg.Driver
// "epd2in13v2"/"epd2in13v3" for older boards). A refresh takes seconds, so
// the countdown moves in 30 s steps unless cfg.CountdownStep says otherwise.
func NewEPD2in13(port spi.Port, pins Pins, cfg Config) (*Panel, error) {
	if pins.DC == nil || pins.RST == nil || pins.BUSY == nil {
		return nil, errors.New("display: e-paper needs DC, RST and BUSY pins (DCPin, RSTPin, BUSYPin)")
	}
	cs := pins.CS
	if cs == nil {
		cs = gpio.INVALID
	}
	step := cfg.CountdownStep
	if step == 0 {
		step = 30 * time.Second
	}
	var dev interface {
		Draw(image.Rectangle, image.Image, image.Point) error
		Bounds() image.Rectangle
		ColorModel() color.Model
		Halt() error
		String() string
		Init() error
	}
	var err error
	switch cfg.Driver {
	case "epd2in13v2":
		o := waveshare2in13v2.EPD2in13v2
		o.Origin = waveshare2in13v2.Corner(epdCorner(cfg.Rotation))
		dev, err = waveshare2in13v2.New(port, pins.DC, cs, pins.RST, pins.BUSY, &o)
	case "epd2in13v3":
		o := waveshare2in13v3.EPD2in13v3
		o.Origin = waveshare2in13v3.Corner(epdCorner(cfg.Rotation))
		dev, err = waveshare2in13v3.New(port, pins.DC, cs, pins.RST, pins.BUSY, &o)
	default:
		o := waveshare2in13v4.EPD2in13v4
		o.Origin = waveshare2in13v4.Corner(epdCorner(cfg.Rotation))
		dev, err = waveshare2in13v4.New(port, pins.DC, cs, pins.RST, pins.BUSY, &o)
	}
	if err != nil {
		return nil, fmt.Errorf("display: %s: %w", cfg.Driver, err)
	}
	if err := dev.Init(); err != nil {
		return nil, fmt.Errorf("display: %s init: %w", cfg.Driver, err)
	}
	return NewPanel(cfg.Driver, dev, Mono, step, nil), nil
}

// epdCorner maps a rotation to the corner periph's Waveshare drivers put
// the origin in: 0 and 180 are landscape (250×122), 90 and 270 portrait.
func epdCorner(rotation int) uint8 {
	switch rotation {
	case 90:
		return 0 // TopLeft: portrait
	case 180:
		return 3 // BottomLeft
	case 270:
		return 2 // BottomRight
	}
	return 1 // TopRight: landscape
}
