package tft

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"posagent/display/image565"
)

// bus is a recorded SPI port plus a DC pin whose level is noted against the
// SPI transfer it precedes, so that the traffic can be split into commands
// and data exactly as the controller would.
type bus struct {
	port *spitest.Record
	dc   *dcPin
}

type dcPin struct {
	gpiotest.Pin
	port *spitest.Record
	mu   sync.Mutex
	// marks[i] is the DC level for transfers from index at onwards.
	marks []mark
}

type mark struct {
	at    int
	level gpio.Level
}

func (p *dcPin) Out(l gpio.Level) error {
	p.port.Lock()
	n := len(p.port.Ops)
	p.port.Unlock()
	p.mu.Lock()
	p.marks = append(p.marks, mark{n, l})
	p.mu.Unlock()
	return p.Pin.Out(l)
}

func newBus() *bus {
	port := &spitest.Record{}
	return &bus{port: port, dc: &dcPin{Pin: gpiotest.Pin{N: "DC"}, port: port}}
}

// txn is one transfer as the controller sees it.
type txn struct {
	data bool // DC high
	b    []byte
}

// traffic returns the transfers from index from on.
func (b *bus) traffic(from int) []txn {
	b.port.Lock()
	defer b.port.Unlock()
	var out []txn
	for i, op := range b.port.Ops {
		level := gpio.Low
		for _, m := range b.dc.marks {
			if m.at <= i {
				level = m.level
			}
		}
		if i >= from {
			out = append(out, txn{data: level == gpio.High, b: op.W})
		}
	}
	return out
}

func (b *bus) ops() int {
	b.port.Lock()
	defer b.port.Unlock()
	return len(b.port.Ops)
}

// panel is an independent model of the controller, written from the
// datasheets' command descriptions: it keeps the 240×320 frame memory and
// applies CASET/RASET/RAMWR with MADCTL's MV/MX/MY address mapping.
type panel struct {
	t        *testing.T
	ram      [ramH][ramW]uint16
	madctl   byte
	colmod   byte
	awake    bool
	on       bool
	xs, xe   int
	ys, ye   int
	cmds     []cmdRec // every command with its parameters, RAMWR data left out
	windows  []image.Rectangle
	pixBytes int
}

type cmdRec struct {
	cmd    byte
	params []byte
}

func (p *panel) String() string { return fmt.Sprintf("%x", p.cmds) }

func (p *panel) feed(tx []txn) {
	var cur *cmdRec
	var c, r int
	var half []byte
	writing := false
	flush := func() {
		if cur == nil {
			return
		}
		switch cur.cmd {
		case cmdSWRESET:
			p.awake, p.on, p.madctl = false, false, 0
		case cmdSLPOUT:
			p.awake = true
		case cmdDISPON:
			p.on = true
		case cmdDISPOFF:
			p.on = false
		case cmdMADCTL:
			p.madctl = cur.params[0]
		case cmdCOLMOD:
			p.colmod = cur.params[0]
		case cmdCASET:
			p.xs, p.xe = int(cur.params[0])<<8|int(cur.params[1]), int(cur.params[2])<<8|int(cur.params[3])
		case cmdRASET:
			p.ys, p.ye = int(cur.params[0])<<8|int(cur.params[1]), int(cur.params[2])<<8|int(cur.params[3])
		}
	}
	for _, t := range tx {
		if !t.data {
			if len(t.b) != 1 {
				p.t.Fatalf("command transfer of %d bytes", len(t.b))
			}
			flush()
			if len(half) != 0 {
				p.t.Fatalf("RAMWR ended in the middle of a pixel")
			}
			cur = &cmdRec{cmd: t.b[0]}
			p.cmds = append(p.cmds, *cur)
			writing = cur.cmd == cmdRAMWR
			if writing {
				if !p.awake || p.colmod != 0x55 {
					p.t.Fatalf("RAMWR while asleep or not in RGB565 mode (COLMOD %#x)", p.colmod)
				}
				c, r = p.xs, p.ys
				p.windows = append(p.windows, image.Rect(p.xs, p.ys, p.xe+1, p.ye+1))
			}
			continue
		}
		if cur == nil {
			p.t.Fatal("data before any command")
		}
		if !writing {
			cur.params = append(cur.params, t.b...)
			p.cmds[len(p.cmds)-1].params = cur.params
			continue
		}
		p.pixBytes += len(t.b)
		buf := append(half, t.b...)
		for len(buf) >= 2 {
			p.put(c, r, uint16(buf[0])<<8|uint16(buf[1]))
			buf = buf[2:]
			c++
			if c > p.xe {
				c = p.xs
				r++
			}
		}
		half = append([]byte(nil), buf...)
	}
	flush()
}

