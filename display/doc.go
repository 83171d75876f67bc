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
// resampled), dark modules on a light field, at least 2 pixels per module
// wherever the payload allows it (error-correction level L if that is what
// it takes), and otherwise the highest level that does not cost a step of
// scale (see planQR). The quiet zone is 4 modules (ISO/IEC 18004); only on
// 64-pixel panels may it shrink to 2, which phone scanners still accept,
// rather than halving the module size. The tests decode every payment
// screen after a simulated phone camera (magnified, blurred, tilted,
// unevenly lit), not only from the exact pixels.
//
// # Words and legibility
//
// Every word is in package display/locale (zh-CN, zh-HK, en; Options.Locale)
// and drawn with package display/bitmapfont: WenQuanYi Micro Hei glyphs at
// whole pixel sizes, thresholded to 1 bit once, so text is the same on
// 1-bit and colour panels. Dynamic text (a Chinese merchant name or subject,
// a gateway's message) is drawn from the system font when the pre-rendered
// table lacks a character, and as a visible box when no font has it.
//
// Each screen is a list of items (title, amount, lines, rows) with a size
// range and a priority. The legibility floor of issue 16 is built in: the
// amount's digits are at least 1/8 of the panel height and 16 pixels high,
// no text on a colour panel is under 16-pixel type (8 pixels of ink for
// lowercase), every payment screen says what to do ("请扫码支付"). When the
// panel is full, items shrink to their floor, then the least important go;
// text is shortened by rule, at a word (or between Chinese characters) with
// "…", never by the renderer cutting a word in two. Monochrome panels get a
// 1-bit threshold of the colour picture; no dithering anywhere.
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
