package display

import (
	"image"
	"slices"

	"posagent/display/bitmapfont"
)

// item is one element of a screen: a line (or paragraph) of text, the
// amount, a label/value row or a menu entry. The layout picks each item's
// size from the font's sizes between min and max, wraps or shortens it by
// rule, and leaves out the lowest-priority items when the panel is full.
type item struct {
	role     string // what it is, for tests: "title", "amount", "instruction", "countdown", ...
	text     string
	right    string // row: the value, right-aligned
	sign     string // amount: the currency sign, drawn smaller before text
	min, max int    // em size range in pixels
	color    uint8
	bold     bool
	wrap     int      // >1: may take up to this many lines
	prio     int      // 0 is never left out; higher numbers go first
	band     bool     // title: light text on a coloured band across the panel
	bandC    uint8    // band colour
	selected bool     // menu: drawn inverted
	left     bool     // aligned left instead of centred
	stack    bool     // amount: the sign on a line of its own above the digits
	alt      []string // shorter forms of text, tried before shortening with "…"

	size  int      // chosen size
	lines []string // chosen text, one entry per line
}

// minText is the smallest text on a panel: 12 px on 1-bit panels (the
// smallest at which Chinese stays legible), 16 px on colour panels, whose
// ink is then at least 8 px high even for lowercase letters (issue 16).
func minText(o Options) int {
	if o.Format == RGB565 {
		return 16
	}
	return 12
}

// amountFloor is the least ink height of the amount's digits: 1/8 of the
// panel height and at least 16 pixels (issue 16's legibility floor).
func amountFloor(h int) int { return max(16, h/8) }

