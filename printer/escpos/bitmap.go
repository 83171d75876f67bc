package escpos

import (
	"image"
	"image/color"
)

// Bitmap is a 1-bit image in GS v 0 layout: rows of Stride() bytes, the most
// significant bit is the leftmost dot, a set bit burns a dot.
type Bitmap struct {
	W, H int
	Pix  []byte
}

// NewBitmap returns a blank (white) w×h bitmap.
func NewBitmap(w, h int) *Bitmap {
	bm := &Bitmap{W: w, H: h}
	bm.Pix = make([]byte, bm.Stride()*h)
	return bm
}

// Stride is the number of bytes per row.
func (bm *Bitmap) Stride() int { return (bm.W + 7) / 8 }

// Set burns (black=true) or clears the dot at x, y. Out of range is ignored.
func (bm *Bitmap) Set(x, y int, black bool) {
	if x < 0 || y < 0 || x >= bm.W || y >= bm.H {
		return
	}
	i, mask := y*bm.Stride()+x/8, byte(0x80>>(x%8))
	if black {
		bm.Pix[i] |= mask
	} else {
		bm.Pix[i] &^= mask
	}
}

// At reports whether the dot at x, y is burnt.
func (bm *Bitmap) At(x, y int) bool {
	if x < 0 || y < 0 || x >= bm.W || y >= bm.H {
		return false
	}
	return bm.Pix[y*bm.Stride()+x/8]&(0x80>>(x%8)) != 0
}

// FromImage thresholds img at 50 % luminance: darker pixels burn.
func FromImage(img image.Image) *Bitmap {
	r := img.Bounds()
	bm := NewBitmap(r.Dx(), r.Dy())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			g := color.GrayModel.Convert(img.At(x, y)).(color.Gray)
			_, _, _, a := img.At(x, y).RGBA()
			if a > 0x7FFF && g.Y < 128 {
				bm.Set(x-r.Min.X, y-r.Min.Y, true)
			}
		}
	}
	return bm
}
