// Package image565 implements a 16-bit RGB565 image, the pixel format colour
// SPI TFT controllers (ST7789, ILI9341) take in their 16 bits/pixel mode
// (COLMOD/PIXSET 0x55).
//
// Pixels are stored big-endian, high byte first, exactly as they go on the
// wire, so a driver can send rows of Pix without converting them.
package image565

import (
	"image"
	"image/color"
)

// Color is one RGB565 pixel: 5 bits red, 6 bits green, 5 bits blue.
type Color uint16

// RGBA implements color.Color. The low bits are filled from the high bits so
// that white is 0xffff.
func (c Color) RGBA() (r, g, b, a uint32) {
	r5 := uint32(c>>11) & 0x1f
	g6 := uint32(c>>5) & 0x3f
	b5 := uint32(c) & 0x1f
	r8 := r5<<3 | r5>>2
	g8 := g6<<2 | g6>>4
	b8 := b5<<3 | b5>>2
	return r8 * 0x101, g8 * 0x101, b8 * 0x101, 0xffff
}

// FromRGB packs 8-bit channels, truncating the low bits.
func FromRGB(r, g, b uint8) Color {
	return Color(uint16(r>>3)<<11 | uint16(g>>2)<<5 | uint16(b>>3))
}

// Model converts any colour to RGB565 (alpha is ignored).
var Model = color.ModelFunc(func(c color.Color) color.Color {
	if c, ok := c.(Color); ok {
		return c
	}
	r, g, b, _ := c.RGBA()
	return FromRGB(uint8(r>>8), uint8(g>>8), uint8(b>>8))
})

// Image is an in-memory RGB565 image.
type Image struct {
	// Pix holds 2 bytes per pixel, big-endian, rows of Stride bytes.
	Pix    []byte
	Stride int
	Rect   image.Rectangle
}

// New returns an image of the given bounds, all black.
func New(r image.Rectangle) *Image {
	return &Image{Pix: make([]byte, 2*r.Dx()*r.Dy()), Stride: 2 * r.Dx(), Rect: r}
}

// ColorModel implements image.Image.
func (p *Image) ColorModel() color.Model { return Model }

// Bounds implements image.Image.
func (p *Image) Bounds() image.Rectangle { return p.Rect }

// PixOffset returns the index of the first byte of pixel (x, y) in Pix.
func (p *Image) PixOffset(x, y int) int {
	return (y-p.Rect.Min.Y)*p.Stride + (x-p.Rect.Min.X)*2
}

// At implements image.Image.
func (p *Image) At(x, y int) color.Color { return p.RGB565At(x, y) }

// RGB565At returns the pixel at (x, y), or 0 outside the bounds.
func (p *Image) RGB565At(x, y int) Color {
	if !(image.Point{x, y}.In(p.Rect)) {
		return 0
	}
	i := p.PixOffset(x, y)
	return Color(uint16(p.Pix[i])<<8 | uint16(p.Pix[i+1]))
}

// Set implements draw.Image.
func (p *Image) Set(x, y int, c color.Color) {
	p.SetRGB565(x, y, Model.Convert(c).(Color))
}

// SetRGB565 sets one pixel; points outside the bounds are ignored.
func (p *Image) SetRGB565(x, y int, c Color) {
	if !(image.Point{x, y}.In(p.Rect)) {
		return
	}
	i := p.PixOffset(x, y)
	p.Pix[i] = byte(c >> 8)
	p.Pix[i+1] = byte(c)
}
