// Command gen pre-renders the glyphs of posagent's fixed interface strings
// into table.bin (package bitmapfont). Run by go generate in
// display/bitmapfont with the font file of Debian's fonts-wqy-microhei:
//
//	go generate ./display/bitmapfont
//
// It renders ASCII, the currency and a few signs at every size, and the
// Chinese characters of every locale (package display/locale) plus the
// sample names the docs and the demo show at the sizes text is drawn in.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"

	"posagent/display/bitmapfont"
	"posagent/display/locale"
)

// sizes: every size draws Latin and digits; Chinese is drawn at most at
// cjkMax pixels (titles), amounts go larger.
var sizes = []int{10, 12, 14, 16, 18, 20, 24, 28, 32, 40, 48, 56}

const cjkMax = 32

// signs beyond ASCII that screens and paper use.
const signs = "¥￥…×·—–°‘’“”↑↓←→✓✗•"

// samples are the names and subjects of display.Samples, the demo and the
// tests (a test in package display checks that they are all here, so the
// golden screens never depend on a system font), 中国 for metrics, and
// the printer self-test's charset sample 中文打印测试.
const samples = "街角咖啡拿铁大杯港式奶茶茶餐厅廳星巴克美式中国余额餘額不足请稍后再试系統系统繁忙店中文打印测试"

func main() {
	fontPath := flag.String("font", bitmapfont.DefaultSystemFont, "TTF/TTC font to render (WenQuanYi Micro Hei)")
	out := flag.String("out", "table.bin", "output file")
	flag.Parse()
	data, err := os.ReadFile(*fontPath)
	if err != nil {
		fail(err)
	}
	f, err := bitmapfont.ParseFont(data)
	if err != nil {
		fail(err)
	}
	var latin strings.Builder
	for r := rune(0x20); r < 0x7f; r++ {
		latin.WriteRune(r)
	}
	latin.WriteString(signs)
	var cjk strings.Builder
	for _, tag := range locale.Tags {
		l := locale.Must(tag)
		for _, id := range l.IDs() {
			cjk.WriteString(l.T(id))
		}
	}
	cjk.WriteString(samples)
	var tables []map[rune]*bitmapfont.Glyph
	for _, size := range sizes {
		face, err := bitmapfont.NewFace(f, size)
		if err != nil {
			fail(err)
		}
		m := map[rune]*bitmapfont.Glyph{}
		add := func(s string) {
			for _, r := range s {
				if _, ok := m[r]; ok {
					continue
				}
				g, ok := bitmapfont.Rasterize(face, r)
				if !ok {
					continue // the renderer draws a box; the display test names any such rune
				}
				m[r] = g
			}
		}
		add(latin.String())
		if size <= cjkMax {
			add(cjk.String())
		}
		tables = append(tables, m)
		face.Close()
	}
	var b bytes.Buffer
	if err := bitmapfont.Encode(&b, sizes, tables); err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("wrote %s: %d sizes, %d bytes\n", *out, len(sizes), b.Len())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
