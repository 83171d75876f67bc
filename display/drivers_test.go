package display

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	qrcode "github.com/skip2/go-qrcode"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"posagent/display/image565"
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
	ram       [8][132]byte
	cols      int // 128 (SSD1306) or 132 (ST7567)
	page, col int
	colLo     int
	colHi     int
	pageLo    int
	pageHi    int
	params    map[byte]int
	dataBytes int
	// The settings that map the RAM onto the glass, as both datasheets
	// name them: SEG direction A0h (column 0 on SEG0) or A1h (reversed),
	// COM scan direction C0h (COM0 first) or C8h (reversed), and on the
	// SSD1306 the multiplex ratio (A8h) and COM pins configuration (DAh).
	seg, com byte
	mux      int
	comPins  byte
	contrast int
}

func newPageRAM(t *testing.T, params map[byte]int) *pageRAM {
	cols := 128
	if params[0xDA] == 0 { // no COM pins command: the ST7567's 132 columns
		cols = 132
	}
	return &pageRAM{t: t, cols: cols, colHi: cols - 1, pageHi: 7, params: params, seg: 0xA0, com: 0xC0, mux: 64, comPins: 0x12, contrast: -1}
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
				if p.page > 7 || p.col >= p.cols {
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
			case c == 0xA0 || c == 0xA1:
				p.seg = c
			case c == 0xC0 || c == 0xC8:
				p.com = c
			case c == 0xA8 && n == 1:
				p.mux = int(args[0]&0x3F) + 1
			case c == 0xDA && n == 1:
				p.comPins = args[0]
			case c == 0x81:
				p.contrast = int(args[0])
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
	for _, cfg := range []Config{
		{Driver: "st7789"}, {Driver: "st7789", Width: 240, Height: 320}, {Driver: "ili9341"},
		{Driver: "st7789", Width: 240, Height: 135}, {Driver: "st7789", Width: 240, Height: 280}, {Driver: "st7789", Width: 320, Height: 172},
	} {
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

// st7567Glass is what a 128×64 ST7567 glass shows (a set bit is a dark
// dot). The glass is wired to SEG0–127 and COM0–63, as on the JLX12864
// modules: u8g2's csrc/u8x8_d_st7567.c (olikraus/u8g2 @ab9e48b, lines
// 243–265 and 60–74) drives them with SEG reversed (A1h) at x offset 4 and
// with SEG normal (A0h) at offset 0. ST7567 datasheet section 9: A0h puts
// column address 0 on SEG0, A1h on SEG131; C0h scans COM0 first, C8h COM63.
func (p *pageRAM) st7567Glass() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 128, 64))
	for y := 0; y < 64; y++ {
		row := y
		if p.com == 0xC8 {
			row = 63 - y
		}
		for x := 0; x < 128; x++ {
			col := x
			if p.seg == 0xA1 {
				col = 131 - x
			}
			if p.ram[row/8][col]>>(row%8)&1 == 0 {
				img.SetGray(x, y, color.Gray{0xff})
			}
		}
	}
	return img
}

// ssd1306Pin is the COM pin that outputs RAM row r (start line 0, no
// display offset), from the SSD1306 datasheet (rev 1.1, 10.1.12 and
// 10.1.18, table 10-3): C0h scans COM0 to COM[mux-1], C8h the reverse; in
// the sequential layout (DAh bit 4 clear) scan line c drives COM pin c, in
// the alternative layout (bit 4 set) the even lines drive pins 0–31 and the
// odd lines pins 32–63 in turn.
func ssd1306Pin(r, mux int, com, comPins byte) int {
	c := r
	if com == 0xC8 {
		c = mux - 1 - r
	}
	if comPins&0x10 == 0 {
		return c
	}
	if c%2 == 0 {
		return c / 2
	}
	return 32 + c/2
}

