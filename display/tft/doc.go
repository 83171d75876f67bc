// Package tft drives colour SPI TFT panels built on the Sitronix ST7789 and
// Ilitek ILI9341 controllers (240×240, 240×320 and 320×240 modules, and
// the 135×240, 240×280, 172×320 and 170×320 ST7789 ones), which
// periph.io/x/devices does not cover.
//
// Both controllers speak the MIPI DCS command set over 4-wire SPI: the DC
// pin is low for a command byte and high for its parameters and for pixel
// data. Pixels are sent as RGB565, 2 bytes each, high byte first
// (COLMOD/PIXSET 0x55).
//
// The driver does differential updates: Draw compares the new frame with
// what the panel already shows and sends only the changed rows' bounding
// rectangles, each with one CASET/RASET window (11 bytes of overhead), the
// way fbcp-ili9341 reaches high frame rates. A countdown tick changes a few
// digits and sends a few hundred bytes instead of a 150 KiB frame.
//
// # Datasheets
//
// ST7789VW, Sitronix, v1.0: system function commands (section 9.1): SWRESET
// 01h, SLPOUT 11h, NORON 13h, INVON 21h, DISPON 29h, CASET 2Ah, RASET 2Bh,
// RAMWR 2Ch, MADCTL 36h, COLMOD 3Ah. Serial write clock cycle ≥ 16 ns (62.5
// MHz). Wait 5 ms after SWRESET and SLPOUT before the next command, and 120
// ms after SWRESET before SLPOUT.
// https://www.newhavendisplay.com/appnotes/datasheets/LCDs/ST7789V.pdf
//
// ILI9341, Ilitek, v1.11: level 1 commands (section 8.2) and the power,
// VCOM, frame rate, display function and gamma registers of level 2
// (section 8.3): C0h, C1h, C5h, C7h, B1h, B6h, 26h, E0h, E1h, and the
// extended registers (section 8.4) that set up the charge pumps before
// sleep-out: CBh, CFh, E8h, EAh, EDh, F2h, F7h. Serial write
// clock cycle ≥ 100 ns (10 MHz), although modules commonly run at 32–40 MHz.
// https://cdn-shop.adafruit.com/datasheets/ILI9341.pdf
//
// # Memory and rotation
//
// Both controllers have 240×320 pixels of frame memory. MADCTL's MV bit
// exchanges columns and rows, MX and MY mirror the column and row address
// (the values per rotation are TFT_eSPI's, TFT_Drivers/ST7789_Rotation.h).
// Smaller glasses show only part of the memory: a 240×240 module its first
// 240 rows, a 135×240, 240×280, 172×320 or 170×320 module a window centred
// in it, as Adafruit's Adafruit_ST7789.cpp init() and TFT_eSPI place them.
// When an axis is mirrored its addresses count from the far end of the
// memory, so the driver computes the window's offset for each rotation
// (Opts.Offset overrides where the glass starts).
//
// # SPI mode
//
// The controllers latch MOSI on the rising SCL edge, which SPI modes 0 and
// 3 share. ST7789 modules whose CS pin is tied low need mode 3 to keep byte
// alignment, so ST7789 presets use it (TFT_eSPI.h defaults every ST7789 to
// SPI_MODE3); ILI9341 modules use mode 0.
package tft