// put stores a pixel at logical address (col, row): MV exchanges them, then
// MX and MY mirror the memory column and row.
func (p *panel) put(col, row int, v uint16) {
	mc, mr := col, row
	if p.madctl&madMV != 0 {
		mc, mr = row, col
	}
	if p.madctl&madMX != 0 {
		mc = ramW - 1 - mc
	}
	if p.madctl&madMY != 0 {
		mr = ramH - 1 - mr
	}
	if mc < 0 || mc >= ramW || mr < 0 || mr >= ramH {
		p.t.Fatalf("pixel outside the frame memory: col %d row %d", mc, mr)
	}
	p.ram[mr][mc] = v
}

// native returns what the module shows in its native orientation.
func (p *panel) native(w, h int) *image565.Image {
	img := image565.New(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGB565(x, y, image565.Color(p.ram[y][x]))
		}
	}
	return img
}

// rotateCW returns img turned clockwise by deg: what a viewer of the
// module in its native orientation sees of a picture drawn at that rotation.
func rotateCW(img *image565.Image, deg int) *image565.Image {
	out := img
	for ; deg > 0; deg -= 90 {
		b := out.Rect
		n := image565.New(image.Rect(0, 0, b.Dy(), b.Dx()))
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				// (x, y) moves to (H-1-y, x) when turned clockwise.
				n.SetRGB565(b.Dy()-1-y, x, out.RGB565At(x, y))
			}
		}
		out = n
	}
	return out
}

// testImage is asymmetric so any wrong rotation or mirror shows.
func testImage(r image.Rectangle) *image565.Image {
	img := image565.New(r)
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			img.SetRGB565(x, y, image565.Color(uint16(x*7+y*13)|uint16(x&1)<<15))
		}
	}
	// A red block in the top-left corner.
	for y := 0; y < 10; y++ {
		for x := 0; x < 20; x++ {
			img.Set(x, y, color.RGBA{0xff, 0, 0, 0xff})
		}
	}
	return img
}

type delay struct {
	after int // transfers recorded before the pause
	d     time.Duration
}

func open(t *testing.T, o Opts) (*Dev, *bus, *[]delay) {
	t.Helper()
	b := newBus()
	var delays []delay
	old := sleep
	sleep = func(d time.Duration) { delays = append(delays, delay{b.ops(), d}) }
	t.Cleanup(func() { sleep = old })
	rst := &gpiotest.Pin{N: "RST"}
	bl := &gpiotest.Pin{N: "BL"}
	d, err := New(b.port, b.dc, rst, bl, &o)
	if err != nil {
		t.Fatal(err)
	}
	if rst.Read() != gpio.High || bl.Read() != gpio.High {
		t.Fatalf("after init RST=%v BL=%v, want both high", rst.Read(), bl.Read())
	}
	return d, b, &delays
}

// parseTable reads an init table in the format Adafruit's and TinyGo's
// drivers store it: command, argument count (bit 7: a delay follows in
// Adafruit's ST77xx tables and means "wait 150 ms" in the ILI9341 ones),
// arguments.
func parseTable(t *testing.T, tab []byte, delayByte bool) []cmdRec {
	t.Helper()
	var out []cmdRec
	for len(tab) > 0 {
		if len(tab) < 2 {
			t.Fatalf("table cut short: %x", tab)
		}
		cmd, n := tab[0], int(tab[1]&0x7F)
		delayed := tab[1]&0x80 != 0
		tab = tab[2:]
		out = append(out, cmdRec{cmd, append([]byte(nil), tab[:n]...)})
		tab = tab[n:]
		if delayed && delayByte {
			tab = tab[1:]
		}
	}
	return out
}

