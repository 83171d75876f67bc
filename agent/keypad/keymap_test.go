package keypad

import (
	"strings"
	"testing"
)

func TestKeyNamesRoundTrip(t *testing.T) {
	for k := Digit0; k < numKeys; k++ {
		got, err := ParseKey(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKey(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
		if got, err := ParseKey(strings.ToUpper(k.String())); err != nil || got != k {
			t.Errorf("ParseKey(upper %q) = %v, %v", k.String(), got, err)
		}
	}
	for name, want := range map[string]Key{".": Dot, "digit7": Digit7, "ESC": Cancel, " enter ": Enter} {
		if got, err := ParseKey(name); err != nil || got != want {
			t.Errorf("ParseKey(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := ParseKey("ok"); err == nil || !strings.Contains(err.Error(), `"ok"`) {
		t.Errorf("ParseKey(ok) error = %v, want one naming the bad key", err)
	}
	if Key(200).String() != "Key(200)" {
		t.Errorf("Key(200).String() = %q", Key(200).String())
	}
	if Digit7.Digit() != 7 || Enter.Digit() != -1 || !Digit0.IsDigit() || DoubleZero.IsDigit() {
		t.Error("Digit/IsDigit wrong")
	}
}

func TestDefaultKeymapTable(t *testing.T) {
	// The bindings the package doc promises, written out byte by byte.
	want := map[string]Key{
		"\r": Enter, "\n": Enter, "\r\n": Enter, "\x1bOM": Enter,
		".": Dot, "\x1bOn": Dot,
		"\x08": Backspace, "\x7f": Backspace,
		"\x1b": Cancel, "c": Cancel, "C": Cancel,
		"x": Clear, "X": Clear, "\x1b[3~": Clear,
		"r": Refund, "R": Refund, "m": Menu, "M": Menu, "q": Quit, "Q": Quit,
	}
	for d := 0; d <= 9; d++ {
		want[string(rune('0'+d))] = Digit0 + Key(d)
		want["\x1bO"+string(rune('p'+d))] = Digit0 + Key(d)
	}
	km := DefaultKeymap()
	if len(km.seqs) != len(want) {
		t.Errorf("DefaultKeymap has %d bindings, want %d", len(km.seqs), len(want))
	}
	for s, k := range want {
		if got, ok := km.Lookup([]byte(s)); !ok || got != k {
			t.Errorf("DefaultKeymap[%s] = %v, %v; want %v", Quote(s), got, ok, k)
		}
	}
}

func TestParseKeymapRoundTrip(t *testing.T) {
	def := DefaultKeymap()
	km, err := ParseKeymap(def.Config())
	if err != nil {
		t.Fatal(err)
	}
	if len(km.seqs) != len(def.seqs) {
		t.Fatalf("round trip has %d bindings, want %d", len(km.seqs), len(def.seqs))
	}
	for s, k := range def.seqs {
		if km.seqs[s] != k {
			t.Errorf("round trip lost %s → %v", Quote(s), k)
		}
	}
	// Raw control bytes (as TOML's "\u001bOM" gives them) pass through.
	km, err = ParseKeymap(map[string][]string{"enter": {"\x1bOM"}})
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := km.Lookup([]byte("\x1bOM")); !ok || k != Enter {
		t.Error("raw ESC O M not bound")
	}
}

func TestParseKeymapErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string][]string
		want []string // substrings of the error
	}{
		{"unknown key", map[string][]string{"enter": {`\r`}, "pay": {"p"}}, []string{`entry "pay"`, "unknown key name"}},
		{"no sequences", map[string][]string{"enter": {}}, []string{`entry "enter" has no sequences`}},
		{"empty sequence", map[string][]string{"enter": {""}}, []string{`entry "enter", sequence 1`, "empty sequence"}},
		{"bad escape", map[string][]string{"clear": {"x", `\q`}}, []string{`entry "clear", sequence 2`, `unknown escape \q`}},
		{"short hex", map[string][]string{"clear": {`\x1`}}, []string{`entry "clear"`, "two hex digits"}},
		{"bad hex", map[string][]string{"clear": {`\xzz`}}, []string{`entry "clear"`, "two hex digits"}},
		{"lone backslash", map[string][]string{"clear": {`a\`}}, []string{`entry "clear"`, "lone backslash"}},
		{"too long", map[string][]string{"menu": {"123456789"}}, []string{`entry "menu"`, "longer than the 8 allowed"}},
		{"two keys", map[string][]string{"cancel": {`\e`}, "clear": {`\e`}}, []string{`entry "clear"`, `\e is bound to both cancel and clear`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeymap(tt.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "keypad: ") || strings.Count(msg, "keypad:") != 1 {
				t.Errorf("error %q should start with the package name once", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestBind(t *testing.T) {
	km := NewKeymap()
	if err := km.Bind("a", KeyNone); err == nil {
		t.Error("Bind to KeyNone accepted")
	}
	if err := km.Bind("a", numKeys); err == nil {
		t.Error("Bind to an out-of-range key accepted")
	}
	if err := km.Bind("a", Enter); err != nil {
		t.Fatal(err)
	}
	if err := km.Bind("a", Enter); err != nil {
		t.Errorf("rebinding to the same key: %v", err)
	}
	c := km.Clone()
	if err := c.Bind("b", Menu); err != nil {
		t.Fatal(err)
	}
	if _, ok := km.Lookup([]byte("b")); ok {
		t.Error("Clone shares bindings with the original")
	}
}

func TestQuoteUnquote(t *testing.T) {
	tests := []struct{ raw, quoted string }{
		{"\x1bOM", `\eOM`},
		{"\r\n\t\b", `\r\n\t\b`},
		{`a\b`, `a\\b`},
		{"\x00\x7f\xa0 ", `\x00\x7f\xa0 `},
	}
	for _, tt := range tests {
		if got := Quote(tt.raw); got != tt.quoted {
			t.Errorf("Quote(%q) = %q, want %q", tt.raw, got, tt.quoted)
		}
		if got, err := Unquote(tt.quoted); err != nil || got != tt.raw {
			t.Errorf("Unquote(%q) = %q, %v; want %q", tt.quoted, got, err, tt.raw)
		}
	}
	if got, _ := Unquote(`\E\0\x1B`); got != "\x1b\x00\x1b" {
		t.Errorf("Unquote(\\E\\0\\x1B) = %q", got)
	}
}

func FuzzQuote(f *testing.F) {
	f.Add("\x1bOM\\\xff")
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		for i := 0; i < len(q); i++ {
			if q[i] < 0x20 || q[i] >= 0x7f {
				t.Fatalf("Quote(%q) = %q has a non-printable byte", s, q)
			}
		}
		back, err := Unquote(q)
		if err != nil || back != s {
			t.Fatalf("Unquote(Quote(%q)) = %q, %v", s, back, err)
		}
		// Unquote on arbitrary text either works or says what is wrong.
		if _, err := Unquote(s); err != nil && !strings.HasPrefix(err.Error(), "keypad: sequence ") {
			t.Fatalf("Unquote(%q) error %q does not name the sequence", s, err)
		}
	})
}
