package st7567

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/skip2/go-qrcode"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"
	"periph.io/x/devices/v3/ssd1306/image1bit"
)

// bus is a recorded SPI port with a DC pin whose level is noted against the
// transfer it precedes, so the traffic splits into instructions and display
// data exactly as the controller's A0 input sees it.
type bus struct {
	port *spitest.Record
	dc   *levelPin
	rst  *levelPin
	// log is the order of reset pin changes and waits.
	mu  sync.Mutex
	log []string
}

// levelPin is a gpiotest.Pin that notes each level with the number of SPI
// transfers before it.
type levelPin struct {
	gpiotest.Pin
	b     *bus
	marks []mark
}

type mark struct {
	at    int
	level gpio.Level
}

func (p *levelPin) Out(l gpio.Level) error {
	p.b.port.Lock()
	n := len(p.b.port.Ops)
	p.b.port.Unlock()
	p.b.mu.Lock()
	p.marks = append(p.marks, mark{n, l})
	p.b.log = append(p.b.log, fmt.Sprintf("%s %s after %d transfers", p.N, l, n))
	p.b.mu.Unlock()
	return p.Pin.Out(l)
}

func newBus() *bus {
	b := &bus{port: &spitest.Record{}}
	b.dc = &levelPin{Pin: gpiotest.Pin{N: "DC"}, b: b}
	b.rst = &levelPin{Pin: gpiotest.Pin{N: "RST"}, b: b}
	return b
}

// transfer is one SPI write: instructions (A0 low) or display data (A0 high).
type transfer struct {
	data bool
	b    []byte
}

func (b *bus) ops() int {
	b.port.Lock()
	defer b.port.Unlock()
	return len(b.port.Ops)
}

func (b *bus) traffic(from int) []transfer {
	b.port.Lock()
	defer b.port.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []transfer
	for i := from; i < len(b.port.Ops); i++ {
		level := gpio.Level(false)
		seen := false
		for _, m := range b.dc.marks {
			if m.at <= i {
				level, seen = m.level, true
			}
		}
		if !seen {
			panic("SPI transfer before DC was driven")
		}
		out = append(out, transfer{level == gpio.High, b.port.Ops[i].W})
	}
	return out
}

func (x transfer) String() string {
	if x.data {
		return fmt.Sprintf("data %x", x.b)
	}
	return fmt.Sprintf("cmd %x", x.b)
}

func wire(tr []transfer) int {
	n := 0
	for _, x := range tr {
		n += len(x.b)
	}
	return n
}

// noSleep records the driver's waits instead of waiting.
func noSleep(t *testing.T, b *bus) {
	old := sleep
	sleep = func(d time.Duration) {
		b.mu.Lock()
		b.log = append(b.log, "wait "+d.String())
		b.mu.Unlock()
	}
	t.Cleanup(func() { sleep = old })
}

func open(t *testing.T, o Opts) (*Dev, *bus) {
	t.Helper()
	b := newBus()
	noSleep(t, b)
	d, err := New(b.port, b.dc, b.rst, &o)
	if err != nil {
		t.Fatal(err)
	}
	return d, b
}

// controller is a model of the ST7567 written from the datasheet's
// instruction table (section 9), independent of the driver: it decodes every
// instruction by its bit pattern and fails on any byte the table does not
// define, and it keeps the 9 pages × 132 columns of display data RAM.
type controller struct {
	t    *testing.T
	ram  [9][132]byte
	page int
	col  int

	on, allOn, inverse bool
	segReverse         bool
	comReverse         bool
	bias               string
	startLine          int
	power              byte // VB VR VF
	ratio              byte
	volume             int
	wantVolume         bool // 0x81 seen, the EV byte follows

	// written counts the data bytes per page since the last take.
	written [9]int
	spans   [9][2]int // first and last column written per page
}

func newController(t *testing.T) *controller {
	c := &controller{t: t, volume: -1}
	c.resetSpans()
	return c
}

func (c *controller) resetSpans() {
	for p := range c.spans {
		c.written[p] = 0
		c.spans[p] = [2]int{-1, -1}
	}
}