// adafruitILI9341 is initcmd[] of Adafruit_ILI9341.cpp (adafruit/
// Adafruit_ILI9341 @70abdc1, lines 152–178), the end marker left out. TinyGo's
// ili9341/ili9341.go (tinygo-org/drivers @1bf1a11, lines 40–63 and 117–125)
// sends the same bytes, with INVON before SLPOUT when DisplayInversion is
// set. Both send SWRESET first when the module has no reset pin (Adafruit
// lines 194–197, TinyGo lines 111–115).
var adafruitILI9341 = []byte{
	0xEF, 3, 0x03, 0x80, 0x02,
	0xCF, 3, 0x00, 0xC1, 0x30,
	0xED, 4, 0x64, 0x03, 0x12, 0x81,
	0xE8, 3, 0x85, 0x00, 0x78,
	0xCB, 5, 0x39, 0x2C, 0x00, 0x34, 0x02,
	0xF7, 1, 0x20,
	0xEA, 2, 0x00, 0x00,
	0xC0, 1, 0x23,
	0xC1, 1, 0x10,
	0xC5, 2, 0x3e, 0x28,
	0xC7, 1, 0x86,
	0x36, 1, 0x48,
	0x37, 1, 0x00,
	0x3A, 1, 0x55,
	0xB1, 2, 0x00, 0x18,
	0xB6, 3, 0x08, 0x82, 0x27,
	0xF2, 1, 0x00,
	0x26, 1, 0x01,
	0xE0, 15, 0x0F, 0x31, 0x2B, 0x0C, 0x0E, 0x08,
	0x4E, 0xF1, 0x37, 0x07, 0x10, 0x03, 0x0E, 0x09, 0x00,
	0xE1, 15, 0x00, 0x0E, 0x14, 0x03, 0x11, 0x07,
	0x31, 0xC1, 0x48, 0x08, 0x0F, 0x0C, 0x31, 0x36, 0x0F,
	0x11, 0x80,
	0x29, 0x80,
}

// adafruitST7789 is generic_st7789[] of Adafruit_ST7789.cpp (adafruit/
// Adafruit-ST7735-Library @62112b9, lines 51–77), the command count and
// delay bytes taken out by parseTable.
var adafruitST7789 = []byte{
	0x01, 0x80, 150,
	0x11, 0x80, 10,
	0x3A, 1 | 0x80, 0x55, 10,
	0x36, 1, 0x08,
	0x2A, 4, 0x00, 0, 0, 240,
	0x2B, 4, 0x00, 0, 320 >> 8, 320 & 0xFF,
	0x21, 0x80, 10,
	0x13, 0x80, 10,
	0x29, 0x80, 10,
}

// withMADCTL replaces MADCTL's parameter: the independent drivers set their
// own rotation's value there, and set it again in setRotation().
func withMADCTL(seq []cmdRec, v byte) []cmdRec {
	out := append([]cmdRec(nil), seq...)
	for i := range out {
		if out[i].cmd == 0x36 {
			out[i] = cmdRec{0x36, []byte{v}}
		}
	}
	return out
}

func without(seq []cmdRec, cmds ...byte) []cmdRec {
	var out []cmdRec
	for _, c := range seq {
		if !bytes.Contains(cmds, []byte{c.cmd}) {
			out = append(out, c)
		}
	}
	return out
}