// sizesIn returns the font sizes from lo to hi, largest first.
func sizesIn(lo, hi int) []int {
	var out []int
	for _, s := range bitmapfont.Sizes() {
		if s >= lo && s <= hi {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = []int{lo}
	}
	slices.Reverse(out)
	return out
}

// amountSize is the smallest size whose digits are at least floor pixels
// high.
func amountSize(floor int) int {
	for _, s := range bitmapfont.Sizes() {
		t, b := inkOnly("0123456789", s)
		if b-t >= floor {
			return s
		}
	}
	return bitmapfont.Sizes()[len(bitmapfont.Sizes())-1]
}

const gap = 2 // pixels between lines

// signSize is the size of the currency sign before an amount drawn at
// size: smaller, as on a price tag, so the digits get the room.
func signSize(size int) int {
	return sizesIn(0, max(12, size*3/5))[0]
}

// fit sets it.size and it.lines for width w at the given size; false when
// it cannot be drawn at that size without cutting a word.
func (it *item) fit(w, size int) bool {
	it.size = size
	switch {
	case it.sign != "" || it.role == "amount":
		it.lines = []string{it.text}
		return it.amountWidth(size) <= w
	case it.right != "":
		rw := textWidth(it.right, size, it.bold)
		lw := w - rw - size/2
		if lw <= 0 {
			return false
		}
		l := shorten(it.text, lw, size, it.bold)
		it.lines = []string{l}
		return l != "" || it.text == ""
	case it.wrap > 1:
		lines, ok := wrapText(it.text, w, size, it.bold, it.wrap)
		it.lines = lines
		return ok && len(lines) > 0
	}
	it.lines = []string{it.text}
	return textWidth(it.text, size, it.bold) <= w
}

func (it *item) menuItem() bool { return it.role == "menu" }

// amountWidth is the width of the amount with its sign at size.
func (it *item) amountWidth(size int) int {
	tw := textWidth(it.text, size, it.bold)
	if it.sign == "" {
		return tw
	}
	sw := textWidth(it.sign, signSize(size), false)
	if it.stack {
		return max(tw, sw)
	}
	return tw + sw + 1
}

// height of the item as fitted.
func (it *item) height() int {
	if it.role == "amount" {
		t, b := inkOnly(it.text, it.size)
		if it.sign != "" {
			st, sb := inkOnly(it.sign, signSize(it.size))
			if it.stack {
				return sb - st + gap + b - t
			}
			t, b = min(t, st), max(b, sb)
		}
		return b - t
	}
	h := 0
	for i, l := range it.lines {
		if i > 0 {
			h += gap
		}
		t, b := lineExtent(l, it.size)
		h += b - t
	}
	if it.band || it.selected {
		h += 2 * bandPad(it.size)
	}
	return h
}

func bandPad(size int) int { return 1 + size/8 }

// settle chooses sizes: each item the largest size that fits w, else its
// min size shortened by rule (a line that cannot even be shortened is left
// out). Then, while the items are taller than h, the least important item
// that is above its min shrinks a step; when none can, the least important
// item goes (a paragraph line by line). Room that frees is given back to
// the most important items; the rows of a list end up one size.
func settle(items []item, w, h, sep int) []item {
	var out []item
	for _, it := range items {
		it.text = cleanText(it.text)
		if it.text == "" && it.right == "" {
			continue
		}
		ok := false
		for _, s := range sizesIn(it.min, it.max) {
			if it.fit(w, s) {
				ok = true
				break
			}
		}
		if !ok {
			s := sizesIn(it.min, it.max)
			it.size = s[len(s)-1]
			switch {
			case it.role == "amount":
				// Never shorten an amount: put the sign above the digits,
				// and only then go below the floor.
				if it.sign != "" {
					it.stack = true
					ok = it.fit(w, it.size)
				}
				for _, s := range sizesIn(0, it.size) {
					if ok = it.fit(w, s); ok {
						break
					}
				}
			case it.right != "":
				// A value too wide for its row: label and value as a
				// paragraph of up to two lines instead.
				it.text, it.right, it.wrap = it.text+": "+it.right, "", 2
				for _, s := range sizesIn(it.min, it.max) {
					if ok = it.fit(w, s); ok {
						break
					}
				}
				if !ok {
					if short := shorten(it.text, w, it.size, it.bold); short != "" {
						it.lines, ok = []string{short}, true
					}
				}
			default:
				for _, a := range it.alt {
					if textWidth(a, it.size, it.bold) <= w {
						it.text, it.lines, ok = a, []string{a}, true
						break
					}
				}
				if ok {
					break
				}
				short := shorten(it.text, w, it.size, it.bold)
				if short != "" {
					it.lines, ok = []string{short}, true
				}
			}
			if !ok {
				continue
			}
		}
		out = append(out, it)
	}
	total := func() int {
		t := 0
		for i, it := range out {
			if i > 0 {
				t += sep
			}
			t += it.height()
		}
		return t
	}
	for total() > h && len(out) > 0 {
		// Shrink the least important item that can still shrink, the
		// biggest of those first.
		best := -1
		for i, it := range out {
			if it.size <= it.min || sizesIn(it.min, it.size-1)[0] >= it.size {
				continue // at its floor
			}
			if best < 0 || it.prio > out[best].prio || (it.prio == out[best].prio && it.size > out[best].size) {
				best = i
			}
		}
		if best >= 0 {
			it := &out[best]
			for _, s := range sizesIn(it.min, it.size-1) {
				if it.fit(w, s) {
					break
				}
			}
			continue
		}
		drop, prio := -1, 0
		for i := len(out) - 1; i >= 0; i-- {
			if out[i].prio > prio {
				drop, prio = i, out[i].prio
			}
		}
		if drop < 0 {
			drop = len(out) - 1
		}
		if len(out[drop].lines) > 1 {
			// A paragraph loses its last line first, and says so.
			it := &out[drop]
			rest := joinLines(it.lines[len(it.lines)-2:])
			it.lines = append(it.lines[:len(it.lines)-2], shorten(rest, w, it.size, it.bold))
			if it.lines[len(it.lines)-1] != "" {
				continue
			}
			it.lines = it.lines[:len(it.lines)-1]
			continue
		}
		out = slices.Delete(out, drop, drop+1)
	}
	// Leaving items out may have made room: the most important items grow
	// back, a step at a time, while everything still fits.
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return out[a].prio - out[b].prio })
	for _, i := range order {
		it := &out[i]
		if it.listRow() {
			continue // rows keep one size, below
		}
		for _, next := range bitmapfont.Sizes() {
			if next <= it.size {
				continue
			}
			if next > it.max {
				break
			}
			saved := *it
			if !it.fit(w, next) || total() > h {
				*it = saved
				break
			}
		}
	}
	// The rows of a list (report, facts, menu) share one size: the
	// smallest any of them needed.
	rowSize := 0
	for _, it := range out {
		if it.listRow() && (rowSize == 0 || it.size < rowSize) {
			rowSize = it.size
		}
	}
	for i := range out {
		if it := &out[i]; it.listRow() && it.size != rowSize {
			it.fit(w, rowSize)
		}
	}
	return out
}

// listRow reports whether the item is a row of a list.
func (it *item) listRow() bool { return it.right != "" || it.menuItem() }

// drawn records where a line of text went, for the tests that measure the
// legibility floor from the pixels.
type drawn struct {
	role string
	text string
	size int
	rect image.Rectangle // the line's box
}

// frame is a rectangle of the screen being drawn into.
type frame struct {
	dst   *image.Paletted
	r     image.Rectangle
	trace *[]drawn
}