func (c *controller) feed(tr []transfer) {
	c.t.Helper()
	for _, x := range tr {
		for _, v := range x.b {
			if x.data {
				c.write(v)
			} else {
				c.instruction(v)
			}
		}
	}
}

func (c *controller) write(v byte) {
	c.t.Helper()
	if c.wantVolume {
		c.t.Fatalf("display data %#02x where the electronic volume byte belongs", v)
	}
	if c.page > 8 || c.col > 131 {
		c.t.Fatalf("display data written at page %d column %d, outside the 9×132 RAM", c.page, c.col)
	}
	c.ram[c.page][c.col] = v
	if c.spans[c.page][0] < 0 {
		c.spans[c.page][0] = c.col
	}
	c.spans[c.page][1] = c.col
	c.written[c.page]++
	c.col++ // the column address increments after each write
}

func (c *controller) instruction(v byte) {
	c.t.Helper()
	if c.wantVolume {
		if v > 63 {
			c.t.Fatalf("electronic volume %d, the register has 6 bits", v)
		}
		c.volume, c.wantVolume = int(v), false
		return
	}
	switch {
	case v == 0xAE || v == 0xAF: // display OFF/ON
		c.on = v&1 == 1
	case v&0xC0 == 0x40: // 01xxxxxx: set start line
		c.startLine = int(v & 0x3F)
	case v&0xF0 == 0xB0: // 1011xxxx: set page address 0–8
		if v&0x0F > 8 {
			c.t.Fatalf("page address %d, the RAM has pages 0–8", v&0x0F)
		}
		c.page = int(v & 0x0F)
	case v&0xF0 == 0x10: // 0001xxxx: column address, upper 4 bits
		c.col = c.col&0x0F | int(v&0x0F)<<4
	case v&0xF0 == 0x00: // 0000xxxx: column address, lower 4 bits
		c.col = c.col&0xF0 | int(v&0x0F)
	case v == 0xA0 || v == 0xA1: // SEG direction
		c.segReverse = v&1 == 1
	case v == 0xA6 || v == 0xA7: // inverse display
		c.inverse = v&1 == 1
	case v == 0xA4 || v == 0xA5: // all pixels ON
		c.allOn = v&1 == 1
	case v == 0xA2: // bias select
		c.bias = "1/9"
	case v == 0xA3:
		c.bias = "1/7"
	case v == 0xC0 || v == 0xC8: // COM direction
		c.comReverse = v&0x08 != 0
	case v&0xF8 == 0x28: // 00101xxx: power control VB VR VF
		c.power = v & 7
	case v&0xF8 == 0x20: // 00100xxx: regulation ratio
		c.ratio = v & 7
	case v == 0x81: // set EV, two bytes
		c.wantVolume = true
	default: // read-modify-write, reset, booster, NOP, test: not expected
		c.t.Fatalf("unexpected instruction %#02x", v)
	}
}

// image is the first 128 columns and 64 rows of the RAM as the glass shows
// them in normal display mode: a set bit is a dark dot.
func (c *controller) image() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, Width, Height))
	for y := 0; y < Height; y++ {
		for x := 0; x < Width; x++ {
			if c.ram[y/8][x]>>(y%8)&1 == 0 {
				img.SetGray(x, y, color.Gray{0xFF})
			}
		}
	}
	return img
}

// equal reports the first pixel where the glass differs from the picture
// (image1bit.On is light).
func equal(got *image.Gray, want *image1bit.VerticalLSB) error {
	for y := 0; y < Height; y++ {
		for x := 0; x < Width; x++ {
			light := got.GrayAt(x, y).Y == 0xFF
			if light != bool(want.BitAt(x, y)) {
				return fmt.Errorf("pixel (%d,%d) light=%v, want %v", x, y, light, !light)
			}
		}
	}
	return nil
}

