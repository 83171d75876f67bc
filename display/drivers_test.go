package display

import (
	"fmt"
	"image"
	"image/color"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/spi/spitest"
)

// qrScreen is the payment screen used by the driver tests.
func qrScreen(remaining time.Duration) Screen {
	return Screen{Kind: AwaitingPayment, AmountCents: 1250, QR: SampleQR, Merchant: "Corner Cafe", Subject: "2x latte", OrderNo: "T1-00000042", Remaining: remaining}
}

// spiBus is a recorded SPI port and a DC pin whose level is noted against
// the transfer it precedes, so the traffic splits into commands and data
// exactly as a controller sees it.
type spiBus struct {
	port *spitest.Record
	dc   *dcPin
}

type dcPin struct {
	gpiotest.Pin
	port  *spitest.Record
	mu    sync.Mutex
	marks []dcMark
}

type dcMark struct {
	at    int
	level gpio.Level
}

func (p *dcPin) Out(l gpio.Level) error {
	p.port.Lock()
	n := len(p.port.Ops)
	p.port.Unlock()
	p.mu.Lock()
	p.marks = append(p.marks, dcMark{n, l})
	p.mu.Unlock()
	return p.Pin.Out(l)
}

func newSPIBus() *spiBus {
	port := &spitest.Record{}
	return &spiBus{port: port, dc: &dcPin{Pin: gpiotest.Pin{N: "DC"}, port: port}}
}

// transfer is one SPI or I²C write as the controller sees it.
type transfer struct {
	data bool
	b    []byte
}

func (s *spiBus) ops() int {
	s.port.Lock()
	defer s.port.Unlock()
	return len(s.port.Ops)
}

func (s *spiBus) traffic(from int) []transfer {
	s.port.Lock()
	defer s.port.Unlock()
	s.dc.mu.Lock()
	defer s.dc.mu.Unlock()
	var out []transfer
	for i, op := range s.port.Ops {
		level := gpio.Low
		for _, m := range s.dc.marks {
			if m.at <= i {
				level = m.level
			}
		}
		if i >= from {
			out = append(out, transfer{data: level == gpio.High, b: op.W})
		}
	}
	return out
}

// i2cTraffic splits SSD1306 I²C writes by their control byte (datasheet
// 8.1.5: 0x00 commands follow, 0x40 data follows).
func i2cTraffic(t *testing.T, r *i2ctest.Record, from int, addr uint16) []transfer {
	t.Helper()
	var out []transfer
	for _, op := range r.Ops[from:] {
		if op.Addr != addr {
			t.Fatalf("write to I²C address %#02x, want %#02x", op.Addr, addr)
		}
		switch op.W[0] {
		case 0x00:
			out = append(out, transfer{false, op.W[1:]})
		case 0x40:
			out = append(out, transfer{true, op.W[1:]})
		default:
			t.Fatalf("unknown control byte %#02x", op.W[0])
		}
	}
	return out
}

func wire(tr []transfer) int {
	n := 0
	for _, x := range tr {
		n += len(x.b)
	}
	return n
}

// pageRAM models the display RAM of page-addressed monochrome controllers
// (SSD1306, ST7567) from their datasheets: 8 pages of 128 columns, one byte
// holding 8 vertical pixels, LSB on top. Only the commands needed to place
// data are interpreted; the parameter counts of the others are honoured so
// that a parameter is never taken for a command.
type pageRAM struct {
	t         *testing.T
	ram       [8][128]byte
	page, col int
	colLo     int
	colHi     int
	pageLo    int
	pageHi    int
	params    map[byte]int
	dataBytes int
}

func newPageRAM(t *testing.T, params map[byte]int) *pageRAM {
	return &pageRAM{t: t, colHi: 127, pageHi: 7, params: params}
}

// ssd1306Params: commands with parameters, SSD1306 datasheet table 9-1.
var ssd1306Params = map[byte]int{0x81: 1, 0x20: 1, 0x21: 2, 0x22: 2, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1, 0x8D: 1, 0x26: 6, 0x27: 6, 0x29: 5, 0x2A: 5, 0xA3: 2}

// st7567Params: ST7567 datasheet instruction table: only contrast (0x81)
// and booster ratio (0xF8) take a second byte.
var st7567Params = map[byte]int{0x81: 1, 0xF8: 1}

