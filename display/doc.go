// Package display turns the sale engine's state into pictures on the panels
// that counter terminals really carry, and into PNG files and terminal output
// for everyone else.
//
// It has three layers, each usable on its own:
//
//   - Screen is a plain view model (what the customer and cashier must see).
//   - Render draws a Screen into an image sized and coloured for one panel:
//     a crisp 1-bit image1bit.VerticalLSB for monochrome panels (SSD1306,
//     ST7567, e-paper) or an RGB565 image for colour TFTs (ST7789, ILI9341).
//   - Display is the tiny interface the engine talks to (Show, Close). Open
//     picks a driver by name; hardware is only touched (periph host.Init,
//     spireg, gpioreg, i2creg) when a hardware driver is chosen.
//
// # Why the QR code is drawn the way it is
//
// A customer has one try: a phone that does not lock on within a second makes
// the cashier look bad and the sale slow. Phones decode best when modules are
// big, square and sharp and when there is a light quiet zone around the code.
// So the QR code is drawn with an integer number of pixels per module (never
// resampled), dark modules on a light field, the largest scale the panel
// allows, and the highest error-correction level that does not cost a step of
// scale (see qrLayout). The quiet zone is 4 modules (ISO/IEC 18004) when it
// fits at that scale; on very small panels it shrinks to 2, which phone
// scanners still accept, rather than halving the module size.
//
// Monochrome panels get a thresholded 1-bit image: fonts are bitmap faces
// (golang.org/x/image/font/inconsolata) thresholded at 50% coverage, and no
// dithering is used anywhere, so the QR modules stay exact.
//
// Text that the bitmap font cannot draw (for example a Chinese subject from
// the gateway) never breaks rendering: a field that is mostly unknown to the
// font is left out, a few unknown runes become '?'.
//
// # Drivers
//
// The periph.io drivers ssd1306 (SPI and I²C) and the Waveshare 2.13"
// e-paper family are wrapped; the colour TFTs (ST7789, ILI9341) have a
// driver of their own in display/tft because periph has none, and the ST7567
// LCD has one in display/st7567 because periph's resends the whole frame on
// every update: a countdown tick costs 8.4 ms on the wire at 1 MHz, diffed
// 0.5 ms. "png" writes the current frame to a file and "term" draws it with
// ANSI half blocks, the QR code scannable from a laptop screen.
package display
