package display

import (
	"image"
)

// line is one line (or paragraph, with wrap) of text in a flow.
type line struct {
	text     string
	maxK     int     // largest integer scale wanted
	color    uint8   // palette index
	font     *glyphs // nil: regular
	optional bool    // may be left out when space is short
	wrap     int     // >0: may wrap onto up to this many lines (at scale 1)
	k        int     // chosen scale
	banner   bool    // drawn light on a coloured band
	band     uint8   // band colour
	group    int     // >0: part of a wrapped paragraph
}

// layout is a rectangle of the screen being drawn into.
type layout struct {
	dst    *image.Paletted
	r      image.Rectangle
	margin int // left and right, kept free of text
}

const gap = 2 // pixels between lines, at any scale

// status draws a full-screen status: a coloured title band on top, then the
// lines centred in the rest.
func (l *layout) status(title string, band uint8, lines []line) {
	all := append([]line{{text: title, maxK: 3, font: bold, banner: true, band: band, color: cBG}}, lines...)
	l.margin = max(2, l.r.Dx()/32)
	l.flow(all, true)
}

// flow fits lines into the layout's rectangle and draws them centred
// vertically. Each line gets the largest scale up to maxK at which it fits
// the width; while the block is too tall the largest scale is reduced, then
// optional lines are left out from the bottom. Text is never drawn outside
// the rectangle.
func (l *layout) flow(in []line, center bool) {
	w, h := l.r.Dx()-2*l.margin, l.r.Dy()
	var lines []line
	for gi, ln := range in {
		if ln.font == nil {
			ln.font = regular
		}
		ln.text = printable(ln.text, ln.font)
		if ln.text == "" {
			continue
		}
		perLine := ln.font.perLine(w)
		if perLine < 1 {
			continue
		}
		ln.k = max(1, min(ln.maxK, w/max(1, ln.font.width(ln.text, 1))))
		if ln.font.width(ln.text, 1) > w || ln.wrap > 0 {
			if ln.wrap > 0 {
				// The largest scale at which the paragraph fits its lines.
				k := max(1, ln.maxK)
				parts := wrap(ln.text, ln.font.perLine(w/k))
				for ; k > 1 && (len(parts) > ln.wrap || len(parts) == 0); k-- {
					parts = wrap(ln.text, ln.font.perLine(w/(k-1)))
				}
				if len(parts) > ln.wrap {
					parts = parts[:ln.wrap]
					parts[len(parts)-1] = truncate(parts[len(parts)-1]+"…", ln.font.perLine(w/k))
				}
				for _, p := range parts {
					c := ln
					c.text, c.k, c.wrap, c.group = p, k, 0, gi+1
					lines = append(lines, c)
				}
				continue
			}
			ln.text = truncate(ln.text, perLine)
			ln.k = 1
		}
		lines = append(lines, ln)
	}
	height := func() int {
		t := 0
		for i, ln := range lines {
			if i > 0 {
				t += gap
			}
			t += ln.font.lineHeight(ln.k)
			if ln.banner {
				t += 2 * bannerPad(ln.k)
			}
		}
		return t
	}
	// Make room: shrink text bigger than 2, then the title band to 1, then
	// leave out optional lines (last first), then shrink the rest to 1, then
	// leave out anything, last first.
	biggest := func(above int) int {
		big := -1
		for i, ln := range lines {
			if ln.k > above && (big < 0 || ln.k > lines[big].k) {
				big = i
			}
		}
		return big
	}
	for height() > h && len(lines) > 0 {
		if i := biggest(2); i >= 0 {
			lines[i].k--
			continue
		}
		if len(lines) > 0 && lines[0].banner && lines[0].k > 1 {
			lines[0].k--
			continue
		}
		drop := -1
		for i := len(lines) - 1; i >= 0; i-- {
			if lines[i].optional {
				drop = i
				break
			}
		}
		if drop < 0 {
			if i := biggest(1); i >= 0 {
				lines[i].k--
				continue
			}
			drop = len(lines) - 1
		}
		if g := lines[drop].group; g > 0 && drop > 0 && lines[drop-1].group == g {
			// Say that the paragraph goes on.
			prev := &lines[drop-1]
			prev.text = truncate(prev.text+"…", prev.font.perLine(w/prev.k))
		}
		lines = append(lines[:drop], lines[drop+1:]...)
	}
	y := l.r.Min.Y
	if center {
		// Banner stays at the top; the rest is centred below it.
		if len(lines) > 0 && lines[0].banner {
			y = l.drawLine(lines[0], y) + gap
			lines = lines[1:]
			rest := 0
			for i, ln := range lines {
				if i > 0 {
					rest += gap
				}
				rest += ln.font.lineHeight(ln.k)
			}
			y += (l.r.Max.Y - y - rest) / 2
		} else {
			y += (h - height()) / 2
		}
	} else {
		y += (h - height()) / 2
	}
	for _, ln := range lines {
		y = l.drawLine(ln, y) + gap
	}
}

func bannerPad(k int) int { return 1 + k }

// drawLine draws one line centred horizontally with its top at y and
// returns the y below it.
func (l *layout) drawLine(ln line, y int) int {
	tw := ln.font.width(ln.text, ln.k)
	th := ln.font.lineHeight(ln.k)
	x := l.r.Min.X + (l.r.Dx()-tw)/2
	if ln.banner {
		pad := bannerPad(ln.k)
		fillRect(l.dst, image.Rect(l.r.Min.X, y, l.r.Max.X, y+th+2*pad), ln.band)
		ln.font.draw(l.dst, x, y+pad, ln.text, ln.k, ln.color)
		return y + th + 2*pad
	}
	ln.font.draw(l.dst, x, y, ln.text, ln.k, ln.color)
	return y + th
}