func TestInitSequence(t *testing.T) {
	d, b := open(t, DefaultOpts)
	// The module's settings, instruction by instruction (datasheet section 9),
	// in the order periph's st7567 driver sends them.
	want := []transfer{{false, []byte{
		0xA3,       // bias select: 1/7
		0xA0,       // SEG direction normal: column 0 drives SEG0
		0xC8,       // COM direction reverse
		0xA6,       // inverse display off
		0x40,       // start line 0
		0x2F,       // power control: booster, regulator and follower on
		0x23,       // regulation ratio 3
		0xAF,       // display ON
		0x81, 0x28, // electronic volume 40
	}}}
	got := b.traffic(0)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("init sent\n%v\nwant\n%v", got, want)
	}
	// The reset pulse comes before the first instruction.
	wantLog := []string{"RST Low after 0 transfers", "wait 50ms", "RST High after 0 transfers", "wait 50ms", "DC Low after 0 transfers"}
	if fmt.Sprint(b.log) != fmt.Sprint(wantLog) {
		t.Errorf("reset and DC:\n%q\nwant\n%q", b.log, wantLog)
	}
	c := newController(t)
	c.feed(got)
	if !c.on || c.allOn || c.inverse || c.segReverse || !c.comReverse || c.bias != "1/7" || c.power != 7 || c.ratio != 3 || c.volume != 40 || c.startLine != 0 {
		t.Errorf("controller state after init: %+v", c)
	}
	if d.String() != "st7567" || d.Bounds() != image.Rect(0, 0, 128, 64) || d.ColorModel() != image1bit.BitModel {
		t.Errorf("drawer: %s %v %v", d, d.Bounds(), d.ColorModel())
	}
}

func TestInitSequenceOpts(t *testing.T) {
	o := Opts{Bias: Bias19, SegmentDirection: SegmentDirReverse, CommonDirection: CommonDirNormal, Display: DisplayInverse, RegulationRatio: 5, StartLine: 63, Contrast: 63, Clock: 4 * physic.MegaHertz}
	b := newBus()
	noSleep(t, b)
	// No reset pin: nothing but instructions.
	if _, err := New(b.port, b.dc, nil, &o); err != nil {
		t.Fatal(err)
	}
	want := []byte{0xA2, 0xA1, 0xC0, 0xA7, 0x40 | 63, 0x2F, 0x20 | 5, 0xAF, 0x81, 63}
	got := b.traffic(0)
	if len(got) != 1 || got[0].data || fmt.Sprint(got[0].b) != fmt.Sprint(want) {
		t.Fatalf("init sent %v, want %x", got, want)
	}
	if len(b.log) != 1 {
		t.Errorf("without RST: %q", b.log)
	}
	c := newController(t)
	c.feed(got)
	if c.bias != "1/9" || !c.segReverse || c.comReverse || !c.inverse || c.ratio != 5 || c.startLine != 63 || c.volume != 63 {
		t.Errorf("controller state: %+v", c)
	}
}

func TestBadOpts(t *testing.T) {
	bad := map[string]func(o *Opts){
		"bias":      func(o *Opts) { o.Bias = 0 },
		"segment":   func(o *Opts) { o.SegmentDirection = 0xA2 },
		"common":    func(o *Opts) { o.CommonDirection = 0 },
		"display":   func(o *Opts) { o.Display = 0 },
		"ratio":     func(o *Opts) { o.RegulationRatio = 8 },
		"startline": func(o *Opts) { o.StartLine = 64 },
		"contrast":  func(o *Opts) { o.Contrast = 64 },
		"offset":    func(o *Opts) { o.ColumnOffset = 5 },
		"negoffset": func(o *Opts) { o.ColumnOffset = -1 },
	}
	for name, f := range bad {
		t.Run(name, func(t *testing.T) {
			o := DefaultOpts
			f(&o)
			b := newBus()
			_, err := New(b.port, b.dc, nil, &o)
			if err == nil || err.Error()[:8] != "st7567: " {
				t.Fatalf("err = %v", err)
			}
			if b.ops() != 0 {
				t.Error("bad options reached the bus")
			}
		})
	}
	b := newBus()
	if _, err := New(b.port, nil, nil, &DefaultOpts); err == nil {
		t.Error("no DC: no error")
	}
	if _, err := New(b.port, gpio.INVALID, nil, &DefaultOpts); err == nil {
		t.Error("DC INVALID: no error")
	}
	if _, err := New(b.port, b.dc, nil, nil); err == nil {
		t.Error("nil Opts: no error")
	}
	d, _ := open(t, DefaultOpts)
	if err := d.SetContrast(64); err == nil {
		t.Error("contrast 64: no error")
	}
}

