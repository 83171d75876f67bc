package keypad

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MaxSeqLen is the longest byte sequence a [Keymap] accepts for one key. It
// also bounds the [Decoder]'s buffer: VT100/xterm key sequences are at most
// 6 bytes (ESC [ 1 5 ; 5 ~), serial keypads send one or two.
const MaxSeqLen = 8

// esc is the ASCII escape byte, which starts the VT100 sequences and is also
// the Cancel key on most keypads.
const esc = 0x1b

// Keymap says which byte sequence a keypad sends for which key.
//
// A sequence may be the prefix of another (ESC alone is Cancel, ESC O M is
// the numpad Enter; CR is Enter, CR LF is one Enter too): the [Decoder] waits
// for the next byte, or for [Decoder.Flush], to tell them apart.
//
// A Keymap must not be changed while a Decoder or Source uses it.
type Keymap struct {
	seqs     map[string]Key  // complete sequence → key
	prefixes map[string]bool // every strict, non-empty prefix of a sequence
	// eager holds the complete sequences that are also prefixes, but whose
	// every longer binding means the same key, through bound steps only
	// (CR, then CR LF: both Enter). Waiting to see the next byte would
	// decide nothing, so the decoder reports the key at once and swallows
	// the rest of the longer sequence if it comes.
	eager map[string]bool
}

// NewKeymap returns an empty keymap: every byte is ignored until bound.
func NewKeymap() *Keymap {
	return &Keymap{seqs: map[string]Key{}, prefixes: map[string]bool{}, eager: map[string]bool{}}
}

// DefaultKeymap returns the bindings for ASCII serial keypads and for
// terminals (the demo, USB keypads acting as keyboards):
//
//	0-9              digits
//	.                dot
//	CR, LF, CR LF    enter (a keypad sending CR LF gives one Enter, not two)
//	BS (0x08), DEL   backspace
//	ESC alone, c, C  cancel
//	x, X, ESC [ 3 ~  clear (ESC [ 3 ~ is the Delete key)
//	r, R             refund
//	m, M             menu
//	q, Q             quit (demo only; the sale engine may ignore it)
//	ESC O p..y       digits 0-9 from a numpad in "application keypad" mode
//	ESC O n          dot (numpad, application mode)
//	ESC O M          enter (numpad, application mode)
//
// A lone ESC is only decided when the next byte comes or after
// Options.SeqTimeout (50ms by default), since it may be the start of
// ESC O M. A lone CR is not: CR and CR LF are both Enter, so CR is Enter at
// once and an LF right after it is swallowed. A CR-only keypad never waits.
//
// DoubleZero has no binding: an ASCII "00" key sends two '0' bytes, which
// the decoder reports as two Digit0 presses. Bind it with [Keymap.Bind] or in
// configuration when a keypad has a code of its own for it.
func DefaultKeymap() *Keymap {
	km := NewKeymap()
	bind := func(k Key, seqs ...string) {
		for _, s := range seqs {
			if err := km.Bind(s, k); err != nil {
				panic(err) // the table below is constant; a test covers it
			}
		}
	}
	for d := 0; d <= 9; d++ {
		bind(Digit0+Key(d), string(rune('0'+d)), "\x1bO"+string(rune('p'+d)))
	}
	bind(Dot, ".", "\x1bOn")
	bind(Enter, "\r", "\n", "\r\n", "\x1bOM")
	bind(Backspace, "\x08", "\x7f")
	bind(Cancel, "\x1b", "c", "C")
	bind(Clear, "x", "X", "\x1b[3~")
	bind(Refund, "r", "R")
	bind(Menu, "m", "M")
	bind(Quit, "q", "Q")
	return km
}

// Bind makes seq decode as k. It fails if seq is empty, longer than
// [MaxSeqLen], or already bound to another key. Binding a sequence to the
// key it already has is not an error.
func (km *Keymap) Bind(seq string, k Key) error {
	if k == KeyNone || k >= numKeys {
		return fmt.Errorf("keypad: cannot bind %s to invalid key %d", Quote(seq), uint8(k))
	}
	if seq == "" {
		return fmt.Errorf("keypad: empty sequence for key %s", k)
	}
	if len(seq) > MaxSeqLen {
		return fmt.Errorf("keypad: sequence %s for key %s is %d bytes, longer than the %d allowed", Quote(seq), k, len(seq), MaxSeqLen)
	}
	if old, ok := km.seqs[seq]; ok {
		if old == k {
			return nil
		}
		return fmt.Errorf("keypad: sequence %s is bound to both %s and %s", Quote(seq), old, k)
	}
	km.seqs[seq] = k
	for i := 1; i < len(seq); i++ {
		km.prefixes[seq[:i]] = true
	}
	km.findEager()
	return nil
}

// findEager recomputes km.eager. A keymap has a few dozen bindings and is
// built once, so the quadratic walk costs nothing that matters.
func (km *Keymap) findEager() {
	clear(km.eager)
	for s, k := range km.seqs {
		if !km.prefixes[s] {
			continue
		}
		ok := true
		for t := range km.seqs {
			if len(t) <= len(s) || !strings.HasPrefix(t, s) {
				continue
			}
			// Every step from s to t must be bound to k: then each byte
			// of the longer sequence can be swallowed as it comes.
			for i := len(s) + 1; i <= len(t); i++ {
				if kk, bound := km.seqs[t[:i]]; !bound || kk != k {
					ok = false
					break
				}
			}
			if !ok {
				break
			}
		}
		if ok {
			km.eager[s] = true
		}
	}
}

