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

func TestInitSequenceFromDatasheet(t *testing.T) {
	// The sequences as the datasheets list them: reset, wake, pixel format
	// 16 bits (0x55), memory access control, inversion, normal mode, on.
	st7789 := []cmdRec{
		{0x01, nil}, {0x11, nil}, {0x3A, []byte{0x55}}, {0x36, []byte{0x00}}, {0x21, nil}, {0x13, nil}, {0x29, nil},
	}
	ili9341 := []cmdRec{
		{0x01, nil}, {0x11, nil},
		{0xC0, []byte{0x23}}, {0xC1, []byte{0x10}}, {0xC5, []byte{0x3E, 0x28}}, {0xC7, []byte{0x86}},
		{0xB1, []byte{0x00, 0x18}}, {0xB6, []byte{0x08, 0x82, 0x27}}, {0x26, []byte{0x01}},
		{0xE0, []byte{0x0F, 0x31, 0x2B, 0x0C, 0x0E, 0x08, 0x4E, 0xF1, 0x37, 0x07, 0x10, 0x03, 0x0E, 0x09, 0x00}},
		{0xE1, []byte{0x00, 0x0E, 0x14, 0x03, 0x11, 0x07, 0x31, 0xC1, 0x48, 0x08, 0x0F, 0x0C, 0x31, 0x36, 0x0F}},
		{0x3A, []byte{0x55}}, {0x36, []byte{0x28}}, {0x20, nil}, {0x13, nil}, {0x29, nil},
	}
	for _, c := range []struct {
		name string
		o    Opts
		want []cmdRec
	}{{"st7789", ST7789x240x240, st7789}, {"ili9341", ILI9341x320x240, ili9341}} {
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
			need := map[int]time.Duration{0: 120 * time.Millisecond, 1: 120 * time.Millisecond, 2: 5 * time.Millisecond}
			got := map[int]time.Duration{}
			for _, d := range *delays {
				got[d.after] += d.d
			}
			for after, min := range need {
				if got[after] < min {
					t.Errorf("pause after %d transfers is %v, datasheet needs ≥ %v", after, got[after], min)
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