// qrPicture draws a scannable QR code (2 px per module) on the left and a
// few text-like bars on the right, light background: image1bit.On.
func qrPicture(t *testing.T, text string) *image1bit.VerticalLSB {
	t.Helper()
	q, err := qrcode.New(text, qrcode.Low)
	if err != nil {
		t.Fatal(err)
	}
	img := image1bit.NewVerticalLSB(image.Rect(0, 0, Width, Height))
	for y := 0; y < Height; y++ {
		for x := 0; x < Width; x++ {
			img.SetBit(x, y, image1bit.On)
		}
	}
	bm := q.Bitmap() // with its quiet zone
	if 2*len(bm) > Height {
		t.Fatalf("QR of %d modules does not fit", len(bm))
	}
	for my, row := range bm {
		for mx, dark := range row {
			if dark {
				for i := 0; i < 4; i++ {
					img.SetBit(3+2*mx+i%2, 3+2*my+i/2, image1bit.Off)
				}
			}
		}
	}
	for x := 70; x < 120; x++ {
		for _, y := range []int{10, 11, 30, 31, 50} {
			if x%7 != 0 {
				img.SetBit(x, y, image1bit.Off)
			}
		}
	}
	return img
}

func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("gozxing bitmap: %v", err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("gozxing could not decode the QR code from the controller's RAM: %v", err)
	}
	return res.GetText()
}

// digit draws a 5×9 block pattern standing for countdown digit n at (x, y).
func digit(img *image1bit.VerticalLSB, x, y, n int) {
	for dy := 0; dy < 9; dy++ {
		for dx := 0; dx < 5; dx++ {
			bit := image1bit.On
			if (dx*3+dy*5+n*7)%4 == 0 {
				bit = image1bit.Off
			}
			img.SetBit(x+dx, y+dy, bit)
		}
	}
}

func TestFullFrameThenTick(t *testing.T) {
	const payload = "upay:T1-42/12.50"
	d, b := open(t, DefaultOpts)
	c := newController(t)
	c.feed(b.traffic(0))

	frame := qrPicture(t, payload)
	digit(frame, 100, 52, 9)
	from := b.ops()
	if err := d.Draw(d.Bounds(), frame, image.Point{}); err != nil {
		t.Fatal(err)
	}
	full := b.traffic(from)
	c.resetSpans()
	c.feed(full)
	if err := equal(c.image(), frame); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	if got := decodeQR(t, c.image()); got != payload {
		t.Fatalf("decoded %q", got)
	}
	// The first frame is sent whole: 8 pages of 128 columns.
	for p := 0; p < 8; p++ {
		if c.written[p] != 128 || c.spans[p] != [2]int{0, 127} {
			t.Errorf("first frame, page %d: %d bytes over %v", p, c.written[p], c.spans[p])
		}
	}
	if n := wire(full); n != 8*(3+128) {
		t.Errorf("first frame %d bytes on the wire, want 8×(3+128)", n)
	}

	// A countdown tick: the digit at x 100–104, rows 52–60 (pages 6 and 7).
	next := qrPicture(t, payload)
	digit(next, 100, 52, 8)
	from = b.ops()
	if err := d.Draw(d.Bounds(), next, image.Point{}); err != nil {
		t.Fatal(err)
	}
	tick := b.traffic(from)
	c.resetSpans()
	c.feed(tick)
	if err := equal(c.image(), next); err != nil {
		t.Fatalf("after tick: %v", err)
	}
	if got := decodeQR(t, c.image()); got != payload {
		t.Fatalf("after tick decoded %q", got)
	}
	// Independently of the driver: the columns whose bytes changed, per page.
	for p := 0; p < 8; p++ {
		lo, hi := -1, -1
		for x := 0; x < Width; x++ {
			if frame.Pix[p*frame.Stride+x] != next.Pix[p*next.Stride+x] {
				if lo < 0 {
					lo = x
				}
				hi = x
			}
		}
		if c.spans[p] != [2]int{lo, hi} || (lo >= 0 && c.written[p] != hi-lo+1) {
			t.Errorf("tick, page %d: wrote %d bytes over %v, changed columns %d–%d", p, c.written[p], c.spans[p], lo, hi)
		}
	}
	// Each changed page costs one address (3 instruction bytes) and its span.
	if len(tick) == 0 || len(tick)%2 != 0 {
		t.Fatalf("tick traffic %v", tick)
	}
	for i := 0; i < len(tick); i += 2 {
		if tick[i].data || len(tick[i].b) != 3 || !tick[i+1].data {
			t.Errorf("tick transfer %d: %v", i, tick[i:i+2])
		}
	}
	if n := wire(tick); n*10 > wire(full) {
		t.Errorf("tick sent %d bytes, more than 10%% of the full frame's %d", n, wire(full))
	}
	t.Logf("full frame %d bytes, tick %d bytes (%.3f)", wire(full), wire(tick), float64(wire(tick))/float64(wire(full)))

	// The same frame again sends nothing.
	from = b.ops()
	if err := d.Draw(d.Bounds(), next, image.Point{}); err != nil {
		t.Fatal(err)
	}
	if tr := b.traffic(from); len(tr) != 0 {
		t.Errorf("unchanged frame sent %v", tr)
	}
}