// isEager reports whether seq is complete and only ever grows into
// sequences of the same key, so that it is decided without waiting.
func (km *Keymap) isEager(seq []byte) bool {
	return km.eager[string(seq)]
}

// Lookup returns the key seq is bound to.
func (km *Keymap) Lookup(seq []byte) (Key, bool) {
	k, ok := km.seqs[string(seq)] // no allocation: the compiler special-cases this
	return k, ok
}

// isPrefix reports whether seq is the strict prefix of a bound sequence, so
// that the decoder must wait for more bytes before deciding.
func (km *Keymap) isPrefix(seq []byte) bool {
	return km.prefixes[string(seq)]
}

// Clone returns an independent copy, for adding bindings to the default.
func (km *Keymap) Clone() *Keymap {
	c := NewKeymap()
	for s, k := range km.seqs {
		c.seqs[s] = k
	}
	for p := range km.prefixes {
		c.prefixes[p] = true
	}
	for p := range km.eager {
		c.eager[p] = true
	}
	return c
}

// Config returns the keymap in the form [ParseKeymap] reads: key name →
// sequences written with [Quote], sorted. Useful for `posagent doctor` and for
// writing a starting configuration.
func (km *Keymap) Config() map[string][]string {
	cfg := map[string][]string{}
	for s, k := range km.seqs {
		cfg[k.String()] = append(cfg[k.String()], Quote(s))
	}
	for _, v := range cfg {
		sort.Strings(v)
	}
	return cfg
}

// ParseKeymap builds a keymap from configuration: key name (see [ParseKey])
// → the byte sequences the keypad sends for it. Sequences may use the escapes
// \e (ESC), \xHH, \r, \n, \t, \b, \0 and \\; bytes that are already raw (a
// TOML "\u001bOM") pass through unchanged. For example, in TOML:
//
//	[keypad.keymap]
//	enter  = ['\r', '\eOM']
//	cancel = ['\e', '*']
//	clear  = ['/']
//	"00"   = ['\xa0']
//
// Errors name the bad entry. The result holds only what cfg says; to extend
// the defaults, edit DefaultKeymap().Config() before parsing, or Bind on a
// DefaultKeymap().
func ParseKeymap(cfg map[string][]string) (*Keymap, error) {
	names := make([]string, 0, len(cfg))
	for name := range cfg {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic errors
	km := NewKeymap()
	for _, name := range names {
		k, err := ParseKey(name)
		if err != nil {
			return nil, fmt.Errorf("keypad: keymap entry %q: %w", name, trimPkg(err))
		}
		if len(cfg[name]) == 0 {
			return nil, fmt.Errorf("keypad: keymap entry %q has no sequences", name)
		}
		for i, raw := range cfg[name] {
			seq, err := Unquote(raw)
			if err == nil {
				err = km.Bind(seq, k)
			}
			if err != nil {
				return nil, fmt.Errorf("keypad: keymap entry %q, sequence %d (%q): %w", name, i+1, raw, trimPkg(err))
			}
		}
	}
	return km, nil
}

// trimPkg strips the "keypad: " prefix of an inner error so that wrapped
// messages say it once.
func trimPkg(err error) error {
	return prefixless{err}
}

type prefixless struct{ error }

func (p prefixless) Error() string { return strings.TrimPrefix(p.error.Error(), "keypad: ") }
func (p prefixless) Unwrap() error { return p.error }

// Quote writes a byte sequence readably: printable ASCII as is, ESC as \e,
// CR/LF/TAB/BS as \r \n \t \b, a backslash as \\, anything else as \xHH.
// [Unquote] reverses it.
func Quote(seq string) string {
	var b strings.Builder
	for i := 0; i < len(seq); i++ {
		c := seq[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == esc:
			b.WriteString(`\e`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\b':
			b.WriteString(`\b`)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(c)&0xf, 16))
		}
	}
	return b.String()
}

// Unquote decodes the escapes [Quote] writes (also \0 and \E). Any other
// byte, including raw control bytes, stands for itself.
func Unquote(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			return "", fmt.Errorf("keypad: sequence %q ends with a lone backslash (write \\\\ for a backslash)", s)
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'e', 'E':
			b.WriteByte(esc)
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'b':
			b.WriteByte('\b')
		case '0':
			b.WriteByte(0)
		case 'x':
			if i+2 >= len(s) {
				return "", fmt.Errorf("keypad: sequence %q: \\x needs two hex digits", s)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("keypad: sequence %q: \\x needs two hex digits, got %q", s, s[i+1:i+3])
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			return "", fmt.Errorf("keypad: sequence %q: unknown escape \\%c (known: \\e \\xHH \\r \\n \\t \\b \\0 \\\\)", s, s[i])
		}
	}
	return b.String(), nil
}