// ssd1306Glass is what a w×h SSD1306 glass shows (a set bit is lit), wired
// the way Adafruit_SSD1306.cpp begin() (adafruit/Adafruit_SSD1306 @74cc197,
// lines 569–612) shows it upright: segment remap A1h, COM scan C8h,
// multiplex h, and COM pins 0x02 (sequential) for 128×32, 0x12
// (alternative) for 128×64. Glass row g is on the pin those settings put
// RAM row g on; with A1h column 127 is on SEG0 (datasheet 10.1.8).
func (p *pageRAM) ssd1306Glass(w, h int) *image.Gray {
	wired := byte(0x12)
	if w == 128 && h == 32 {
		wired = 0x02
	}
	onPin := map[int]int{}
	for r := 0; r < p.mux; r++ {
		onPin[ssd1306Pin(r, p.mux, p.com, p.comPins)] = r
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for g := 0; g < h; g++ {
		r, ok := onPin[ssd1306Pin(g, h, 0xC8, wired)]
		if !ok {
			continue // that pin is not driven: the row stays dark
		}
		for x := 0; x < w; x++ {
			col := x
			if p.seg == 0xA0 {
				col = w - 1 - x
			}
			if p.ram[r/8][col]>>(r%8)&1 == 1 {
				img.SetGray(x, g, color.Gray{0xff})
			}
		}
	}
	return img
}

// smallQR draws a QR code of a short text at 1 px per module with a
// 2-module quiet zone (what fits 32 rows), and a few bars to its right so
// that any row or column mix-up shows; light is image1bit.On.
func smallQR(t *testing.T, w, h int, text string) *image1bit.VerticalLSB {
	t.Helper()
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	q.DisableBorder = true
	bm := q.Bitmap()
	img := image1bit.NewVerticalLSB(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{image1bit.On}, image.Point{}, draw.Src)
	x0, y0 := 4, (h-len(bm))/2
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				img.SetBit(x0+x, y0+y, image1bit.Off)
			}
		}
	}
	for i := 0; i < 6; i++ {
		for y := 2 + 4*i; y < 4+4*i && y < h; y++ {
			for x := 40; x < 40+10*(i+1) && x < w; x++ {
				img.SetBit(x, y, image1bit.Off)
			}
		}
	}
	return img
}

func sameGlass(t *testing.T, got *image.Gray, want image.Image) {
	t.Helper()
	b := got.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := want.At(x, y).RGBA()
			if light := got.GrayAt(x, y).Y == 0xff; light != (r|g|bl >= 0x8000) {
				t.Fatalf("glass pixel (%d,%d) light=%v, the picture differs", x, y, light)
			}
		}
	}
}