func TestInitSequenceMatchesIndependentDrivers(t *testing.T) {
	ili := parseTable(t, adafruitILI9341, false)
	// Adafruit's setRotation(1) (Adafruit_ILI9341.cpp line 229) is MV|BGR,
	// 0x28: the landscape of the common modules, our preset.
	iliWant := append([]cmdRec{{0x01, nil}}, withMADCTL(ili, 0x28)...)
	// With inversion, TinyGo appends INVON just before SLPOUT.
	iliInv := append(append(append([]cmdRec(nil), iliWant[:len(iliWant)-2]...), cmdRec{0x21, nil}), iliWant[len(iliWant)-2:]...)
	iliInvOpts := ILI9341x320x240
	iliInvOpts.Invert = true
	// Adafruit's generic_st7789 without its CASET and RASET: the driver
	// sets the window with every Draw. MADCTL 0 is our rotation 0 (TFT_eSPI
	// ST7789_Rotation.h line 34).
	st := withMADCTL(without(parseTable(t, adafruitST7789, true), 0x2A, 0x2B), 0x00)
	for _, c := range []struct {
		name string
		o    Opts
		want []cmdRec
	}{
		{"st7789", ST7789x240x240, st},
		{"ili9341", ILI9341x320x240, iliWant},
		{"ili9341-invert", iliInvOpts, iliInv},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, b, delays := open(t, c.o)
			p := &panel{t: t}
			p.feed(b.traffic(0))
			if fmt.Sprintf("%x", p.cmds) != fmt.Sprintf("%x", c.want) {
				t.Fatalf("init sequence\n got %x\nwant %x", p.cmds, c.want)
			}
			if !p.awake || !p.on {
				t.Fatal("panel not awake and on after init")
			}
			// Datasheets: RST low ≥10 µs then 120 ms; after SWRESET wait
			// 120 ms before SLPOUT; after SLPOUT 5 ms before any command.
			// Pauses are noted by the number of transfers before them.
			after := map[byte]int{}
			for i, tx := range b.traffic(0) {
				if !tx.data {
					after[tx.b[0]] = i + 1
				}
			}
			need := map[int]time.Duration{0: 120 * time.Millisecond, after[0x01]: 120 * time.Millisecond, after[0x11]: 5 * time.Millisecond}
			got := map[int]time.Duration{}
			for _, d := range *delays {
				got[d.after] += d.d
			}
			for n, min := range need {
				if got[n] < min {
					t.Errorf("pause after %d transfers is %v, datasheet needs ≥ %v", n, got[n], min)
				}
			}
		})
	}
}

func TestFullFrameEveryRotation(t *testing.T) {
	for _, base := range []Opts{ST7789x240x240, ST7789x240x320, {Controller: ILI9341, Width: 240, Height: 320}} {
		for _, rot := range []int{0, 90, 180, 270} {
			o := base
			o.Rotation = rot
			t.Run(fmt.Sprintf("%s-%dx%d-%d", o.Controller, o.Width, o.Height, rot), func(t *testing.T) {
				d, b, _ := open(t, o)
				want := d.Bounds().Size()
				if rot%180 != 0 {
					want = image.Pt(o.Height, o.Width)
				} else {
					want = image.Pt(o.Width, o.Height)
				}
				if d.Bounds().Size() != want {
					t.Fatalf("bounds %v, want %v", d.Bounds(), want)
				}
				img := testImage(d.Bounds())
				from := b.ops()
				if err := d.Draw(d.Bounds(), img, image.Point{}); err != nil {
					t.Fatal(err)
				}
				p := &panel{t: t}
				p.feed(b.traffic(0)) // replay init too, for MADCTL and COLMOD
				frame := b.traffic(from)
				sent := 0
				for _, tx := range frame {
					sent += len(tx.b)
				}
				if p.pixBytes != d.FrameBytes() {
					t.Fatalf("sent %d pixel bytes, frame is %d", p.pixBytes, d.FrameBytes())
				}
				if sent != d.FrameBytes()+11 {
					t.Errorf("full frame took %d bytes on the wire, want frame + 11 window bytes = %d", sent, d.FrameBytes()+11)
				}
				got := p.native(o.Width, o.Height)
				exp := rotateCW(img, rot)
				if !bytes.Equal(got.Pix, exp.Pix) {
					t.Fatal("the panel does not show the picture turned by the rotation")
				}
			})
		}
	}
}