func TestHaltThenFullRedraw(t *testing.T) {
	d, b := open(t, DefaultOpts)
	c := newController(t)
	frame := qrPicture(t, "halt")
	if err := d.Draw(d.Bounds(), frame, image.Point{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	c.feed(b.traffic(0))
	// Display OFF then all pixels ON: the power save (sleep) mode.
	if c.on || !c.allOn {
		t.Errorf("after Halt: display on %v, all pixels on %v", c.on, c.allOn)
	}
	from := b.ops()
	if err := d.Draw(d.Bounds(), frame, image.Point{}); err != nil {
		t.Fatal(err)
	}
	c.resetSpans()
	c.feed(b.traffic(from))
	if !c.on || c.allOn {
		t.Errorf("Draw after Halt did not wake the display: on %v, all pixels on %v", c.on, c.allOn)
	}
	for p := 0; p < 8; p++ {
		if c.written[p] != 128 {
			t.Errorf("after Halt, page %d: %d bytes, want the whole page", p, c.written[p])
		}
	}
	if err := equal(c.image(), frame); err != nil {
		t.Fatal(err)
	}
}

// TestRandomFrames draws a seeded series of frames, each changing a few
// random rectangles, some through the generic (non-VerticalLSB, partial
// rectangle) path: the model's RAM must equal the picture after every Draw
// and each page must be written exactly over its changed columns.
func TestRandomFrames(t *testing.T) {
	d, b := open(t, DefaultOpts)
	c := newController(t)
	c.feed(b.traffic(0))
	rng := rand.New(rand.NewSource(7567))
	// Before the first Draw the picture is blank (light).
	want := image1bit.NewVerticalLSB(d.Bounds())
	for j := range want.Pix {
		want.Pix[j] = 0xFF
	}
	first := true
	for i := 0; i < 300; i++ {
		prev := append([]byte(nil), want.Pix...)
		from := b.ops()
		var err error
		r := image.Rect(rng.Intn(Width), rng.Intn(Height), rng.Intn(Width+1), rng.Intn(Height+1)).Canon()
		if i%3 == 0 {
			// Through image.Gray, drawing r only, from an offset source.
			src := image.NewGray(image.Rect(0, 0, Width+10, Height+10))
			for j := range src.Pix {
				src.Pix[j] = byte(rng.Intn(256))
			}
			sp := image.Pt(rng.Intn(10), rng.Intn(10))
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					want.SetBit(x, y, src.GrayAt(x-r.Min.X+sp.X, y-r.Min.Y+sp.Y).Y >= 0x80)
				}
			}
			err = d.Draw(r, src, sp)
		} else {
			for n := rng.Intn(3); n >= 0; n-- {
				s := image.Rect(rng.Intn(Width), rng.Intn(Height), rng.Intn(Width+1), rng.Intn(Height+1)).Canon()
				bit := image1bit.Bit(rng.Intn(2) == 0)
				for y := s.Min.Y; y < s.Max.Y; y++ {
					for x := s.Min.X; x < s.Max.X; x++ {
						want.SetBit(x, y, bit)
					}
				}
			}
			frame := image1bit.NewVerticalLSB(d.Bounds())
			copy(frame.Pix, want.Pix)
			err = d.Draw(d.Bounds(), frame, image.Point{})
		}
		if err != nil {
			t.Fatal(err)
		}
		c.resetSpans()
		c.feed(b.traffic(from))
		if err := equal(c.image(), want); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if first {
			first = false
			continue
		}
		for p := 0; p < 8; p++ {
			lo, hi := -1, -1
			for x := 0; x < Width; x++ {
				if prev[p*Width+x] != want.Pix[p*Width+x] {
					if lo < 0 {
						lo = x
					}
					hi = x
				}
			}
			if c.spans[p] != [2]int{lo, hi} {
				t.Fatalf("frame %d page %d: wrote columns %v, changed %d–%d", i, p, c.spans[p], lo, hi)
			}
		}
	}
}

