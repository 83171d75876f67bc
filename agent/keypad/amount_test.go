package keypad

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	ok := []struct {
		in   string
		want int64
	}{
		{"12.5", 1250},
		{"12.50", 1250},
		{"0.01", 1},
		{"0.1", 10},
		{"1", 100},
		{"007", 700},
		{"007.05", 705},
		{"5000", 500000},
		{"00000000000000000000000000001", 100},
		{"92233720368547758.07", math.MaxInt64},
	}
	for _, tt := range ok {
		got, err := ParseAmount(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	bad := []struct {
		in   string
		kind error
	}{
		{"", ErrSyntax},
		{"0", ErrZero},
		{"0.00", ErrZero},
		{"000.0", ErrZero},
		{"-1", ErrSyntax},
		{"+1", ErrSyntax},
		{"1e3", ErrSyntax},
		{"1E3", ErrSyntax},
		{" 1", ErrSyntax},
		{"1 ", ErrSyntax},
		{"1\n", ErrSyntax},
		{"1.234", ErrDecimals},
		{"0.001", ErrDecimals},
		{".5", ErrSyntax},
		{"5.", ErrSyntax},
		{".", ErrSyntax},
		{"1.2.3", ErrSyntax},
		{"1,000", ErrSyntax},
		{"1_000", ErrSyntax},
		{"0x10", ErrSyntax},
		{"１２", ErrSyntax}, // full-width digits
		{"١٢", ErrSyntax}, // Arabic-Indic digits
		{"NaN", ErrSyntax},
		{"Inf", ErrSyntax},
		{"¥12", ErrSyntax},
		{"92233720368547758.08", ErrTooLarge},
		{"99999999999999999999", ErrTooLarge},
		{"1" + strings.Repeat("0", 400), ErrTooLarge},
	}
	for _, tt := range bad {
		got, err := ParseAmount(tt.in)
		if err == nil {
			t.Errorf("ParseAmount(%q) = %d, want an error", tt.in, got)
			continue
		}
		if !errors.Is(err, tt.kind) {
			t.Errorf("ParseAmount(%q) error %v, want kind %v", tt.in, err, tt.kind)
		}
		var ae *AmountError
		if !errors.As(err, &ae) || ae.Reason == "" || !strings.HasPrefix(err.Error(), "keypad: ") {
			t.Errorf("ParseAmount(%q) error %q is not an AmountError with a reason", tt.in, err)
		}
	}
}

func TestFormatCents(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0.00"}, {1, "0.01"}, {7, "0.07"}, {10, "0.10"}, {1250, "12.50"}, {500000, "5000.00"},
		{-5, "-0.05"}, {-1250, "-12.50"},
		{math.MaxInt64, "92233720368547758.07"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tt := range tests {
		if got := FormatCents(tt.in); got != tt.want {
			t.Errorf("FormatCents(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// amountRE is the accepted syntax, written independently of ParseAmount.
var amountRE = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,2})?$`)

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.5", "0.01", "007", "1e3", "-1", "92233720368547758.07", "92233720368547758.08", ".5", "1.234", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseAmount(s)
		// Oracle: syntax by regexp, value by math/big.
		wantOK := false
		var want int64
		if amountRE.MatchString(s) {
			r, ok := new(big.Rat).SetString(s)
			if !ok {
				t.Fatalf("big.Rat cannot read %q", s)
			}
			r.Mul(r, big.NewRat(100, 1))
			if !r.IsInt() {
				t.Fatalf("%q ×100 is not whole", s)
			}
			v := r.Num()
			if v.Sign() > 0 && v.IsInt64() {
				wantOK, want = true, v.Int64()
			}
		}
		if wantOK != (err == nil) || got != want {
			t.Fatalf("ParseAmount(%q) = %d, %v; oracle says ok=%v %d", s, got, err, wantOK, want)
		}
		if err != nil {
			var ae *AmountError
			if !errors.As(err, &ae) || ae.Kind == nil || ae.Reason == "" {
				t.Fatalf("ParseAmount(%q) error %v is not a complete AmountError", s, err)
			}
			return
		}
		f := FormatCents(got)
		back, err := ParseAmount(f)
		if err != nil || back != got {
			t.Fatalf("ParseAmount(FormatCents(%d) = %q) = %d, %v", got, f, back, err)
		}
	})
}

// press types a script: digits, 'D' the 00 key, '.', 'B' backspace,
// 'C' clear, 'X' cancel, 'E' enter, 'R' refund, 'M' menu.
func press(e *Entry, script string) (cents int64, done bool, err error) {
	keys := map[rune]Key{'D': DoubleZero, '.': Dot, 'B': Backspace, 'C': Clear, 'X': Cancel, 'E': Enter, 'R': Refund, 'M': Menu}
	for _, r := range script {
		k, ok := keys[r]
		if r >= '0' && r <= '9' {
			k, ok = Digit0+Key(r-'0'), true
		}
		if !ok {
			panic("bad script rune " + string(r))
		}
		cents, done, err = e.Press(k)
	}
	return cents, done, err
}

func TestEntry(t *testing.T) {
	tests := []struct {
		script   string
		text     string // after the script
		msg      string // Message after the script
		cents    int64  // from the last key
		done     bool
		kind     error // of the last key's error
		maxDigit int
	}{
		{script: "12.5E", cents: 1250, done: true},
		{script: "12.50E", cents: 1250, done: true},
		{script: "1250E", cents: 125000, done: true},
		{script: "5000E", cents: 500000, done: true},
		{script: "007", text: "7"},
		{script: "007E", cents: 700, done: true},
		{script: "0", text: "0"},
		{script: "00", text: "0"},
		{script: "D", text: "0"},
		{script: "DD7", text: "7"},
		{script: "1D", text: "100"},
		{script: "1DD", text: "10000"},
		{script: "1.D", text: "1.00"},
		{script: "1.DE", cents: 100, done: true},
		{script: "1.5D", text: "1.5", msg: "at most 2 decimals", kind: ErrDecimals},
		{script: "1.50D", text: "1.50", msg: "at most 2 decimals", kind: ErrDecimals},
		{script: ".", text: "0."},
		{script: ".5E", cents: 50, done: true},
		{script: "0.05E", cents: 5, done: true},
		{script: "1.234", text: "1.23", msg: "at most 2 decimals", kind: ErrDecimals},
		{script: "1.2345", text: "1.23", msg: "at most 2 decimals", kind: ErrDecimals},
		{script: "1.234B", text: "1.2"},
		{script: "1..", text: "1.", msg: "already has a decimal point", kind: ErrDot},
		{script: "E", msg: "amount must be greater than 0", kind: ErrZero},
		{script: "0.00E", text: "0.00", msg: "amount must be greater than 0", kind: ErrZero},
		{script: "5000.01E", text: "5000.01", msg: "over the maximum ¥5000.00", kind: ErrOverMax},
		{script: "9999E", text: "9999", msg: "over the maximum ¥5000.00", kind: ErrOverMax},
		{script: "5000.01EBE", cents: 500000, done: true},
		{script: "123456789", text: "12345678", msg: "at most 8 digits before the decimal point", kind: ErrDigits},
		{script: "1234567D", text: "1234567", msg: "at most 8 digits before the decimal point", kind: ErrDigits},
		{script: "12", text: "12", maxDigit: 2},
		{script: "123", text: "12", msg: "at most 2 digits before the decimal point", kind: ErrDigits, maxDigit: 2},
		{script: "12.34", text: "12.34", maxDigit: 2},
		{script: "0000000000001", text: "1", maxDigit: 2},
		{script: "12.5B", text: "12."},
		{script: "12.5BB", text: "12"},
		{script: "12.5BBBB", text: ""},
		{script: "BBB", text: ""},
		{script: ".B", text: ""},
		{script: "12C", text: ""},
		{script: "12X", text: ""},
		{script: "12R", text: "12"},
		{script: "12M", text: "12"},
		{script: "1.234C", text: ""},
		{script: "12.5E3", text: "3"}, // Enter empties the entry for the next sale
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			e, err := NewEntry(EntryOptions{Max: 500000, MaxDigits: tt.maxDigit})
			if err != nil {
				t.Fatal(err)
			}
			cents, done, err := press(e, tt.script)
			if cents != tt.cents || done != tt.done {
				t.Errorf("last key gave %d, %v; want %d, %v", cents, done, tt.cents, tt.done)
			}
			if tt.kind == nil && err != nil {
				t.Errorf("last key error %v", err)
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("last key error %v, want kind %v", err, tt.kind)
			}
			if err != nil && err.Error() != "keypad: "+tt.msg {
				t.Errorf("error %q, want %q", err, "keypad: "+tt.msg)
			}
			if e.Text() != tt.text {
				t.Errorf("Text() = %q, want %q", e.Text(), tt.text)
			}
			if e.Message() != tt.msg {
				t.Errorf("Message() = %q, want %q", e.Message(), tt.msg)
			}
		})
	}
}

// TestEntryAgreesWithParseAmount types every text ParseAmount accepts up to
// a size and checks both paths give the same cents.
func TestEntryAgreesWithParseAmount(t *testing.T) {
	e, err := NewEntry(EntryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for whole := 0; whole < 1200; whole += 7 {
		for _, frac := range []string{"", ".0", ".5", ".05", ".99", ".10"} {
			s := strings.Repeat("0", whole%3) + itoa(whole) + frac
			want, perr := ParseAmount(s)
			got, done, eerr := press(e, s+"E")
			if (perr == nil) != done || got != want {
				t.Fatalf("%q: ParseAmount %d, %v; Entry %d, %v, %v", s, want, perr, got, done, eerr)
			}
			e.Reset()
			n++
		}
	}
	if n < 1000 {
		t.Fatalf("only %d cases", n)
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

func TestEntryMessageClears(t *testing.T) {
	e, _ := NewEntry(EntryOptions{Max: 100, Currency: "$"})
	press(e, "2E")
	if e.Message() != "over the maximum $1.00" {
		t.Fatalf("Message() = %q", e.Message())
	}
	press(e, "B")
	if e.Message() != "" {
		t.Fatalf("Message() after an accepted key = %q", e.Message())
	}
	if err := e.Check(100); err != nil {
		t.Errorf("Check(100) = %v", err)
	}
	if err := e.Check(0); !errors.Is(err, ErrZero) {
		t.Errorf("Check(0) = %v", err)
	}
	if err := e.Check(101); !errors.Is(err, ErrOverMax) {
		t.Errorf("Check(101) = %v", err)
	}
}

func TestEntryCentsNeverOverflows(t *testing.T) {
	e, _ := NewEntry(EntryOptions{MaxDigits: maxIntDigits})
	press(e, strings.Repeat("9", 20)+".999")
	if e.Text() != strings.Repeat("9", maxIntDigits)+".99" {
		t.Fatalf("Text() = %q", e.Text())
	}
	want, err := ParseAmount(e.Text())
	if err != nil || e.Cents() != want || want <= 0 {
		t.Fatalf("Cents() = %d, ParseAmount = %d, %v", e.Cents(), want, err)
	}
}

func TestNewEntryOptions(t *testing.T) {
	for _, o := range []EntryOptions{{Max: -1}, {MaxDigits: -1}, {MaxDigits: maxIntDigits + 1}} {
		if _, err := NewEntry(o); err == nil || !strings.HasPrefix(err.Error(), "keypad: EntryOptions.") {
			t.Errorf("NewEntry(%+v) error = %v", o, err)
		}
	}
}

// FuzzEntry presses arbitrary keys and checks the entry's invariants: the
// text is always what ParseAmount would read as Cents, never more than 2
// decimals or MaxDigits digits, and Enter agrees with Check.
func FuzzEntry(f *testing.F) {
	f.Add([]byte{1, 2, 12, 5, 13}, uint8(3))
	f.Add([]byte{11, 11, 12, 11, 16, 13}, uint8(0))
	f.Fuzz(func(t *testing.T, keys []byte, maxDigits uint8) {
		opts := EntryOptions{Max: 123456, MaxDigits: int(maxDigits % (maxIntDigits + 1))}
		e, err := NewEntry(opts)
		if err != nil {
			t.Fatal(err)
		}
		if opts.MaxDigits == 0 {
			opts.MaxDigits = 8
		}
		for _, b := range keys {
			k := Key(b % uint8(numKeys+1))
			before := e.Cents()
			cents, done, err := e.Press(k)
			if k == Enter {
				if checkErr := e.Check(before); (checkErr == nil) != done || (done && cents != before) {
					t.Fatalf("Enter on %d gave %d, %v, %v; Check says %v", before, cents, done, err, checkErr)
				}
			} else if done {
				t.Fatalf("key %v finished the entry", k)
			}
			if err != nil && e.Message() == "" {
				t.Fatalf("key %v refused without a message", k)
			}
			text := e.Text()
			whole, frac, _ := strings.Cut(text, ".")
			if len(frac) > 2 || len(whole) > opts.MaxDigits || (len(whole) > 1 && whole[0] == '0') {
				t.Fatalf("text %q breaks the rules (MaxDigits %d)", text, opts.MaxDigits)
			}
			norm := strings.TrimSuffix(text, ".")
			if v, perr := ParseAmount(norm); perr == nil && v != e.Cents() {
				t.Fatalf("text %q is %d for ParseAmount, Cents() = %d", text, v, e.Cents())
			} else if perr != nil && e.Cents() != 0 {
				t.Fatalf("text %q refused by ParseAmount (%v) but Cents() = %d", text, perr, e.Cents())
			}
		}
	})
}
