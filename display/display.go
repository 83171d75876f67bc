package display

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
	"time"

	periphdisplay "periph.io/x/conn/v3/display"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"posagent/display/image565"
	"posagent/display/locale"
)

// Display shows screens. Show draws a Screen (it may block for a panel's
// refresh time, seconds on e-paper); Close blanks the panel and releases it,
// so that no stale QR code stays in front of a customer.
//
// Implementations are safe for concurrent use.
type Display interface {
	Show(Screen) error
	Close() error
}

// Config selects and sets up a display. It is plain data so that a TOML
// section maps onto it (the toml tags name the keys); zero values mean the
// driver's defaults.
//
// Example for a 240×320 ST7789 on a Pi:
//
//	[display]
//	driver = "st7789"
//	width = 240
//	height = 320
//	spi_port = "/dev/spidev0.0"
//	dc_pin = "GPIO25"
//	rst_pin = "GPIO27"
//	bl_pin = "GPIO18"
type Config struct {
	// Driver is one of "png", "term", "st7789", "ili9341", "ssd1306",
	// "ssd1306-i2c", "st7567", "epd2in13" (Waveshare 2.13" V4; "epd2in13v2"
	// and "epd2in13v3" for older boards).
	Driver string `toml:"driver"`

	// Width and Height are the picture size as mounted (after Rotation).
	// Defaults: st7789 240×240 (set 240×320, 135×240, 240×280, 172×320 or
	// 170×320, either way round, for those modules), ili9341 320×240,
	// ssd1306 and st7567 128×64 (ssd1306 also 128×32), epd2in13 250×122,
	// png 320×240, term ignores them.
	Width  int `toml:"width"`
	Height int `toml:"height"`
	// Rotation in degrees clockwise: 0, 90, 180, 270. Try 180 if the
	// picture is upside down.
	Rotation int `toml:"rotation"`

	// SPIPort is the periph spireg name ("/dev/spidev0.0", "SPI0.0"); empty
	// means the first port found.
	SPIPort string `toml:"spi_port"`
	// SPIHz is the SPI clock; 0 means the driver's default (st7789 40 MHz,
	// ili9341 32 MHz, ssd1306 3.3 MHz, st7567 1 MHz, epd2in13 4 MHz).
	// Lower it when the picture shows noise.
	SPIHz int64 `toml:"spi_hz"`
	// Pin names as periph's gpioreg knows them ("GPIO25", "25", "P1_22").
	// DCPin is required by every SPI panel; RSTPin and BLPin (backlight)
	// are optional; e-paper also needs RSTPin and BUSYPin, and takes CSPin
	// when its chip select is a plain GPIO (the other panels use the SPI
	// port's own chip select, CE0/CE1).
	DCPin   string `toml:"dc_pin"`
	RSTPin  string `toml:"rst_pin"`
	BLPin   string `toml:"bl_pin"`
	BUSYPin string `toml:"busy_pin"`
	CSPin   string `toml:"cs_pin"`

	// I2CBus is the periph i2creg name ("1", "/dev/i2c-1"); empty means the
	// first bus. I2CAddr defaults to 0x3C (SSD1306 modules; some use 0x3D).
	I2CBus  string `toml:"i2c_bus"`
	I2CAddr uint16 `toml:"i2c_addr"`

	// MirrorX, SwapRB and ToggleInvert correct colour TFT modules that are
	// wired differently from the common ones: try MirrorX if the picture is
	// mirrored, SwapRB if red and blue are swapped, ToggleInvert if colours
	// look like a negative.
	MirrorX      bool `toml:"mirror_x"`
	SwapRB       bool `toml:"swap_rb"`
	ToggleInvert bool `toml:"toggle_invert"`

	// SPIMode (0–3) is the SPI mode of st7789 and ili9341 panels; unset
	// means 3 for st7789 (TFT_eSPI's default: modules without a CS pin
	// only work in mode 3) and 0 for ili9341. Try the other one if the
	// panel stays black or shows noise although the wiring is right.
	SPIMode *int `toml:"spi_mode"`
	// OffsetX and OffsetY (st7789, ili9341) are the controller memory
	// column and row where the glass starts, counted with the module in
	// portrait at rotation 0. Unset means 0 for 240×240 and 240×320
	// modules and centred otherwise: 135×240 at 52,40; 240×280 at 0,20;
	// 172×320 at 34,0; 170×320 at 35,0. Set them if the picture is shifted
	// with a band of noise along one edge.
	OffsetX *int `toml:"offset_x"`
	OffsetY *int `toml:"offset_y"`
	// ColumnOffset (st7567, 0–4) is the controller column of the picture's
	// left edge: the controller has 132 columns, the glass 128. Unset means
	// 0, and 4 at rotation 180, where the columns run the other way. Set it
	// if the picture is cut off at one edge with a blank strip at the other.
	ColumnOffset *int `toml:"column_offset"`
	// Contrast is the drive level of monochrome panels; 0 means the
	// default. st7567: 1–63 (electronic volume), default 40; raise it if the
	// picture is too light or faint, lower it if the background turns grey
	// or dark. ssd1306: 1–255, default 255; lower it to dim the OLED.
	Contrast int `toml:"contrast"`
	// ToggleCOMLayout (ssd1306) switches the COM pin layout from the one
	// for the size (sequential for 128×32, alternative for 128×64). Try it
	// if every other row is missing or the rows appear interleaved.
	ToggleCOMLayout bool `toml:"toggle_com_layout"`

	// Path is the file the "png" driver writes the current frame to.
	Path string `toml:"path"`
	// Mono makes the "png" driver draw the 1-bit picture of a monochrome
	// panel instead of the colour one.
	Mono bool `toml:"mono"`

	// Out is where "term" writes; nil means os.Stdout. Plain (no cursor
	// movement, for logs and pipes) stops it from clearing the screen
	// before each frame.
	Out   io.Writer `toml:"-"`
	Plain bool      `toml:"plain"`

	// CountdownStep rounds the countdown so slow panels redraw less; 0
	// means 1 s, and 30 s on e-paper, which takes seconds per refresh.
	CountdownStep time.Duration `toml:"countdown_step"`

	// Locale and TimeZone are not display keys: the CLI fills them from
	// terminal.locale and terminal.timezone, shared with the printer and
	// the CLI (see Options).
	Locale   string         `toml:"-"`
	TimeZone *time.Location `toml:"-"`
}

