package display

import (
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// qrPlan is a QR symbol placed for a square area: modules, integer scale and
// quiet zone, all in whole pixels.
type qrPlan struct {
	modules [][]bool // n×n, true = dark, without quiet zone
	n       int
	level   qrcode.RecoveryLevel
	scale   int // pixels per module
	quiet   int // quiet zone, in modules, each side
}

// side is the width (and height) in pixels of the symbol with its quiet zone.
func (p qrPlan) side() int { return (p.n + 2*p.quiet) * p.scale }

// levelName is used in errors and by the screens generator.
func levelName(l qrcode.RecoveryLevel) string {
	return [...]string{"L", "M", "Q", "H"}[l]
}

// fitQR returns the scale and quiet zone of an n-module symbol in a square of
// side pixels, or scale 0 when it does not fit even at 1 pixel per module
// with a quiet zone of minQuiet modules.
//
// The largest scale wins; the 4-module quiet zone of ISO/IEC 18004 is kept
// unless minQuiet allows 2 (64-pixel panels only, issue 16) and dropping to
// 2 modules gains a step of scale while modules are still small (under 3
// pixels). There a module twice as big scans far better than the wider
// margin helps.
func fitQR(n, side, minQuiet int) (scale, quiet int) {
	s4 := side / (n + 8)
	s2 := side / (n + 4)
	switch {
	case s4 >= 1 && (s4 == s2 || s4 >= 3 || minQuiet > 2):
		return s4, 4
	case s2 >= 1 && minQuiet <= 2:
		return s2, 2
	}
	return 0, 0
}

// planQR encodes payload for a square of side pixels. It picks the error
// correction level for the panel: the highest level (H, Q, M, L) whose symbol
// still gets the same module scale and quiet zone as level L. Small panels so
// end up with L (every module counts), large ones with M or better, which
// survives a glare spot or a scratched screen protector.
//
// maxScale caps the module size: beyond it a bigger code scans no better
// and takes the room of the merchant's name and the order number.
func planQR(payload string, side, minQuiet, maxScale int) (qrPlan, error) {
	if payload == "" {
		return qrPlan{}, fmt.Errorf("display: empty QR payload")
	}
	var best qrPlan
	for _, level := range []qrcode.RecoveryLevel{qrcode.Low, qrcode.Medium, qrcode.High, qrcode.Highest} {
		q, err := qrcode.New(payload, level)
		if err != nil {
			if level == qrcode.Low {
				return qrPlan{}, fmt.Errorf("display: cannot encode a QR code of %d bytes: %v", len(payload), err)
			}
			break // too long for a higher level
		}
		q.DisableBorder = true
		bits := q.Bitmap()
		n := len(bits)
		scale, quiet := fitQR(n, side, minQuiet)
		scale = min(scale, maxScale)
		if scale > 0 {
			// Whatever room the scale leaves widens the quiet zone, up to
			// the standard's 4 modules.
			quiet = max(quiet, min(4, (side/scale-n)/2))
		}
		if level == qrcode.Low {
			if scale == 0 {
				return qrPlan{}, fmt.Errorf("display: a QR code of %d bytes needs %d×%d modules and a quiet zone, the panel has only %d pixels for it", len(payload), n, n, side)
			}
		} else if scale < best.scale || quiet < best.quiet {
			break // a higher level would cost module size: keep the previous one
		}
		best = qrPlan{modules: bits, n: n, level: level, scale: scale, quiet: quiet}
	}
	return best, nil
}