func TestPartialUpdateSendsOnlyTheChange(t *testing.T) {
	d, b, _ := open(t, ST7789x240x320)
	img := testImage(d.Bounds())
	if err := d.Draw(d.Bounds(), img, image.Point{}); err != nil {
		t.Fatal(err)
	}
	// Change two small areas far apart: a countdown digit and a corner.
	next := image565.New(img.Rect)
	copy(next.Pix, img.Pix)
	changed := []image.Rectangle{image.Rect(100, 200, 116, 226), image.Rect(0, 300, 3, 302)}
	for _, r := range changed {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				next.SetRGB565(x, y, ^img.RGB565At(x, y))
			}
		}
	}
	from := b.ops()
	if err := d.Draw(d.Bounds(), next, image.Point{}); err != nil {
		t.Fatal(err)
	}
	p := &panel{t: t}
	p.feed(b.traffic(0))
	if len(p.windows) != 3 { // the first full frame and two windows
		t.Fatalf("windows %v, want the full frame then %v", p.windows, changed)
	}
	for i, w := range p.windows[1:] {
		if w != changed[i] {
			t.Errorf("window %d is %v, want %v", i, w, changed[i])
		}
	}
	sent := 0
	for _, tx := range b.traffic(from) {
		sent += len(tx.b)
	}
	want := 0
	for _, r := range changed {
		want += 2*r.Dx()*r.Dy() + 11
	}
	if sent != want {
		t.Errorf("update sent %d bytes, want %d", sent, want)
	}
	if !bytes.Equal(p.native(240, 320).Pix, next.Pix) {
		t.Fatal("panel content differs from the new frame")
	}
	// Drawing the same frame again sends nothing.
	from = b.ops()
	if err := d.Draw(d.Bounds(), next, image.Point{}); err != nil {
		t.Fatal(err)
	}
	if n := len(b.traffic(from)); n != 0 {
		t.Errorf("an unchanged frame sent %d transfers", n)
	}
}