func TestSSD1306x32RowsInSequence(t *testing.T) {
	open := map[string]func(t *testing.T, cfg Config) (*Panel, func() []transfer){
		"i2c": func(t *testing.T, cfg Config) (*Panel, func() []transfer) {
			bus := &i2ctest.Record{}
			d, err := NewSSD1306I2C(bus, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return d, func() []transfer { return i2cTraffic(t, bus, 0, 0x3C) }
		},
		"spi": func(t *testing.T, cfg Config) (*Panel, func() []transfer) {
			b := newSPIBus()
			d, err := NewSSD1306SPI(b.port, Pins{DC: b.dc}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return d, func() []transfer { return b.traffic(0) }
		},
	}
	for name, open := range open {
		for _, sz := range []image.Point{{128, 32}, {128, 64}} {
			t.Run(fmt.Sprintf("%s-%dx%d", name, sz.X, sz.Y), func(t *testing.T) {
				d, traffic := open(t, Config{Width: sz.X, Height: sz.Y})
				pic := smallQR(t, sz.X, sz.Y, "T1-00000042")
				if err := d.dev.Draw(d.dev.Bounds(), pic, image.Point{}); err != nil {
					t.Fatal(err)
				}
				ram := newPageRAM(t, ssd1306Params)
				ram.feed(traffic())
				if ram.mux != sz.Y {
					t.Fatalf("multiplex ratio %d, the panel has %d rows", ram.mux, sz.Y)
				}
				glass := ram.ssd1306Glass(sz.X, sz.Y)
				sameGlass(t, glass, pic)
				if got := decodeQR(t, glass); got != "T1-00000042" {
					t.Fatalf("decoded %q", got)
				}
			})
		}
	}
	// Rotation 180 (SEG and COM both reversed) turns the picture round on
	// the 32-row glass too, rows still in sequence.
	bus := &i2ctest.Record{}
	d, err := NewSSD1306I2C(bus, Config{Width: 128, Height: 32, Rotation: 180})
	if err != nil {
		t.Fatal(err)
	}
	pic := smallQR(t, 128, 32, "T1-00000042")
	if err := d.dev.Draw(d.dev.Bounds(), pic, image.Point{}); err != nil {
		t.Fatal(err)
	}
	ram := newPageRAM(t, ssd1306Params)
	ram.feed(i2cTraffic(t, bus, 0, 0x3C))
	turned := image.NewGray(image.Rect(0, 0, 128, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 128; x++ {
			turned.Set(127-x, 31-y, pic.At(x, y))
		}
	}
	sameGlass(t, ram.ssd1306Glass(128, 32), turned)
	// toggle_com_layout goes back to periph's default for odd glasses.
	bus = &i2ctest.Record{}
	if _, err := NewSSD1306I2C(bus, Config{Width: 128, Height: 32, ToggleCOMLayout: true}); err != nil {
		t.Fatal(err)
	}
	ram = newPageRAM(t, ssd1306Params)
	ram.feed(i2cTraffic(t, bus, 0, 0x3C))
	if ram.comPins&0x10 == 0 {
		t.Errorf("toggle_com_layout: COM pins %#02x, want the alternative layout", ram.comPins)
	}
}

func TestSSD1306Contrast(t *testing.T) {
	bus := &i2ctest.Record{}
	if _, err := NewSSD1306I2C(bus, Config{Contrast: 0x8F}); err != nil {
		t.Fatal(err)
	}
	ram := newPageRAM(t, ssd1306Params)
	ram.feed(i2cTraffic(t, bus, 0, 0x3C))
	if ram.contrast != 0x8F {
		t.Errorf("contrast %#x, want 0x8f", ram.contrast)
	}
	if _, err := NewSSD1306I2C(&i2ctest.Record{}, Config{Contrast: 256}); err == nil {
		t.Error("contrast 256: no error")
	}
}

// Rotation 180 shows the same picture turned round, whole: the SEG
// direction reversal alone would push it 4 columns off the glass.
func TestST7567Rotation180IsWhole(t *testing.T) {
	show := func(t *testing.T, cfg Config) *pageRAM {
		t.Helper()
		b := newSPIBus()
		d, err := NewST7567(b.port, Pins{DC: b.dc}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Show(qrScreen(time.Minute)); err != nil {
			t.Fatal(err)
		}
		ram := newPageRAM(t, st7567Params)
		ram.feed(b.traffic(0))
		return ram
	}
	up := show(t, Config{}).st7567Glass()
	if got := decodeQR(t, up); got != SampleQR {
		t.Fatalf("rotation 0 decoded %q", got)
	}
	down := show(t, Config{Rotation: 180}).st7567Glass()
	for y := 0; y < 64; y++ {
		for x := 0; x < 128; x++ {
			if up.GrayAt(x, y) != down.GrayAt(127-x, 63-y) {
				t.Fatalf("rotation 180: glass pixel (%d,%d) is not rotation 0's (%d,%d) turned round", 127-x, 63-y, x, y)
			}
		}
	}
	if got := decodeQR(t, down); got != SampleQR {
		t.Fatalf("rotation 180 decoded %q", got)
	}
	// column_offset overrides: 0 at rotation 180 loses the 4 columns.
	zero := 0
	cut := show(t, Config{Rotation: 180, ColumnOffset: &zero}).st7567Glass()
	if string(cut.Pix) == string(down.Pix) {
		t.Error("column_offset 0 at rotation 180 changed nothing")
	}
	for _, bad := range []int{-1, 5} {
		if _, err := NewST7567(newSPIBus().port, Pins{DC: &gpiotest.Pin{N: "DC"}}, Config{ColumnOffset: &bad}); err == nil {
			t.Errorf("column_offset %d: no error", bad)
		}
	}
}

func TestST7567Contrast(t *testing.T) {
	for _, c := range []struct{ cfg, want int }{{0, 40}, {1, 1}, {63, 63}} {
		b := newSPIBus()
		if _, err := NewST7567(b.port, Pins{DC: b.dc}, Config{Contrast: c.cfg}); err != nil {
			t.Fatal(err)
		}
		ram := newPageRAM(t, st7567Params)
		ram.feed(b.traffic(0))
		if ram.contrast != c.want {
			t.Errorf("contrast %d: electronic volume %d, want %d", c.cfg, ram.contrast, c.want)
		}
	}
	// The electronic volume has 6 bits (ST7567 datasheet, 81h).
	if _, err := NewST7567(newSPIBus().port, Pins{DC: &gpiotest.Pin{N: "DC"}}, Config{Contrast: 64}); err == nil {
		t.Error("contrast 64: no error")
	}
}

// modeRecord is a recorded SPI port that notes the mode it is opened in.
type modeRecord struct {
	*spitest.Record
	mode spi.Mode
}

func (p *modeRecord) Connect(f physic.Frequency, m spi.Mode, bits int) (spi.Conn, error) {
	p.mode = m
	return p.Record.Connect(f, m, bits)
}

// windows returns the CASET/RASET window of each RAMWR (MIPI DCS 2Ah, 2Bh,
// 2Ch: start and end, 2 bytes each, big-endian).
func windows(t *testing.T, tr []transfer) []image.Rectangle {
	t.Helper()
	var out []image.Rectangle
	var cmd byte
	var x0, x1, y0, y1 int
	for _, x := range tr {
		if !x.data {
			cmd = x.b[0]
			if cmd == 0x2C {
				out = append(out, image.Rect(x0, y0, x1+1, y1+1))
			}
			continue
		}
		switch cmd {
		case 0x2A, 0x2B:
			if len(x.b) != 4 {
				t.Fatalf("window command %#02x with %d bytes", cmd, len(x.b))
			}
			a, b := int(x.b[0])<<8|int(x.b[1]), int(x.b[2])<<8|int(x.b[3])
			if cmd == 0x2A {
				x0, x1 = a, b
			} else {
				y0, y1 = a, b
			}
		}
	}
	return out
}

// TestTFTConfigSizesOffsetsAndMode opens ST7789 modules of the sizes sold
// by size and mounting through the configuration, and checks the window
// of the first full frame against TFT_eSPI's TFT_Drivers/ST7789_Rotation.h
// (Bodmer/TFT_eSPI @83d4d16, lines 6–139: colstart, rowstart per rotation;
// our rotation 0 and 90 are its rotation 0 and 1), and the SPI mode
// against TFT_eSPI.h lines 130–137 (SPI_MODE3 for ST7789, else SPI_MODE0).
func TestTFTConfigSizesOffsetsAndMode(t *testing.T) {
	iv := func(v int) *int { return &v }
	for _, c := range []struct {
		cfg  Config
		win  image.Rectangle
		mode spi.Mode
	}{
		{Config{Driver: "st7789"}, image.Rect(0, 0, 240, 240), spi.Mode3},
		{Config{Driver: "st7789", Rotation: 180}, image.Rect(0, 80, 240, 320), spi.Mode3},
		{Config{Driver: "st7789", Width: 135, Height: 240}, image.Rect(52, 40, 52+135, 40+240), spi.Mode3},
		{Config{Driver: "st7789", Width: 240, Height: 135}, image.Rect(40, 53, 40+240, 53+135), spi.Mode3},
		{Config{Driver: "st7789", Width: 240, Height: 280}, image.Rect(0, 20, 240, 300), spi.Mode3},
		{Config{Driver: "st7789", Width: 280, Height: 240}, image.Rect(20, 0, 300, 240), spi.Mode3},
		{Config{Driver: "st7789", Width: 172, Height: 320}, image.Rect(34, 0, 34+172, 320), spi.Mode3},
		{Config{Driver: "st7789", Width: 320, Height: 170}, image.Rect(0, 35, 320, 35+170), spi.Mode3},
		{Config{Driver: "st7789", Width: 240, Height: 320, SPIMode: iv(0)}, image.Rect(0, 0, 240, 320), spi.Mode0},
		{Config{Driver: "st7789", Width: 240, Height: 280, OffsetY: iv(0)}, image.Rect(0, 0, 240, 280), spi.Mode3},
		{Config{Driver: "st7789", Width: 240, Height: 280, OffsetX: iv(0), OffsetY: iv(0), Rotation: 180}, image.Rect(0, 40, 240, 320), spi.Mode3},
		{Config{Driver: "ili9341"}, image.Rect(0, 0, 320, 240), spi.Mode0},
		{Config{Driver: "ili9341", SPIMode: iv(3)}, image.Rect(0, 0, 320, 240), spi.Mode3},
	} {
		t.Run(fmt.Sprintf("%s-%dx%d-r%d", c.cfg.Driver, c.cfg.Width, c.cfg.Height, c.cfg.Rotation), func(t *testing.T) {
			b := newSPIBus()
			port := &modeRecord{Record: b.port}
			d, err := NewTFT(port, Pins{DC: b.dc}, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if port.mode != c.mode {
				t.Errorf("SPI %v, want %v", port.mode, c.mode)
			}
			if got := d.dev.Bounds().Size(); got != c.win.Size() && got != image.Pt(c.win.Dy(), c.win.Dx()) {
				t.Fatalf("panel %v, window %v", got, c.win)
			}
			if want := size(c.cfg, 0, 0); want != (image.Point{}) && d.dev.Bounds().Size() != want {
				t.Fatalf("panel %v, configured %v", d.dev.Bounds().Size(), want)
			}
			from := b.ops()
			if err := d.dev.Draw(d.dev.Bounds(), image.White, image.Point{}); err != nil {
				t.Fatal(err)
			}
			w := windows(t, b.traffic(from))
			if len(w) != 1 || w[0] != c.win {
				t.Errorf("first frame windows %v, want %v", w, c.win)
			}
		})
	}
	for _, bad := range []Config{
		{Driver: "st7789", SPIMode: iv(4)},
		{Driver: "st7789", SPIMode: iv(-1)},
		{Driver: "st7789", Width: 240, Height: 280, OffsetY: iv(41)},
	} {
		if _, err := NewTFT(newSPIBus().port, Pins{DC: &gpiotest.Pin{N: "DC"}}, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// The panel keys decode from TOML, and an explicit 0 stays distinguishable
// from an unset key (0 is a real SPI mode and offset).
func TestPanelKeysFromTOML(t *testing.T) {
	var c struct {
		Display []Config `toml:"display"`
	}
	_, err := toml.Decode(`
[[display]]
driver = "st7789"
spi_mode = 0
offset_x = 0
offset_y = 20
[[display]]
driver = "st7567"
column_offset = 0
contrast = 32
[[display]]
driver = "ssd1306-i2c"
width = 128
height = 32
toggle_com_layout = true
`, &c)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Display) != 3 {
		t.Fatalf("decoded %d displays", len(c.Display))
	}
	tft, lcd, oled := c.Display[0], c.Display[1], c.Display[2]
	if tft.SPIMode == nil || *tft.SPIMode != 0 || tft.OffsetX == nil || *tft.OffsetX != 0 || tft.OffsetY == nil || *tft.OffsetY != 20 {
		t.Errorf("st7789 keys: %+v", tft)
	}
	if lcd.ColumnOffset == nil || *lcd.ColumnOffset != 0 || lcd.Contrast != 32 || lcd.SPIMode != nil {
		t.Errorf("st7567 keys: %+v", lcd)
	}
	if !oled.ToggleCOMLayout || oled.Height != 32 {
		t.Errorf("ssd1306 keys: %+v", oled)
	}
}

// tftRAM models the 240×320 frame memory of the ST7789 and ILI9341 from
// their datasheets (ST7789VW 9.1, ILI9341 8.2): CASET/RASET set the window,
// RAMWR fills it row by row with RGB565 pixels (high byte first), and
// MADCTL's MV exchanges the column and row address before MX and MY mirror
// the memory column and row.
type tftRAM struct {
	t              *testing.T
	mem            [320][240]image565.Color
	madctl         byte
	xs, xe, ys, ye int
	cmd            byte
	params         []byte
	c, r           int
	half           []byte
}

func (m *tftRAM) feed(tr []transfer) {
	apply := func() {
		p := m.params
		switch {
		case m.cmd == 0x36 && len(p) == 1:
			m.madctl = p[0]
		case m.cmd == 0x2A && len(p) == 4:
			m.xs, m.xe = int(p[0])<<8|int(p[1]), int(p[2])<<8|int(p[3])
		case m.cmd == 0x2B && len(p) == 4:
			m.ys, m.ye = int(p[0])<<8|int(p[1]), int(p[2])<<8|int(p[3])
		}
	}
	for _, x := range tr {
		if !x.data {
			apply()
			m.cmd, m.params = x.b[0], nil
			if m.cmd == 0x2C {
				m.c, m.r, m.half = m.xs, m.ys, nil
			}
			continue
		}
		if m.cmd != 0x2C {
			m.params = append(m.params, x.b...)
			continue
		}
		buf := append(m.half, x.b...)
		for ; len(buf) >= 2; buf = buf[2:] {
			mc, mr := m.c, m.r
			if m.madctl&0x20 != 0 { // MV
				mc, mr = mr, mc
			}
			if m.madctl&0x40 != 0 { // MX
				mc = 239 - mc
			}
			if m.madctl&0x80 != 0 { // MY
				mr = 319 - mr
			}
			if mc < 0 || mc > 239 || mr < 0 || mr > 319 {
				m.t.Fatalf("pixel outside the frame memory: column %d row %d", mc, mr)
			}
			m.mem[mr][mc] = image565.Color(uint16(buf[0])<<8 | uint16(buf[1]))
			if m.c++; m.c > m.xe {
				m.c = m.xs
				m.r++
			}
		}
		m.half = append([]byte(nil), buf...)
	}
	apply()
}

// glass is what a w×h glass (native, portrait orientation) whose top-left
// pixel is at memory column start.X, row start.Y shows.
func (m *tftRAM) glass(start image.Point, w, h int) *image565.Image {
	img := image565.New(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGB565(x, y, m.mem[start.Y+y][start.X+x])
		}
	}
	return img
}

// TestTFTShowsWholeScreenOnEveryModule replays the traffic of a QR screen
// into the frame-memory model and reads the glass where it sits in the
// memory: at TFT_eSPI's rotation-0 colstart/rowstart (TFT_Drivers/
// ST7789_Rotation.h, Bodmer/TFT_eSPI @83d4d16, lines 6–38; rotation 0 sends
// MADCTL 0, so they are the glass's own memory position). The glass must
// show the rendered screen turned by the rotation, every pixel, and the QR
// code must decode from it.
func TestTFTShowsWholeScreenOnEveryModule(t *testing.T) {
	for _, c := range []struct {
		cfg    Config
		native image.Point
		start  image.Point
		rot    int
	}{
		{Config{Driver: "st7789"}, image.Pt(240, 240), image.Pt(0, 0), 0},
		{Config{Driver: "st7789", Rotation: 180}, image.Pt(240, 240), image.Pt(0, 0), 180},
		{Config{Driver: "st7789", Width: 240, Height: 320, Rotation: 270}, image.Pt(240, 320), image.Pt(0, 0), 270},
		{Config{Driver: "st7789", Width: 240, Height: 135}, image.Pt(135, 240), image.Pt(52, 40), 90},
		{Config{Driver: "st7789", Width: 240, Height: 135, Rotation: 180}, image.Pt(135, 240), image.Pt(52, 40), 270},
		{Config{Driver: "st7789", Width: 240, Height: 280}, image.Pt(240, 280), image.Pt(0, 20), 0},
		{Config{Driver: "st7789", Width: 320, Height: 172}, image.Pt(172, 320), image.Pt(34, 0), 90},
		{Config{Driver: "st7789", Width: 170, Height: 320, Rotation: 180}, image.Pt(170, 320), image.Pt(35, 0), 180},
	} {
		t.Run(fmt.Sprintf("%dx%d-r%d", c.cfg.Width, c.cfg.Height, c.cfg.Rotation), func(t *testing.T) {
			b := newSPIBus()
			d, err := NewTFT(b.port, Pins{DC: b.dc}, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := qrScreen(time.Minute)
			if err := d.Show(s); err != nil {
				t.Fatal(err)
			}
			var r Renderer
			img, err := r.Render(s, d.opts)
			if err != nil {
				t.Fatal(err)
			}
			want := img.(*image565.Image)
			m := &tftRAM{t: t}
			m.feed(b.traffic(0))
			g := m.glass(c.start, c.native.X, c.native.Y)
			wl, hl := want.Rect.Dx(), want.Rect.Dy()
			for y := 0; y < hl; y++ {
				for x := 0; x < wl; x++ {
					// Where (x, y) of the picture lands on the glass when
					// the picture is turned clockwise by rot.
					gx, gy := x, y
					switch c.rot {
					case 90:
						gx, gy = hl-1-y, x
					case 180:
						gx, gy = wl-1-x, hl-1-y
					case 270:
						gx, gy = y, wl-1-x
					}
					if g.RGB565At(gx, gy) != want.RGB565At(x, y) {
						t.Fatalf("picture pixel (%d,%d) is not on the glass at (%d,%d)", x, y, gx, gy)
					}
				}
			}
			if got := decodeQR(t, g); got != SampleQR {
				t.Fatalf("decoded %q", got)
			}
		})
	}
}
