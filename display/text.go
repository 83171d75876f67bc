package display

import (
	"image"
	"strings"
	"unicode"

	"golang.org/x/text/width"

	"posagent/display/bitmapfont"
)

// Text is drawn with package bitmapfont: 1-bit glyphs of WenQuanYi Micro
// Hei at whole pixel sizes, the same pixels on colour and 1-bit panels.

// clean makes text safe to draw: control characters become spaces and runs
// of spaces one space. Every other character is drawn (a character no font
// has shows as a box, see bitmapfont).
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// face is the font at size pixels.
func face(size int) *bitmapfont.Face { return bitmapfont.ForSize(size) }

// boldFrom is the smallest size drawn bold: below it the overstrike fills
// the counters of Chinese characters and they become blots.
const boldFrom = 20

// textWidth is the width of s's ink box at size (bold adds the pixel of
// the overstrike).
func textWidth(s string, size int, bold bool) int {
	bold = bold && size >= boldFrom
	if s == "" {
		return 0
	}
	f := face(size)
	w, first, last := 0, true, 0
	minX := 0
	for _, r := range s {
		g, _ := f.Glyph(r)
		if first {
			minX = min(0, g.Rect.Min.X)
			first = false
		}
		last = max(0, g.Rect.Max.X-g.Advance)
		w += g.Advance
	}
	w += last - minX
	if bold {
		w++
	}
	return w
}

// inkExtent is the vertical ink extent of s at size relative to the
// baseline (top < 0), at least the face's for letters and Chinese so that
// lines of one size share a height.
func lineExtent(s string, size int) (top, bottom int) {
	f := face(size)
	top, bottom = f.Top, f.Bottom
	for _, r := range s {
		g, _ := f.Glyph(r)
		if !g.Rect.Empty() {
			top = min(top, g.Rect.Min.Y)
			bottom = max(bottom, g.Rect.Max.Y)
		}
	}
	return top, bottom
}

// inkOnly is the vertical ink extent of s alone (the amount line is as
// tall as its digits, not as the face's descenders).
func inkOnly(s string, size int) (top, bottom int) {
	f := face(size)
	first := true
	for _, r := range s {
		g, _ := f.Glyph(r)
		if g.Rect.Empty() {
			continue
		}
		if first {
			top, bottom, first = g.Rect.Min.Y, g.Rect.Max.Y, false
			continue
		}
		top = min(top, g.Rect.Min.Y)
		bottom = max(bottom, g.Rect.Max.Y)
	}
	return top, bottom
}

// drawText paints s with its ink box's left edge at x and the baseline at
// y, in palette colour c, clipped to clip.
func drawText(dst *image.Paletted, clip image.Rectangle, x, y int, s string, size int, bold bool, c uint8) {
	bold = bold && size >= boldFrom
	f := face(size)
	if g, _ := f.Glyph(firstRune(s)); g != nil && g.Rect.Min.X < 0 {
		x -= g.Rect.Min.X
	}
	clip = clip.Intersect(dst.Rect)
	f.Draw(func(px, py int) {
		if (image.Point{px, py}).In(clip) {
			dst.Pix[dst.PixOffset(px, py)] = c
		}
	}, x, y, s, bold)
}

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return ' '
}

// wide reports whether r is an East Asian wide character: a line may break
// before or after it.
func wide(r rune) bool {
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return true
	}
	return false
}

// noLineStart are the marks that never begin a line (Chinese and Latin
// closing punctuation), kept with the word before them.
const noLineStart = "，。、：；！？）》」』,.:;!?)…%"

// segments splits s into the units a line may break between: a Latin word
// with its trailing punctuation, or one Chinese character with the closing
// marks after it. Spaces are separate segments.
func segments(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, string(cur))
			cur = cur[:0]
		}
	}
	for _, r := range s {
		switch {
		case r == ' ':
			flush()
			out = append(out, " ")
		case strings.ContainsRune(noLineStart, r):
			if len(cur) == 0 && len(out) > 0 && out[len(out)-1] != " " {
				out[len(out)-1] += string(r)
			} else {
				cur = append(cur, r)
			}
		case wide(r):
			flush()
			cur = append(cur, r)
			flush()
		default:
			if len(cur) > 0 && wide(cur[len(cur)-1]) {
				flush()
			}
			cur = append(cur, r)
		}
	}
	flush()
	return out
}

const ellipsis = "…"

// shorten fits s into w pixels at size by the rule: whole words (or whole
// Chinese characters) from the start, then "…". It never cuts inside a
// word; when not even the first word fits it returns "".
func shorten(s string, w, size int, bold bool) string {
	if textWidth(s, size, bold) <= w {
		return s
	}
	segs := segments(s)
	best := ""
	cur := ""
	for _, seg := range segs {
		cur += seg
		cand := strings.TrimRight(cur, " ") + ellipsis
		if strings.TrimSpace(cur) == "" {
			continue
		}
		if textWidth(cand, size, bold) > w {
			break
		}
		best = cand
	}
	return best
}

// wrapText breaks s into lines of at most w pixels at size, between
// segments; more than n lines are cut to n, the last one shortened with
// "…". A word wider than a line makes ok false.
func wrapText(s string, w, size int, bold bool, n int) (lines []string, ok bool) {
	cur := ""
	for _, seg := range segments(s) {
		next := cur + seg
		if textWidth(strings.TrimSpace(next), size, bold) <= w {
			cur = next
			continue
		}
		// Break after a pause (，：；) in the second half of the line if
		// there is one, so a clause stays together.
		carry := ""
		if rs := []rune(cur); len(rs) > 2 {
			for i := len(rs) - 1; i > len(rs)/2; i-- {
				if strings.ContainsRune("，：；。、", rs[i]) {
					cur, carry = string(rs[:i+1]), string(rs[i+1:])
					break
				}
			}
		}
		if strings.TrimSpace(cur) != "" {
			lines = append(lines, strings.TrimSpace(cur))
		}
		cur = strings.TrimLeft(carry+seg, " ")
		if textWidth(cur, size, bold) > w {
			return nil, false
		}
	}
	if strings.TrimSpace(cur) != "" {
		lines = append(lines, strings.TrimSpace(cur))
	}
	if len(lines) > n {
		// The rest does not fit on one line: shorten always ends it with "…".
		last := shorten(joinLines(lines[n-1:]), w, size, bold)
		if last == "" {
			return nil, false
		}
		lines = append(lines[:n-1], last)
	}
	return lines, true
}

// joinLines puts wrapped lines back together: a space between Latin words,
// none between Chinese characters.
func joinLines(lines []string) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 && lines[i-1] != "" && l != "" {
			prev := []rune(lines[i-1])
			if !wide(prev[len(prev)-1]) && !wide(firstRune(l)) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(l)
	}
	return b.String()
}
