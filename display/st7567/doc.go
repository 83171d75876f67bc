// Package st7567 drives 128×64 monochrome LCD modules built on the Sitronix
// ST7567 controller over 4-wire SPI.
//
// periph.io/x/devices/v3/st7567 sends the whole 1 KiB frame on every update,
// which costs 8 ms on the wire at the controller's usual 1 MHz clock even
// when only a countdown digit changed. This driver does differential
// updates, the way periph's ssd1306 does: it keeps the frame the controller
// already shows and, for each of the 8 pages, sends only the span of
// columns that changed, with one page and column address (3 command bytes)
// in front of it. A frame identical to the last one sends nothing. The
// first frame and the first frame after Halt are sent whole, because the
// controller's memory is then unknown.
//
// The initialisation sequence is the one periph's st7567 driver sends (bias,
// SEG and COM direction, normal/inverse, start line, power control, regulation
// ratio, display on, electronic volume), so a module that works with periph's
// driver shows the same picture with this one.
//
// # Memory
//
// The controller holds 65×132 bits of display data RAM: 8 pages of 8 rows
// (plus an icon page 8, unused here), each byte one column of 8 vertical
// pixels with the least significant bit on top, the same layout as
// image1bit.VerticalLSB. A set bit is a dark dot on the glass (in normal
// display mode); so a light (image1bit.On) pixel of the picture is stored as
// a cleared bit. Column addresses 0–127 are written (4–131 with
// Opts.ColumnOffset 4); the column address increments after each data byte.
//
// # Datasheet
//
// ST7567, Sitronix, 65 x 132 Dot Matrix LCD Controller/Driver, section 9
// "Instruction table" (A0 is the DC pin: low for an instruction, high for
// display data):
//
//	AEh/AFh          display OFF / ON
//	40h|S (S 0–63)   set display start line
//	B0h|P (P 0–8)    set page address
//	10h|X7..X4       set column address, upper 4 bits
//	00h|X3..X0       set column address, lower 4 bits
//	A0h/A1h          SEG direction normal / reverse (MX)
//	C0h/C8h          COM direction normal / reverse (MY)
//	A2h/A3h          bias 1/9 / 1/7
//	A4h/A5h          all pixels normal / all pixels on
//	A6h/A7h          inverse display off / on
//	28h|VB,VR,VF     power control (booster, regulator, follower)
//	20h|RR (RR 0–7)  regulation ratio (coarse V0)
//	81h, EV (0–63)   set electronic volume (fine V0: contrast), 2 bytes
//	E2h              software reset
//
// Display OFF followed by all pixels on is the power save (sleep) mode, in
// which the RAM is kept; all pixels normal and display ON leave it.
//
// https://www.newhavendisplay.com/appnotes/datasheets/LCDs/ST7567.pdf
package st7567
