package display

import (
	"bufio"
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/creack/pty"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

func TestPNGWritesScannableFrame(t *testing.T) {
	path := filepath.Join(t.TempDir(), "frame.png")
	for _, mono := range []bool{false, true} {
		d, err := Open(Config{Driver: "png", Path: path, Mono: mono})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Show(qrScreen(time.Minute)); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("the file is not a PNG: %v", err)
		}
		if img.Bounds().Size() != image.Pt(320, 240) {
			t.Errorf("PNG is %v, want the default 320×240", img.Bounds().Size())
		}
		if got := decodeQR(t, img); got != SampleQR {
			t.Fatalf("decoded %q", got)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".frame-*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	if _, err := Open(Config{Driver: "png"}); err == nil {
		t.Error("png without a path: no error")
	}
	if _, err := Open(Config{Driver: "png", Path: path, Width: 10, Height: 10}); err == nil {
		t.Error("png of 10×10: no error")
	}
	bad, _ := Open(Config{Driver: "png", Path: filepath.Join(t.TempDir(), "missing", "frame.png")})
	if err := bad.Show(Screen{}); err == nil || !strings.HasPrefix(err.Error(), "display: ") {
		t.Errorf("write to a missing directory: %v", err)
	}
}

var ansiSeq = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// readTermQR rebuilds the QR code from what a terminal received: each
// half-block character is two modules, one above the other. The picture is
// scaled 4× for the decoder, as a camera would see the screen.
func readTermQR(t *testing.T, out string) image.Image {
	t.Helper()
	var rows [][]bool
	for _, line := range strings.Split(out, "\n") {
		// Rows of the code are painted black on bright white (SGR 30;107),
		// quiet zone included.
		if !strings.Contains(line, "\x1b[30;107m") {
			continue
		}
		plain := strings.TrimPrefix(ansiSeq.ReplaceAllString(line, ""), "  ")
		var top, bottom []bool
		for _, r := range plain {
			top = append(top, r == '█' || r == '▀')
			bottom = append(bottom, r == '█' || r == '▄')
		}
		rows = append(rows, top, bottom)
	}
	if len(rows) == 0 {
		t.Fatal("no QR code in the terminal output")
	}
	const k = 4
	img := image.NewGray(image.Rect(0, 0, len(rows[0])*k, len(rows)*k))
	for y, row := range rows {
		for x := range rows[0] {
			c := color.Gray{0xff}
			if x < len(row) && row[x] {
				c = color.Gray{0}
			}
			for dy := 0; dy < k; dy++ {
				for dx := 0; dx < k; dx++ {
					img.SetGray(x*k+dx, y*k+dy, c)
				}
			}
		}
	}
	return img
}

func TestTermOnARealPseudoTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	defer ptmx.Close()
	d, err := Open(Config{Driver: "term", Out: tty})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		r := bufio.NewReader(ptmx)
		for {
			line, err := r.ReadString('\n')
			b.WriteString(line)
			if strings.Contains(line, "T1-00000042") || err != nil {
				got <- b.String()
				return
			}
		}
	}()
	if err := d.Show(qrScreen(3*time.Minute + 59*time.Second)); err != nil {
		t.Fatal(err)
	}
	var out string
	select {
	case out = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing read from the pseudo-terminal")
	}
	tty.Close()
	out = strings.ReplaceAll(out, "\r\n", "\n")
	if !strings.Contains(out, "¥12.50") || !strings.Contains(out, "3:59") || !strings.Contains(out, "Scan to pay") {
		t.Errorf("terminal output lacks amount, countdown or title:\n%s", out)
	}
	if got := decodeQR(t, readTermQR(t, out)); got != SampleQR {
		t.Fatalf("decoded %q", got)
	}
}

