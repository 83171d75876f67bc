package display

import (
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi/spitest"

	"posagent/display/tft"
)

// BenchmarkRender: host time to render one payment screen (QR cached, the
// countdown changes every frame, as on a live screen).
func BenchmarkRender(b *testing.B) {
	for _, p := range Panels {
		b.Run(p.Name, func(b *testing.B) {
			var r Renderer
			o := Options{Size: p.Size, Format: p.Format}
			b.ReportAllocs()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := r.Render(qrScreen(time.Duration(i%240)*time.Second), o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/frame")
		})
	}
}

// counter counts the bytes a recorded bus carries.
type counter struct {
	mu       sync.Mutex
	n, txs   int
	disabled bool
}

func (c *counter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.n += len(p)
	c.txs++
	c.mu.Unlock()
	return len(p), nil
}

func (c *counter) take() (n, txs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, txs = c.n, c.txs
	c.n, c.txs = 0, 0
	return n, txs
}

// BenchmarkWire: for each panel, the bytes of a full frame against the
// panel's framebuffer (target 1.0), the bytes of a countdown tick against a
// full frame (target ≤ 0.10), the time both take on the wire at the
// configured clock, and the host time of one Show (render, diff, bus).
func BenchmarkWire(b *testing.B) {
	type panel struct {
		name  string
		fb    int              // framebuffer bytes
		clock physic.Frequency // bus clock
		i2c   bool
		open  func(c *counter) (*Panel, error)
	}
	spiPort := func(c *counter) *spitest.RecordRaw { return spitest.NewRecordRaw(c) }
	dc := func() *gpiotest.Pin { return &gpiotest.Pin{N: "DC"} }
	tftPanel := func(name string, cfg Config, w, h int) panel {
		clock := 40 * physic.MegaHertz
		if cfg.Driver == "ili9341" {
			clock = 32 * physic.MegaHertz
		}
		return panel{name, 2 * w * h, clock, false, func(c *counter) (*Panel, error) {
			return NewTFT(spiPort(c), Pins{DC: dc()}, cfg)
		}}
	}
	panels := []panel{
		tftPanel("st7789-240x240", Config{Driver: "st7789"}, 240, 240),
		tftPanel("st7789-240x320", Config{Driver: "st7789", Width: 240, Height: 320}, 240, 320),
		tftPanel("ili9341-320x240", Config{Driver: "ili9341"}, 320, 240),
		{"ssd1306-spi", 1024, 3300 * physic.KiloHertz, false, func(c *counter) (*Panel, error) {
			return NewSSD1306SPI(spiPort(c), Pins{DC: dc()}, Config{})
		}},
		{"ssd1306-i2c", 1024, 400 * physic.KiloHertz, true, func(c *counter) (*Panel, error) {
			return NewSSD1306I2C(&countingI2C{c: c}, Config{})
		}},
		{"st7567", 1024, 1 * physic.MegaHertz, false, func(c *counter) (*Panel, error) {
			return NewST7567(spiPort(c), Pins{DC: dc()}, Config{})
		}},
	}
	wireTime := func(p panel, n, txs int) time.Duration {
		bits := int64(n) * 8
		if p.i2c {
			bits = int64(n+txs) * 9 // address byte per transfer, ACK per byte
		}
		return time.Duration(bits * int64(time.Second) / int64(p.clock/physic.Hertz))
	}
	for _, p := range panels {
		b.Run(p.name, func(b *testing.B) {
			c := &counter{}
			d, err := p.open(c)
			if err != nil {
				b.Fatal(err)
			}
			if t, ok := d.dev.(*tft.Dev); ok {
				p.clock = t.Clock() // the clock the driver really configured
			}
			c.take() // init sequence
			if err := d.Show(qrScreen(4 * time.Minute)); err != nil {
				b.Fatal(err)
			}
			full, fullTx := c.take()
			if err := d.Show(qrScreen(4*time.Minute - time.Second)); err != nil {
				b.Fatal(err)
			}
			tick, tickTx := c.take()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := d.Show(qrScreen(time.Duration(i%230) * time.Second)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(full)/float64(p.fb), "full/fb")
			b.ReportMetric(float64(tick)/float64(full), "tick/full")
			b.ReportMetric(float64(wireTime(p, full, fullTx).Microseconds())/1000, "wire-ms/full")
			b.ReportMetric(float64(wireTime(p, tick, tickTx).Microseconds())/1000, "wire-ms/tick")
		})
	}
}

// countingI2C is an i2ctest.Record that only counts, so long benchmarks do
// not keep every transfer.
type countingI2C struct {
	i2ctest.Record
	c *counter
}

func (r *countingI2C) Tx(addr uint16, w, rd []byte) error {
	r.c.Write(w)
	return nil
}