func (p *pageRAM) feed(tr []transfer) {
	for _, x := range tr {
		if x.data {
			for _, b := range x.b {
				if p.page > 7 || p.col > 127 {
					p.t.Fatalf("data written outside the RAM (page %d col %d)", p.page, p.col)
				}
				p.ram[p.page][p.col] = b
				p.dataBytes++
				p.col++
				if p.col > p.colHi {
					p.col = p.colLo
					p.page++
				}
			}
			continue
		}
		cmds := x.b
		for len(cmds) > 0 {
			c := cmds[0]
			n := p.params[c]
			if len(cmds) < 1+n {
				p.t.Fatalf("command %#02x cut short", c)
			}
			args := cmds[1 : 1+n]
			cmds = cmds[1+n:]
			switch {
			case c <= 0x0F:
				p.col = p.col&0xF0 | int(c)
			case c >= 0x10 && c <= 0x1F:
				p.col = p.col&0x0F | int(c&0x0F)<<4
			case c >= 0xB0 && c <= 0xB7:
				p.page = int(c & 7)
			case c == 0x21 && p.params[0x21] == 2:
				p.colLo, p.colHi, p.col = int(args[0]), int(args[1]), int(args[0])
			case c == 0x22 && p.params[0x22] == 2:
				p.pageLo, p.pageHi, p.page = int(args[0]), int(args[1]), int(args[0])
			}
		}
	}
}

// image returns the RAM as a picture: lit (set) bits white when setIsLight.
func (p *pageRAM) image(setIsLight bool) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 128, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 128; x++ {
			set := p.ram[y/8][x]>>(y%8)&1 == 1
			if set == setIsLight {
				img.SetGray(x, y, color.Gray{0xff})
			}
		}
	}
	return img
}