func TestHaltThenDrawResendsEverything(t *testing.T) {
	d, b, _ := open(t, ST7789x240x240)
	img := testImage(d.Bounds())
	if err := d.Draw(d.Bounds(), img, image.Point{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := d.Draw(d.Bounds(), img, image.Point{}); err != nil {
		t.Fatal(err)
	}
	p := &panel{t: t}
	p.feed(b.traffic(0))
	if !p.on {
		t.Fatal("display still off after Draw")
	}
	if p.pixBytes != 2*d.FrameBytes() {
		t.Fatalf("pixel bytes %d, want two full frames", p.pixBytes)
	}
}

func TestBadOptsAreErrors(t *testing.T) {
	dc := &gpiotest.Pin{N: "DC"}
	for i, o := range []Opts{
		{Controller: 5, Width: 240, Height: 240},
		{Controller: ST7789, Width: 0, Height: 240},
		{Controller: ST7789, Width: 240, Height: 400},
		{Controller: ST7789, Width: 240, Height: 240, Rotation: 45},
	} {
		if _, err := New(&spitest.Record{}, dc, nil, nil, &o); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
	if _, err := New(&spitest.Record{}, nil, nil, nil, &ST7789x240x240); err == nil {
		t.Error("no DC pin: no error")
	}
}

// spidevPort wraps a recorder with the 4096-byte transfer limit of Linux
// spidev (its bufsiz), reported through conn.Limits like periph's sysfs
// driver does. A longer transfer fails as it would on the Pi.
type spidevPort struct{ *spitest.Record }

type spidevConn struct{ spi.Conn }

func (p spidevPort) Connect(f physic.Frequency, m spi.Mode, bits int) (spi.Conn, error) {
	c, err := p.Record.Connect(f, m, bits)
	return spidevConn{c}, err
}

func (spidevConn) MaxTxSize() int { return 4096 }

func (c spidevConn) Tx(w, r []byte) error {
	if len(w) > 4096 {
		return fmt.Errorf("spidev: message too long (%d bytes)", len(w))
	}
	return c.Conn.Tx(w, r)
}

func TestTransfersFitSpidevBuffer(t *testing.T) {
	b := newBus()
	port := spidevPort{b.port}
	o := ST7789x240x320
	d, err := New(port, b.dc, nil, nil, &o)
	if err != nil {
		t.Fatal(err)
	}
	img := testImage(d.Bounds())
	if err := d.Draw(d.Bounds(), img, image.Point{}); err != nil {
		t.Fatal(err)
	}
	p := &panel{t: t}
	p.feed(b.traffic(0))
	if !bytes.Equal(p.native(240, 320).Pix, img.Pix) {
		t.Fatal("frame sent in pieces does not arrive whole")
	}
}

func TestDrawAnyImageAndSubRectangle(t *testing.T) {
	d, b, _ := open(t, ILI9341x320x240)
	// A generic RGBA source drawn into a sub-rectangle from an offset.
	src := image.NewRGBA(image.Rect(0, 0, 50, 50))
	for y := 0; y < 50; y++ {
		for x := 0; x < 50; x++ {
			src.Set(x, y, color.RGBA{uint8(x * 5), uint8(y * 5), 0x80, 0xff})
		}
	}
	dst := image.Rect(10, 20, 40, 45)
	if err := d.Draw(dst, src, image.Pt(5, 5)); err != nil {
		t.Fatal(err)
	}
	p := &panel{t: t}
	p.feed(b.traffic(0))
	// The preset is for modules whose glass shows memory columns right to
	// left (MirrorX): mirror what the memory holds, then undo the 90° turn.
	mem := p.native(240, 320)
	glass := image565.New(mem.Rect)
	for y := 0; y < 320; y++ {
		for x := 0; x < 240; x++ {
			glass.SetRGB565(239-x, y, mem.RGB565At(x, y))
		}
	}
	got := rotateCW(glass, 270)
	if got.Rect.Size() != image.Pt(320, 240) {
		t.Fatalf("picture %v", got.Rect)
	}
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			want := image565.Color(0)
			if (image.Point{x, y}).In(dst) {
				want = image565.Model.Convert(src.At(x-dst.Min.X+5, y-dst.Min.Y+5)).(image565.Color)
			}
			if c := got.RGB565At(x, y); c != want {
				t.Fatalf("pixel (%d,%d) = %#04x, want %#04x", x, y, c, want)
			}
		}
	}
	if d.ColorModel() != image565.Model || !strings.Contains(d.String(), "ili9341") {
		t.Errorf("ColorModel %v String %s", d.ColorModel(), d)
	}
}

// tftESPIStart is where TFT_eSPI starts the window of each ST7789 module
// size at each rotation: colstart and rowstart of TFT_Drivers/
// ST7789_Rotation.h (Bodmer/TFT_eSPI @83d4d16, lines 6–139), which applies
// them under CGRAM_OFFSET, defined for these sizes in ST7789_Defines.h
// (lines 10–40) and not for 240×320. Its MADCTL values per rotation (0,
// MX|MV, MX|MY, MV|MY) are the driver's. Adafruit_ST7789.cpp init() (lines
// 105–122) gives the same numbers: 240×240 "right justified", the others
// centred, 135×240 with colstart 53 / colstart2 52.
var tftESPIStart = []struct {
	w, h  int
	start [4]image.Point // rotation 0, 90, 180, 270
}{
	{135, 240, [4]image.Point{{52, 40}, {40, 53}, {53, 40}, {40, 52}}},
	{240, 280, [4]image.Point{{0, 20}, {20, 0}, {0, 20}, {20, 0}}},
	{172, 320, [4]image.Point{{34, 0}, {0, 34}, {34, 0}, {0, 34}}},
	{170, 320, [4]image.Point{{35, 0}, {0, 35}, {35, 0}, {0, 35}}},
	{240, 240, [4]image.Point{{0, 0}, {0, 0}, {0, 80}, {80, 0}}},
	{240, 320, [4]image.Point{{0, 0}, {0, 0}, {0, 0}, {0, 0}}},
}

// glass returns what a w×h glass shows whose top-left pixel is frame-memory
// column start.X, row start.Y, in the module's native orientation.
func (p *panel) glass(start image.Point, w, h int) *image565.Image {
	img := image565.New(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGB565(x, y, image565.Color(p.ram[start.Y+y][start.X+x]))
		}
	}
	return img
}