func TestTermEveryScreenAndHostileText(t *testing.T) {
	var b bytes.Buffer
	d := NewTerm(Config{Out: &b, Plain: true})
	for _, s := range Samples() {
		if err := d.Show(s); err != nil {
			t.Fatalf("%s: %v", s.Kind, err)
		}
	}
	b.Reset()
	if err := d.Show(Screen{Kind: Idle, Merchant: "Evil\x1b]0;pwned\x07Shop 商店"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b]") || !strings.Contains(b.String(), "商店") {
		t.Errorf("merchant name not cleaned: %q", b.String())
	}
	if err := d.Show(Screen{Kind: Kind(42)}); err == nil {
		t.Error("unknown kind: no error")
	}
	if err := d.Show(Screen{Kind: AwaitingPayment}); err == nil {
		t.Error("empty QR: no error")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestMultiFansOut(t *testing.T) {
	var b bytes.Buffer
	path := filepath.Join(t.TempDir(), "f.png")
	p, err := NewPNG(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	m := Multi{NewTerm(Config{Out: failWriter{}}), NewTerm(Config{Out: &b}), p}
	err = m.Show(qrScreen(time.Minute))
	if err == nil || !strings.Contains(err.Error(), "display: term") {
		t.Errorf("first display's error not returned: %v", err)
	}
	if !strings.Contains(b.String(), "¥12.50") {
		t.Error("second display did not get the screen")
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("third display did not get the screen: %v", err)
	}
	if err := m.Close(); err == nil {
		t.Error("Close did not report the failing writer")
	}
}

func TestOpenErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {Driver: "hdmi"}} {
		if _, err := Open(cfg); err == nil || !strings.HasPrefix(err.Error(), "display: ") {
			t.Errorf("Open(%+v) = %v", cfg, err)
		}
	}
	// On a machine without the named SPI port the error names the port.
	_, err := Open(Config{Driver: "st7789", SPIPort: "/dev/spidev9.9", DCPin: "GPIO25"})
	if err == nil || !strings.HasPrefix(err.Error(), "display: ") {
		t.Errorf("st7789 on a missing port: %v", err)
	}
}

func TestConfigFromTOML(t *testing.T) {
	var c struct {
		Display Config `toml:"display"`
	}
	_, err := toml.Decode(`
[display]
driver = "st7789"
width = 240
height = 320
rotation = 180
spi_port = "/dev/spidev0.0"
spi_hz = 40000000
dc_pin = "GPIO25"
rst_pin = "GPIO27"
bl_pin = "GPIO18"
busy_pin = "GPIO24"
cs_pin = "GPIO8"
i2c_bus = "1"
i2c_addr = 0x3D
mirror_x = true
swap_rb = true
toggle_invert = true
path = "/tmp/frame.png"
mono = true
plain = true
countdown_step = "30s"
`, &c)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Driver: "st7789", Width: 240, Height: 320, Rotation: 180, SPIPort: "/dev/spidev0.0", SPIHz: 40000000,
		DCPin: "GPIO25", RSTPin: "GPIO27", BLPin: "GPIO18", BUSYPin: "GPIO24", CSPin: "GPIO8", I2CBus: "1", I2CAddr: 0x3D,
		MirrorX: true, SwapRB: true, ToggleInvert: true, Path: "/tmp/frame.png", Mono: true, Plain: true, CountdownStep: 30 * time.Second}
	if c.Display != want {
		t.Errorf("decoded %+v\nwant    %+v", c.Display, want)
	}
}

func TestRotationChecked(t *testing.T) {
	if _, err := Open(Config{Driver: "png", Path: "x.png", Rotation: 45}); err == nil {
		t.Error("rotation 45: no error")
	}
	if _, err := NewSSD1306I2C(&i2ctest.Record{}, Config{Driver: "ssd1306-i2c", Rotation: 90}); err == nil {
		t.Error("ssd1306 rotated 90: no error")
	}
}

func TestPinsByName(t *testing.T) {
	for _, n := range []string{"TESTDC", "TESTRST", "TESTBUSY"} {
		if err := gpioreg.Register(&gpiotest.Pin{N: n, Num: -1}); err != nil {
			t.Fatal(err)
		}
		defer gpioreg.Unregister(n)
	}
	p, err := lookupPins(Config{DCPin: "TESTDC", RSTPin: "TESTRST", BUSYPin: "TESTBUSY"})
	if err != nil {
		t.Fatal(err)
	}
	if p.DC == nil || p.RST == nil || p.BUSY == nil || p.BL != nil || p.CS != nil {
		t.Errorf("pins %+v", p)
	}
	if _, err := lookupPins(Config{DCPin: "TESTDC", BLPin: "NOPE"}); err == nil || !strings.Contains(err.Error(), `BL pin "NOPE"`) {
		t.Errorf("missing pin: %v", err)
	}
}

// The terminal says the same words as the panels, in the configured
// locale and currency (display/locale's zh-HK.toml).
func TestTermSpeaksTheLocale(t *testing.T) {
	var b bytes.Buffer
	d, err := Open(Config{Driver: "term", Out: &b, Plain: true, Locale: "zh-HK"})
	if err != nil {
		t.Fatal(err)
	}
	s := qrScreen(time.Minute)
	s.Currency = "HKD"
	if err := d.Show(s); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "請掃碼付款") || !strings.Contains(out, "HK$") || !strings.Contains(out, "12.50") {
		t.Errorf("zh-HK payment screen:\n%s", out)
	}
	b.Reset()
	if err := d.Show(Screen{Kind: Checking, AmountCents: 1250, Currency: "HKD", Keys: []string{"key.check", "key.cancel"}}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "請勿交付貨品") || !strings.Contains(out, "確認:再次查詢") {
		t.Errorf("zh-HK checking screen:\n%s", out)
	}
	if _, err := Open(Config{Driver: "term", Locale: "fr"}); err == nil || !strings.HasPrefix(err.Error(), "display: ") {
		t.Errorf("unknown locale: %v", err)
	}
}