func TestSSD1306I2CShowsScannableQR(t *testing.T) {
	for _, addr := range []uint16{0, 0x3D} {
		t.Run(fmt.Sprintf("addr-%#x", addr), func(t *testing.T) {
			bus := &i2ctest.Record{}
			d, err := NewSSD1306I2C(bus, Config{I2CAddr: addr})
			if err != nil {
				t.Fatal(err)
			}
			want := addr
			if want == 0 {
				want = 0x3C
			}
			ram := newPageRAM(t, ssd1306Params)
			ram.feed(i2cTraffic(t, bus, 0, want))
			from := len(bus.Ops)
			if err := d.Show(qrScreen(3*time.Minute + 59*time.Second)); err != nil {
				t.Fatal(err)
			}
			full := i2cTraffic(t, bus, from, want)
			ram.feed(full)
			if got := decodeQR(t, ram.image(true)); got != SampleQR {
				t.Fatalf("decoded %q", got)
			}
			if ram.dataBytes != 1024 {
				t.Errorf("first frame sent %d data bytes, the 128×64 frame is 1024", ram.dataBytes)
			}
			// A countdown tick sends a fraction of the frame.
			from = len(bus.Ops)
			if err := d.Show(qrScreen(3*time.Minute + 58*time.Second)); err != nil {
				t.Fatal(err)
			}
			tick := i2cTraffic(t, bus, from, want)
			ram.feed(tick)
			if wire(tick) == 0 || wire(tick)*100 > wire(full)*25 {
				t.Errorf("countdown tick sent %d bytes, full frame %d", wire(tick), wire(full))
			}
			if got := decodeQR(t, ram.image(true)); got != SampleQR {
				t.Fatalf("after tick decoded %q", got)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if err := d.Show(qrScreen(time.Minute)); err == nil {
				t.Error("Show after Close: no error")
			}
		})
	}
}

func TestSSD1306SPIShowsScannableQR(t *testing.T) {
	b := newSPIBus()
	d, err := NewSSD1306SPI(b.port, Pins{DC: b.dc}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Show(qrScreen(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ram := newPageRAM(t, ssd1306Params)
	ram.feed(b.traffic(0))
	if got := decodeQR(t, ram.image(true)); got != SampleQR {
		t.Fatalf("decoded %q", got)
	}
	if _, err := NewSSD1306SPI(newSPIBus().port, Pins{}, Config{}); err == nil {
		t.Error("no DC pin: no error")
	}
}

func TestST7567ShowsScannableQR(t *testing.T) {
	b := newSPIBus()
	d, err := NewST7567(b.port, Pins{DC: b.dc}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Show(qrScreen(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ram := newPageRAM(t, st7567Params)
	ram.feed(b.traffic(0))
	// The LCD shows a set bit as a dark dot.
	img := ram.image(false)
	if got := decodeQR(t, img); got != SampleQR {
		t.Fatalf("decoded %q", got)
	}
	// Dark modules on a light field: the corner pixel (quiet zone) is light.
	if img.GrayAt(1, 32).Y != 0xff {
		t.Error("quiet zone is dark on the LCD")
	}
	full := ram.dataBytes
	if full != 1024 {
		t.Errorf("first frame sent %d data bytes, the 128×64 frame is 1024", full)
	}
	// Identical frames are not resent.
	from := b.ops()
	if err := d.Show(qrScreen(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(b.traffic(from)); n != 0 {
		t.Errorf("identical frame sent %d transfers", n)
	}
	// A countdown tick sends only the changed columns (display/st7567
	// diffs; periph's st7567 sent the whole frame), and the glass then shows
	// exactly the new picture.
	tickScreen := qrScreen(time.Minute - time.Second)
	if err := d.Show(tickScreen); err != nil {
		t.Fatal(err)
	}
	tick := b.traffic(from)
	ram.feed(tick)
	if n := wire(tick); n == 0 || n*10 > 1024 {
		t.Errorf("countdown tick sent %d bytes, want 1–10%% of the 1024-byte frame", n)
	}
	var r Renderer
	want, err := r.Render(tickScreen, Options{Size: image.Pt(128, 64), Format: Mono})
	if err != nil {
		t.Fatal(err)
	}
	img = ram.image(false)
	for y := 0; y < 64; y++ {
		for x := 0; x < 128; x++ {
			light := img.GrayAt(x, y).Y == 0xff
			if wr, wg, wb, _ := want.At(x, y).RGBA(); light != (wr|wg|wb >= 0x8000) {
				t.Fatalf("after the tick pixel (%d,%d) light=%v, the rendered screen differs", x, y, light)
			}
		}
	}
	if got := decodeQR(t, img); got != SampleQR {
		t.Fatalf("after tick decoded %q", got)
	}
	// Close blanks the LCD (power save: display off, all pixels on).
	from = b.ops()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if tr := b.traffic(from); len(tr) != 1 || tr[0].data || string(tr[0].b) != "\xae\xa5" {
		t.Errorf("Close sent %v, want instructions AE (display off) A5 (all pixels on)", tr)
	}
	if _, err := NewST7567(newSPIBus().port, Pins{}, Config{}); err == nil {
		t.Error("no DC pin: no error")
	}
	if _, err := NewST7567(newSPIBus().port, Pins{DC: b.dc}, Config{Rotation: 90}); err == nil {
		t.Error("rotation 90: no error")
	}
}

func TestTFTCountdownTickIsPartial(t *testing.T) {
	for _, cfg := range []Config{{Driver: "st7789"}, {Driver: "st7789", Width: 240, Height: 320}, {Driver: "ili9341"}} {
		t.Run(fmt.Sprintf("%s-%dx%d", cfg.Driver, cfg.Width, cfg.Height), func(t *testing.T) {
			b := newSPIBus()
			d, err := NewTFT(b.port, Pins{DC: b.dc}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			from := b.ops()
			if err := d.Show(qrScreen(3*time.Minute + 59*time.Second)); err != nil {
				t.Fatal(err)
			}
			fb := 2 * d.opts.Size.X * d.opts.Size.Y
			full := wire(b.traffic(from))
			if full != fb+11 {
				t.Errorf("full frame %d bytes on the wire, framebuffer %d (+11 window bytes)", full, fb)
			}
			from = b.ops()
			if err := d.Show(qrScreen(3*time.Minute + 58*time.Second)); err != nil {
				t.Fatal(err)
			}
			tick := wire(b.traffic(from))
			if tick == 0 || tick*10 > full {
				t.Errorf("countdown tick sent %d bytes, more than 10%% of %d", tick, full)
			}
		})
	}
}

func TestEPaperCountdownSteps(t *testing.T) {
	b := newSPIBus()
	busy := &gpiotest.Pin{N: "BUSY", EdgesChan: make(chan gpio.Level, 1)}
	d, err := NewEPD2in13(b.port, Pins{DC: b.dc, RST: &gpiotest.Pin{N: "RST"}, CS: &gpiotest.Pin{N: "CS"}, BUSY: busy}, Config{Driver: "epd2in13"})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.opts.Size; got != image.Pt(250, 122) {
		t.Fatalf("e-paper is %v, want landscape 250×122", got)
	}
	if err := d.Show(qrScreen(3*time.Minute + 59*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Within the same 30 s step nothing is sent: no needless refresh.
	from := b.ops()
	if err := d.Show(qrScreen(3*time.Minute + 31*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := len(b.traffic(from)); n != 0 {
		t.Errorf("a countdown change inside one step sent %d transfers", n)
	}
	if err := d.Show(qrScreen(3*time.Minute + 29*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := len(b.traffic(from)); n == 0 {
		t.Error("the next step sent nothing")
	}
	if _, err := NewEPD2in13(newSPIBus().port, Pins{DC: b.dc}, Config{}); err == nil {
		t.Error("e-paper without BUSY: no error")
	}
}

// epdRAM models the black/white RAM of the SSD1675/SSD1680 controllers of
// Waveshare's 2.13" boards, from their datasheets: data entry mode (0x11),
// RAM X window in bytes (0x44) and Y window in rows (0x45), address
// counters (0x4E, 0x4F); data after 0x24 fills bytes left to right (MSB is
// the leftmost pixel, 1 is white), wrapping inside the window.
type epdRAM struct {
	t              *testing.T
	bw             [296][22]byte
	xs, xe, ys, ye int
	x, y           int
	mode           byte
	cmd            byte
	params         []byte
	writes         int
}

func (e *epdRAM) feed(tr []transfer) {
	apply := func() {
		p := e.params
		switch e.cmd {
		case 0x11:
			if len(p) > 0 {
				e.mode = p[0]
			}
		case 0x44:
			if len(p) >= 2 {
				e.xs, e.xe = int(p[0]), int(p[1])
			}
		case 0x45:
			if len(p) >= 4 {
				e.ys, e.ye = int(p[0])|int(p[1])<<8, int(p[2])|int(p[3])<<8
			}
		case 0x4E:
			if len(p) >= 1 {
				e.x = int(p[0])
			}
		case 0x4F:
			if len(p) >= 2 {
				e.y = int(p[0]) | int(p[1])<<8
			}
		}
	}
	for _, x := range tr {
		if !x.data {
			apply()
			e.cmd, e.params = x.b[0], nil
			continue
		}
		if e.cmd != 0x24 {
			e.params = append(e.params, x.b...)
			continue
		}
		if e.mode != 0x03 {
			e.t.Fatalf("RAM written in data entry mode %#02x; the model knows X+ Y+ (0x03)", e.mode)
		}
		for _, b := range x.b {
			e.bw[e.y][e.x] = b
			e.writes++
			e.x++
			if e.x > e.xe {
				e.x = e.xs
				e.y++
				if e.y > e.ye {
					e.y = e.ys
				}
			}
		}
	}
	apply()
}

// image returns the panel in its native portrait orientation, 122×250.
func (e *epdRAM) image() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 122, 250))
	for y := 0; y < 250; y++ {
		for x := 0; x < 122; x++ {
			if e.bw[y][x/8]&(0x80>>(x%8)) != 0 {
				img.SetGray(x, y, color.Gray{0xff})
			}
		}
	}
	return img
}

func TestEPaperShowsScannableQR(t *testing.T) {
	for _, rot := range []int{0, 90, 180, 270} {
		t.Run(fmt.Sprint(rot), func(t *testing.T) {
			b := newSPIBus()
			busy := &gpiotest.Pin{N: "BUSY", EdgesChan: make(chan gpio.Level, 1)}
			d, err := NewEPD2in13(b.port, Pins{DC: b.dc, RST: &gpiotest.Pin{N: "RST"}, CS: &gpiotest.Pin{N: "CS"}, BUSY: busy}, Config{Driver: "epd2in13", Rotation: rot})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Show(qrScreen(time.Minute)); err != nil {
				t.Fatal(err)
			}
			ram := &epdRAM{t: t}
			ram.feed(b.traffic(0))
			// A phone reads the code whichever way the panel is turned; a
			// mirrored picture would not decode.
			if got := decodeQR(t, ram.image()); got != SampleQR {
				t.Fatalf("decoded %q", got)
			}
		})
	}
}