// column draws items top to bottom in f.r: a band item on top, the rest
// centred vertically in what is left, each line centred (or left-aligned)
// with margin pixels kept free left and right.
func (f frame) column(items []item, margin int) {
	w := f.r.Dx() - 2*margin
	if w <= 0 {
		return
	}
	// Items are spaced 3 pixels apart, 2 on 64-pixel panels where every
	// row counts.
	sep := gap + 1
	if f.r.Dy() <= 64 {
		sep = gap
	}
	items = settle(items, w, f.r.Dy(), sep)
	y := f.r.Min.Y
	if len(items) > 0 && items[0].band {
		y = f.draw(items[0], y, margin) + sep
		items = items[1:]
	}
	h := 0
	for i, it := range items {
		if i > 0 {
			h += sep
		}
		h += it.height()
	}
	y += max(0, (f.r.Max.Y-y-h)/2)
	for _, it := range items {
		y = f.draw(it, y, margin) + sep
	}
}

// draw paints one settled item with its top at y and returns its bottom.
func (f frame) draw(it item, y, margin int) int {
	x0, x1 := f.r.Min.X+margin, f.r.Max.X-margin
	place := func(w int) int {
		if it.left || it.right != "" {
			return x0
		}
		return x0 + (x1-x0-w)/2
	}
	if it.band || it.selected {
		pad := bandPad(it.size)
		bg, fg := it.bandC, it.color
		if it.selected {
			bg, fg = cFG, cBG
		}
		fillRect(f.dst, image.Rect(f.r.Min.X, y, f.r.Max.X, y+it.height()), bg)
		it.color = fg
		y += pad
		bottom := f.lines(it, y, x0, x1, place)
		return bottom + pad
	}
	if it.role == "amount" && it.stack {
		ss := signSize(it.size)
		st, sb := inkOnly(it.sign, ss)
		sw := textWidth(it.sign, ss, false)
		x := place(sw)
		drawText(f.dst, f.r, x, y-st, it.sign, ss, false, it.color)
		f.record("sign", it.sign, ss, image.Rect(x, y, x+sw, y+sb-st))
		y += sb - st + gap
		t, b := inkOnly(it.text, it.size)
		tw := textWidth(it.text, it.size, it.bold)
		x = place(tw)
		drawText(f.dst, f.r, x, y-t, it.text, it.size, it.bold, it.color)
		f.record(it.role, it.text, it.size, image.Rect(x, y, x+tw, y+b-t))
		return y + b - t
	}
	if it.role == "amount" {
		ss := signSize(it.size)
		sw := 0
		if it.sign != "" {
			sw = textWidth(it.sign, ss, false) + 1
		}
		tw := textWidth(it.text, it.size, it.bold)
		x := place(sw + tw)
		t, b := inkOnly(it.text, it.size)
		if it.sign != "" {
			st, sb := inkOnly(it.sign, ss)
			t, b = min(t, st), max(b, sb)
		}
		base := y - t
		if it.sign != "" {
			drawText(f.dst, f.r, x, base, it.sign, ss, false, it.color)
		}
		drawText(f.dst, f.r, x+sw, base, it.text, it.size, it.bold, it.color)
		f.record(it.role, it.sign+it.text, it.size, image.Rect(x, y, x+sw+tw, y+b-t))
		return y + b - t
	}
	return f.lines(it, y, x0, x1, place)
}

func (f frame) lines(it item, y, x0, x1 int, place func(int) int) int {
	for i, l := range it.lines {
		if i > 0 {
			y += gap
		}
		t, b := lineExtent(l, it.size)
		tw := textWidth(l, it.size, it.bold)
		x := place(tw)
		drawText(f.dst, f.r, x, y-t, l, it.size, it.bold, it.color)
		f.record(it.role, l, it.size, image.Rect(x, y, x+tw, y+b-t))
		if it.right != "" && i == 0 {
			rw := textWidth(it.right, it.size, it.bold)
			drawText(f.dst, f.r, x1-rw, y-t, it.right, it.size, it.bold, it.color)
			f.record(it.role+".value", it.right, it.size, image.Rect(x1-rw, y, x1, y+b-t))
		}
		y += b - t
	}
	return y
}

func (f frame) record(role, text string, size int, r image.Rectangle) {
	if f.trace != nil {
		*f.trace = append(*f.trace, drawn{role: role, text: text, size: size, rect: r})
	}
}

func fillRect(dst *image.Paletted, r image.Rectangle, c uint8) {
	r = r.Intersect(dst.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := dst.Pix[dst.PixOffset(r.Min.X, y):dst.PixOffset(r.Max.X, y)]
		for i := range row {
			row[i] = c
		}
	}
}
