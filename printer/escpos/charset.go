package escpos

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Charset is how text reaches a printer. ESC/POS has no Unicode: a printer
// prints single bytes through the code table picked with ESC t, and Chinese
// printers additionally take double-byte GB18030/GBK text after FS &. Raw
// UTF-8 must never be sent: it prints as two or three junk glyphs per
// character.
type Charset struct {
	Name  string
	Table byte // ESC t n (single-byte charsets)
	Kanji bool // FS & then GB18030/GBK bytes
	enc   *encoding.Encoder
	fourB bool // GB18030 4-byte sequences allowed
}

// The charsets posagent knows. The ESC t numbers are Epson's table numbers,
// which the common clones copy.
var (
	CP437   = &Charset{Name: "cp437", Table: 0, enc: charmap.CodePage437.NewEncoder()}
	CP850   = &Charset{Name: "cp850", Table: 2, enc: charmap.CodePage850.NewEncoder()}
	WPC1252 = &Charset{Name: "wpc1252", Table: 16, enc: charmap.Windows1252.NewEncoder()}
	CP866   = &Charset{Name: "cp866", Table: 17, enc: charmap.CodePage866.NewEncoder()}
	CP858   = &Charset{Name: "cp858", Table: 19, enc: charmap.CodePage858.NewEncoder()}
	// GB18030 is for Chinese printers with a full GB18030 font (4-byte
	// sequences for rare characters).
	GB18030 = &Charset{Name: "gb18030", Kanji: true, enc: simplifiedchinese.GB18030.NewEncoder(), fourB: true}
	// GBK is for the many Chinese printers whose font covers only the
	// double-byte part: characters beyond it print as '?'.
	GBK = &Charset{Name: "gbk", Kanji: true, enc: simplifiedchinese.GB18030.NewEncoder()}
)

var charsets = map[string]*Charset{}

func init() {
	for _, c := range []*Charset{CP437, CP850, WPC1252, CP866, CP858, GB18030, GBK} {
		charsets[c.Name] = c
	}
}

// LookupCharset finds a charset by name ("" means cp437).
func LookupCharset(name string) (*Charset, error) {
	if name == "" {
		return CP437, nil
	}
	if c, ok := charsets[strings.ToLower(name)]; ok {
		return c, nil
	}
	names := make([]string, 0, len(charsets))
	for n := range charsets {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("escpos: unknown charset %q (known: %s)", name, strings.Join(names, ", "))
}

// Encode appends s to dst in this charset. Control characters become
// spaces, characters the charset lacks become '?'.
func (c *Charset) Encode(dst []byte, s string) []byte {
	var tmp [8]byte
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			dst = append(dst, '?')
			continue
		case r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0):
			dst = append(dst, ' ')
			continue
		case r < 0x80:
			dst = append(dst, byte(r))
			continue
		}
		n := utf8.EncodeRune(tmp[:], r)
		out, err := c.enc.Bytes(tmp[:n])
		if err != nil || len(out) == 0 || (len(out) == 4 && !c.fourB) {
			dst = append(dst, '?')
			continue
		}
		dst = append(dst, out...)
	}
	return dst
}

// Cells is how many font-A character cells s takes when printed: Chinese
// characters in Kanji mode take two, everything else one (the '?'
// replacements included).
func (c *Charset) Cells(s string) int {
	n := 0
	for _, r := range s {
		if c.Kanji && r >= 0x80 {
			var tmp [8]byte
			out, err := c.enc.Bytes(tmp[:utf8.EncodeRune(tmp[:], r)])
			if err == nil && (len(out) == 2 || (len(out) == 4 && c.fourB)) {
				n += 2
				continue
			}
		}
		n++
	}
	return n
}

// CanEncode reports whether every character of s prints as itself (control
// characters aside): false means Encode would put '?' somewhere.
func (c *Charset) CanEncode(s string) bool {
	var tmp [8]byte
	for _, r := range s {
		if r < 0x80 {
			continue
		}
		if r == utf8.RuneError || r < 0xA0 {
			return false
		}
		out, err := c.enc.Bytes(tmp[:utf8.EncodeRune(tmp[:], r)])
		if err != nil || len(out) == 0 || (len(out) == 4 && !c.fourB) {
			return false
		}
	}
	return true
}