// flakyPort is a recorded SPI port whose transfers fail while fail is set,
// as a loose connector would.
type flakyPort struct {
	*spitest.Record
	mu   sync.Mutex
	fail bool
}

type flakyConn struct {
	spi.Conn
	p *flakyPort
}

func (p *flakyPort) Connect(f physic.Frequency, m spi.Mode, bits int) (spi.Conn, error) {
	c, err := p.Record.Connect(f, m, bits)
	return &flakyConn{c, p}, err
}

func (p *flakyPort) setFail(v bool) {
	p.mu.Lock()
	p.fail = v
	p.mu.Unlock()
}

func (c *flakyConn) Tx(w, r []byte) error {
	c.p.mu.Lock()
	fail := c.p.fail
	c.p.mu.Unlock()
	if fail {
		return errors.New("spi: transfer failed")
	}
	return c.Conn.Tx(w, r)
}

// After a failed transfer the RAM is unknown: the next frame goes whole.
func TestBusErrorResendsWholeFrame(t *testing.T) {
	b := newBus()
	noSleep(t, b)
	port := &flakyPort{Record: b.port}
	d, err := New(port, b.dc, nil, &DefaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	c := newController(t)
	frame := qrPicture(t, "flaky")
	if err := d.Draw(d.Bounds(), frame, image.Point{}); err != nil {
		t.Fatal(err)
	}
	c.feed(b.traffic(0))
	next := qrPicture(t, "flaky")
	digit(next, 100, 52, 3)
	port.setFail(true)
	if err := d.Draw(d.Bounds(), next, image.Point{}); err == nil || err.Error()[:8] != "st7567: " {
		t.Fatalf("failed transfer: err = %v", err)
	}
	port.setFail(false)
	from := b.ops()
	if err := d.Draw(d.Bounds(), next, image.Point{}); err != nil {
		t.Fatal(err)
	}
	c.resetSpans()
	c.feed(b.traffic(from))
	for p := 0; p < 8; p++ {
		if c.written[p] != 128 {
			t.Errorf("after a bus error, page %d: %d bytes, want the whole page", p, c.written[p])
		}
	}
	if err := equal(c.image(), next); err != nil {
		t.Fatal(err)
	}
}

// With ColumnOffset 4 the picture lands in RAM columns 4–131, the columns a
// glass on SEG0–127 shows when the SEG direction is reversed.
func TestColumnOffset(t *testing.T) {
	o := DefaultOpts
	o.SegmentDirection, o.CommonDirection, o.ColumnOffset = SegmentDirReverse, CommonDirNormal, 4
	d, b := open(t, o)
	c := newController(t)
	frame := qrPicture(t, "offset")
	if err := d.Draw(d.Bounds(), frame, image.Point{}); err != nil {
		t.Fatal(err)
	}
	next := qrPicture(t, "offset")
	digit(next, 120, 52, 1)
	if err := d.Draw(d.Bounds(), next, image.Point{}); err != nil {
		t.Fatal(err)
	}
	c.feed(b.traffic(0))
	for p := 0; p < 8; p++ {
		for x := 0; x < 132; x++ {
			got := c.ram[p][x]
			want := byte(0) // never written
			if x >= 4 {
				want = ^next.Pix[p*next.Stride+x-4]
			}
			if got != want {
				t.Fatalf("page %d RAM column %d = %#02x, want %#02x", p, x, got, want)
			}
		}
	}
}
