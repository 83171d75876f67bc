package keypad

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func names(keys []Key) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.String()
	}
	return strings.Join(s, " ")
}

// decodeAll feeds in in one go and flushes at the end.
func decodeAll(km *Keymap, in []byte) []Key {
	d := NewDecoder(km)
	keys := d.Feed(nil, in)
	return d.Flush(keys)
}

func TestDecoderDefaultKeymap(t *testing.T) {
	// Sequences are from the ASCII table and the VT100/xterm "application
	// keypad" (DECKPAM) codes: ESC O p..y digits, ESC O n '.', ESC O M Enter;
	// ESC [ 3 ~ is the Delete key. Each case is decoded in one Feed plus a
	// final Flush.
	tests := []struct {
		name, in, want string
	}{
		{"digits", "0123456789", "0 1 2 3 4 5 6 7 8 9"},
		{"amount with CR", "12.50\r", "1 2 dot 5 0 enter"},
		{"LF is enter", "7\n", "7 enter"},
		{"CR LF is one enter", "7\r\n", "7 enter"},
		{"LF CR is two enters", "\n\r", "enter enter"},
		{"CR CR is two enters", "\r\r", "enter enter"},
		{"backspace BS and DEL", "1\x08\x7f", "1 backspace backspace"},
		{"letters", "cCxXrRmMqQ", "cancel cancel clear clear refund refund menu menu quit quit"},
		{"lone ESC at flush is cancel", "\x1b", "cancel"},
		{"ESC then digit is cancel then digit", "\x1b5", "cancel 5"},
		{"ESC ESC", "\x1b\x1b", "cancel cancel"},
		{"numpad enter", "\x1bOM", "enter"},
		{"numpad digits", "\x1bOp\x1bOq\x1bOy\x1bOn", "0 1 9 dot"},
		{"delete key is clear", "\x1b[3~", "clear"},
		{"arrow keys are skipped, not cancel", "1\x1b[A\x1b[B\x1b[C\x1b[D2", "1 2"},
		{"F5 with parameters skipped", "\x1b[15~3", "3"},
		{"ctrl-arrow skipped", "\x1b[1;5C4", "4"},
		{"unknown SS3 skipped (F1)", "\x1bOP5", "5"},
		{"broken CSI resumes at the control byte", "\x1b[1\r", "enter"},
		{"truncated CSI at flush dropped", "\x1b[1;", ""},
		{"truncated SS3 at flush dropped", "\x1bO", ""},
		{"noise between keys", "\x001\xff\xfe2\x00\x80.\x9b5", "1 2 dot 5"},
		{"unmapped printable", "a1b2 zZ!", "1 2"},
		{"all noise", "\x00\x01\x02\xff\xfe", ""},
		{"CR then noise", "\r\xff", "enter"},
		{"ESC then noise", "\x1b\xff1", "cancel 1"},
		{"ESC O then non-final noise", "\x1bO\x001", "1"},
		{"empty", "", ""},
	}
	km := DefaultKeymap()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(decodeAll(km, []byte(tt.in)))
			if got != tt.want {
				t.Errorf("decode %q = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecoderWaitsForAmbiguousPrefix(t *testing.T) {
	d := NewDecoder(nil)
	if got := d.Feed(nil, []byte("\x1b")); len(got) != 0 {
		t.Fatalf("lone ESC decoded at once as %q; it may be the start of ESC O M", names(got))
	}
	if !d.Pending() {
		t.Fatal("Pending() = false with a lone ESC buffered")
	}
	if got := names(d.Feed(nil, []byte("O"))); got != "" {
		t.Fatalf("ESC O decoded as %q", got)
	}
	if got := names(d.Feed(nil, []byte("M"))); got != "enter" {
		t.Fatalf("ESC O M split in three reads = %q, want enter", got)
	}
	if d.Pending() || d.Buffered() != 0 {
		t.Fatalf("after a complete sequence: Pending %v Buffered %d", d.Pending(), d.Buffered())
	}
	// CR does not wait: CR LF is Enter too, so nothing the next byte can
	// say changes the key. The LF that may follow is swallowed.
	if got := names(d.Feed(nil, []byte("\r"))); got != "enter" {
		t.Fatalf("CR = %q, want enter at once", got)
	}
	if d.Pending() {
		t.Fatal("Pending() after CR: a CR-only keypad would wait for the timeout")
	}
	if got := names(d.Feed(nil, []byte("\n"))); got != "" {
		t.Fatalf("LF after CR = %q, want it swallowed", got)
	}
	if got := names(d.Feed(nil, []byte("\n"))); got != "enter" {
		t.Fatalf("a second LF = %q, want enter", got)
	}
	// A flush inside an unknown CSI ends the skip: the next byte is a key.
	d.Feed(nil, []byte("\x1b[1"))
	if !d.Pending() {
		t.Fatal("Pending() = false inside a control sequence")
	}
	d.Flush(nil)
	if got := names(d.Feed(nil, []byte("5"))); got != "5" {
		t.Fatalf("key after flushed CSI = %q, want 5", got)
	}
}

func TestDecoderLongCSIIsBounded(t *testing.T) {
	// A run of parameter bytes after ESC [ is line noise past maxCSI: the
	// decoder stops skipping and digits decode again.
	in := "\x1b[" + strings.Repeat(";", maxCSI+5) + "12"
	got := names(decodeAll(nil, []byte(in)))
	if got != "1 2" {
		t.Errorf("decode long CSI = %q, want %q", got, "1 2")
	}
	// Shorter than the bound, digits are parameters and are skipped.
	in = "\x1b[" + strings.Repeat(";", 3) + "12"
	if got := names(decodeAll(nil, []byte(in))); got != "" {
		t.Errorf("decode short CSI without final = %q, want nothing", got)
	}
}

func TestDecoderDropped(t *testing.T) {
	d := NewDecoder(nil)
	d.Feed(nil, []byte("\xff\xfe1\x00"))
	if d.Dropped() != 3 {
		t.Errorf("Dropped() = %d, want 3", d.Dropped())
	}
}

func TestDecoderCustomKeymap(t *testing.T) {
	// A keypad whose function keys send two-byte codes sharing a lead byte,
	// with a binding that is a prefix of another (0xA0 alone is "00").
	km, err := ParseKeymap(map[string][]string{
		"0": {"0"}, "5": {"5"},
		"00":     {`\xa0`},
		"enter":  {`\xa0\x0d`},
		"cancel": {`\xa1\x01`},
		"clear":  {`\xa1\x02`},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"5\xa0", "5 00"},
		{"5\xa0\r", "5 enter"},
		{"\xa1\x01\xa1\x02", "cancel clear"},
		{"\xa1\x035", "5"},        // unknown code after the lead byte: both dropped
		{"\xa1\xa0\x0d", "enter"}, // dead lead byte, resync on the next one
		{"\xa0\xa0", "00 00"},     // prefix followed by itself
		{"\xa0\xa1\x01", "00 cancel"},
	}
	for _, tt := range tests {
		if got := names(decodeAll(km, []byte(tt.in))); got != tt.want {
			t.Errorf("decode %q = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDecoderEncodedKeys encodes random keys with each of their sequences,
// with noise between them, and checks the decoder gives the keys back. The
// encoder is independent of the decoder: it only reads Keymap.Config.
func TestDecoderEncodedKeys(t *testing.T) {
	km := DefaultKeymap()
	type enc struct {
		k   Key
		seq string
	}
	var all []enc
	for name, seqs := range km.Config() {
		k, err := ParseKey(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range seqs {
			s, err := Unquote(q)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, enc{k, s})
		}
	}
	slices.SortFunc(all, func(a, b enc) int { return strings.Compare(a.seq, b.seq) })
	noise := []string{"", "\xff", "\x00", "z", "\xfe\xfd", "\x80"}
	var in bytes.Buffer
	var want []Key
	d := NewDecoder(km)
	var got []Key
	for i := 0; i < 2000; i++ {
		e := all[(i*7919)%len(all)]
		in.WriteString(noise[(i*31)%len(noise)])
		in.WriteString(e.seq)
		want = append(want, e.k)
		got = d.Feed(got, in.Bytes())
		in.Reset()
		if km.isPrefix([]byte(e.seq)) {
			// On a real keypad the quiet time passes before the next key.
			got = d.Flush(got)
		}
	}
	got = d.Flush(got)
	if !slices.Equal(got, want) {
		t.Fatalf("decoded %d keys, want %d\n got %s\nwant %s", len(got), len(want), names(got), names(want))
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte("12.50\r\n"), []byte{1, 2, 3})
	f.Add([]byte("\x1bOM\x1b[3~\x1b\x1b[A5"), []byte{1})
	f.Add([]byte("\x1b[1;5C\xff\x00\x1bO"), []byte{2, 0, 5})
	f.Add([]byte("\x1b["+strings.Repeat("1", 40)), []byte{7})
	km := DefaultKeymap()
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		whole := decodeAll(km, data)
		for _, k := range whole {
			if k == KeyNone || k >= numKeys {
				t.Fatalf("decoder produced invalid key %d", k)
			}
		}
		if len(whole) > len(data) {
			t.Fatalf("%d keys from %d bytes", len(whole), len(data))
		}
		// Feed the same bytes in chunks whose sizes come from splits.
		d := NewDecoder(km)
		var parts []Key
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := 1
			if len(splits) > 0 {
				n = int(splits[i%len(splits)]) % (len(rest) + 1)
			}
			parts = d.Feed(parts, rest[:n])
			rest = rest[n:]
			// Between feeds only a strict prefix of a bound sequence
			// may be held.
			if d.Buffered() >= MaxSeqLen || (d.Buffered() > 0 && !km.isPrefix(d.buf[:d.n])) {
				t.Fatalf("buffer holds %q after a feed", d.buf[:d.n])
			}
			if i > len(data)+len(splits)+1 {
				break // zero-sized chunks forever; the 1-byte loop below covers it
			}
		}
		if len(rest) > 0 {
			parts = d.Feed(parts, rest)
		}
		parts = d.Flush(parts)
		if !slices.Equal(whole, parts) {
			t.Fatalf("split feeding differs\nwhole %s\nsplit %s", names(whole), names(parts))
		}
		if d.Pending() || d.Buffered() != 0 {
			t.Fatalf("after Flush: Pending %v, Buffered %d", d.Pending(), d.Buffered())
		}
	})
}

func BenchmarkDecoderFeed(b *testing.B) {
	in := []byte("12.50\r\n\x1bOM\xff\x1b[A7\x7f")
	d := NewDecoder(nil)
	keys := make([]Key, 0, 64)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		keys = d.Feed(keys[:0], in)
	}
}

// TestDecoderEagerOnlyWhenUnambiguous: a complete sequence is decided at
// once only when every longer binding means the same key. A keymap where
// CR LF means something else than CR must still wait for the next byte.
func TestDecoderEagerOnlyWhenUnambiguous(t *testing.T) {
	km, err := ParseKeymap(map[string][]string{"enter": {`\r`}, "clear": {`\r\n`}, "cancel": {`\e`}, "5": {"5"}})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(km)
	if got := d.Feed(nil, []byte("\r")); len(got) != 0 || !d.Pending() {
		t.Fatalf("CR with CR LF bound to clear: decoded %q, pending %v; want a wait", names(got), d.Pending())
	}
	if got := names(d.Feed(nil, []byte("\n"))); got != "clear" {
		t.Fatalf("CR LF = %q, want clear", got)
	}
	// Default keymap: the chain CR → CR LF is all Enter, ESC → ESC O M is not.
	def := DefaultKeymap()
	if !def.isEager([]byte("\r")) || def.isEager([]byte("\x1b")) {
		t.Fatalf("eager CR %v, ESC %v; want true, false", def.isEager([]byte("\r")), def.isEager([]byte("\x1b")))
	}
	if c := def.Clone(); !c.isEager([]byte("\r")) {
		t.Fatal("Clone lost the eager set")
	}
}
