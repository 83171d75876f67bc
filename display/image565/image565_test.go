package image565

import (
	"image"
	"image/color"
	"testing"
)

func TestRoundTripAndWireOrder(t *testing.T) {
	img := New(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{0xff, 0, 0, 0xff})
	// Red is 11111 000000 00000 = 0xF800, high byte first on the wire.
	i := img.PixOffset(1, 1)
	if img.Pix[i] != 0xf8 || img.Pix[i+1] != 0x00 {
		t.Fatalf("red stored as %#02x %#02x, want f8 00", img.Pix[i], img.Pix[i+1])
	}
	for _, c := range []color.RGBA{{0, 0, 0, 0xff}, {0xff, 0xff, 0xff, 0xff}, {0, 0xff, 0, 0xff}, {0, 0, 0xff, 0xff}} {
		img.Set(0, 0, c)
		r, g, b, _ := img.At(0, 0).RGBA()
		if uint8(r>>8) != c.R || uint8(g>>8) != c.G || uint8(b>>8) != c.B {
			t.Errorf("%v came back as %d,%d,%d", c, r>>8, g>>8, b>>8)
		}
	}
	img.Set(5, 5, color.White) // outside: ignored, no panic
	if got := img.RGB565At(5, 5); got != 0 {
		t.Errorf("outside pixel = %v", got)
	}
}