// Open returns the display cfg.Driver names. Hardware drivers initialise
// periph's host drivers and open buses and pins by name; "png" and "term"
// touch no hardware.
func Open(cfg Config) (Display, error) {
	switch cfg.Rotation {
	case 0, 90, 180, 270:
	default:
		return nil, fmt.Errorf("display: rotation %d, want 0, 90, 180 or 270", cfg.Rotation)
	}
	if _, err := locale.Lookup(cfg.Locale); err != nil {
		return nil, fmt.Errorf("display: %w", err)
	}
	switch cfg.Driver {
	case "png":
		return NewPNG(cfg)
	case "term":
		return NewTerm(cfg), nil
	case "st7789", "ili9341", "ssd1306", "ssd1306-i2c", "st7567", "epd2in13", "epd2in13v2", "epd2in13v3", "epd2in13v4":
		d, err := openHardware(cfg)
		if p, ok := d.(*Panel); ok && err == nil {
			p.SetText(cfg.Locale, cfg.TimeZone)
		}
		return d, err
	case "":
		return nil, errors.New("display: no driver named in the configuration")
	}
	return nil, fmt.Errorf("display: unknown driver %q (want png, term, st7789, ili9341, ssd1306, ssd1306-i2c, st7567 or epd2in13)", cfg.Driver)
}

// Panel shows Screens on a periph display.Drawer: it renders each Screen
// for the drawer's size and format, skips frames identical to the last one,
// and leaves the rest of the diffing to the driver (ssd1306, st7567 and tft
// send only what changed).
type Panel struct {
	mu     sync.Mutex
	name   string
	dev    periphdisplay.Drawer
	opts   Options
	r      Renderer
	last   []byte
	closer func() error
}

// NewPanel wraps an open drawer. format must match what the drawer shows
// (Mono for image1bit drawers, RGB565 for tft). closer, if not nil, is
// called by Close after the drawer is halted (to close the bus).
func NewPanel(name string, dev periphdisplay.Drawer, format Format, step time.Duration, closer func() error) *Panel {
	return &Panel{name: name, dev: dev, opts: Options{Size: dev.Bounds().Size(), Format: format, CountdownStep: step}, closer: closer}
}

// SetText sets the locale and time zone of the words on the panel (see
// Options); Open calls it with the Config's.
func (p *Panel) SetText(locale string, tz *time.Location) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts.Locale, p.opts.TimeZone = locale, tz
	p.last = nil
}

// Show implements Display.
func (p *Panel) Show(s Screen) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dev == nil {
		return fmt.Errorf("display: %s is closed", p.name)
	}
	img, rerr := p.r.Render(s, p.opts)
	if img == nil {
		return rerr
	}
	pix := pixels(img)
	if p.last != nil && bytes.Equal(pix, p.last) {
		return rerr
	}
	if err := p.dev.Draw(p.dev.Bounds(), img, image.Point{}); err != nil {
		p.last = nil
		return fmt.Errorf("display: %s: %w", p.name, err)
	}
	p.last = append(p.last[:0], pix...)
	return rerr
}

// Close implements Display: the panel is halted (blanked) and released.
func (p *Panel) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dev == nil {
		return nil
	}
	err := p.dev.Halt()
	p.dev = nil
	if p.closer != nil {
		if cerr := p.closer(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("display: %s: %w", p.name, err)
	}
	return nil
}

// pixels returns the raw pixel bytes of a rendered image.
func pixels(img image.Image) []byte {
	switch m := img.(type) {
	case *image565.Image:
		return m.Pix
	case *image1bit.VerticalLSB:
		return m.Pix
	}
	return nil
}

// Multi shows every screen on several displays (the demo uses term and
// png). Show and Close go to all of them and return the first error.
type Multi []Display

// Show implements Display.
func (m Multi) Show(s Screen) error {
	var first error
	for _, d := range m {
		if err := d.Show(s); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close implements Display.
func (m Multi) Close() error {
	var first error
	for _, d := range m {
		if err := d.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