func TestST7789WindowPerSizeAndRotation(t *testing.T) {
	madctl := [4]byte{0, madMX | madMV, madMX | madMY, madMV | madMY}
	for _, m := range tftESPIStart {
		for r := 0; r < 4; r++ {
			o := Opts{Controller: ST7789, Width: m.w, Height: m.h, Rotation: 90 * r, Invert: true, Mode: spi.Mode3}
			t.Run(fmt.Sprintf("%dx%d-%d", m.w, m.h, o.Rotation), func(t *testing.T) {
				d, b, _ := open(t, o)
				img := testImage(d.Bounds())
				if err := d.Draw(d.Bounds(), img, image.Point{}); err != nil {
					t.Fatal(err)
				}
				p := &panel{t: t}
				p.feed(b.traffic(0))
				if p.madctl != madctl[r] {
					t.Errorf("MADCTL %#02x, TFT_eSPI sends %#02x", p.madctl, madctl[r])
				}
				s := m.start[r]
				want := image.Rectangle{s, s.Add(d.Bounds().Size())}
				if len(p.windows) != 1 || p.windows[0] != want {
					t.Fatalf("windows %v, want %v", p.windows, want)
				}
				// The glass sits where rotation 0 (no mirroring) addresses it.
				got := p.glass(m.start[0], m.w, m.h)
				if !bytes.Equal(got.Pix, rotateCW(img, o.Rotation).Pix) {
					t.Fatal("the glass does not show the whole picture turned by the rotation")
				}
			})
		}
	}
}

// An explicit Offset moves the glass; mirrored rotations count it from the
// far end of the memory.
func TestOffsetOverride(t *testing.T) {
	for _, c := range []struct {
		rot  int
		want image.Point
	}{{0, image.Pt(0, 0)}, {90, image.Pt(0, 0)}, {180, image.Pt(0, 40)}, {270, image.Pt(40, 0)}} {
		o := Opts{Controller: ST7789, Width: 240, Height: 280, Rotation: c.rot, Offset: &image.Point{}}
		d, b, _ := open(t, o)
		img := testImage(d.Bounds())
		if err := d.Draw(d.Bounds(), img, image.Point{}); err != nil {
			t.Fatal(err)
		}
		p := &panel{t: t}
		p.feed(b.traffic(0))
		if len(p.windows) != 1 || p.windows[0].Min != c.want {
			t.Errorf("rotation %d: windows %v, want one starting at %v", c.rot, p.windows, c.want)
		}
		if !bytes.Equal(p.glass(image.Point{}, 240, 280).Pix, rotateCW(img, c.rot).Pix) {
			t.Errorf("rotation %d: the glass at 0,0 does not show the picture", c.rot)
		}
	}
	dc := &gpiotest.Pin{N: "DC"}
	for _, off := range []image.Point{{-1, 0}, {1, 0}, {0, 41}} {
		o := Opts{Controller: ST7789, Width: 240, Height: 280, Offset: &off}
		if _, err := New(&spitest.Record{}, dc, nil, nil, &o); err == nil {
			t.Errorf("offset %v: no error", off)
		}
	}
}

// modePort notes the SPI mode the driver connects with.
type modePort struct {
	*spitest.Record
	mode spi.Mode
}

func (p *modePort) Connect(f physic.Frequency, m spi.Mode, bits int) (spi.Conn, error) {
	p.mode = m
	return p.Record.Connect(f, m, bits)
}

func TestSPIMode(t *testing.T) {
	// TFT_eSPI.h (lines 130–137) connects every ST7789 in SPI_MODE3 and
	// other controllers in SPI_MODE0; Adafruit_ILI9341 uses its default,
	// SPI_MODE0.
	mode0 := ST7789x240x240
	mode0.Mode = spi.Mode0
	for _, c := range []struct {
		o    Opts
		want spi.Mode
	}{{ST7789x240x240, spi.Mode3}, {ST7789x240x320, spi.Mode3}, {ILI9341x320x240, spi.Mode0}, {mode0, spi.Mode0}} {
		p := &modePort{Record: &spitest.Record{}}
		if _, err := New(p, &gpiotest.Pin{N: "DC"}, nil, nil, &c.o); err != nil {
			t.Fatal(err)
		}
		if p.mode != c.want {
			t.Errorf("%s %dx%d: SPI %v, want %v", c.o.Controller, c.o.Width, c.o.Height, p.mode, c.want)
		}
	}
	bad := ST7789x240x240
	bad.Mode = 4
	if _, err := New(&spitest.Record{}, &gpiotest.Pin{N: "DC"}, nil, nil, &bad); err == nil {
		t.Error("SPI mode 4: no error")
	}
}
