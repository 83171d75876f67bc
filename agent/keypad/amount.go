package keypad

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The kinds of refused amounts, for errors.Is. An [*AmountError] carries one
// of them with the reason to show the cashier.
var (
	ErrSyntax   = errors.New("not an amount")
	ErrZero     = errors.New("amount must be greater than 0")
	ErrDecimals = errors.New("at most 2 decimals")
	ErrDigits   = errors.New("too many digits")
	ErrDot      = errors.New("already has a decimal point")
	ErrOverMax  = errors.New("over the maximum")
	ErrTooLarge = errors.New("amount too large")
)

// AmountError is why an amount was refused.
type AmountError struct {
	Kind   error  // ErrSyntax, ErrZero, ErrDecimals, ErrDigits, ErrDot, ErrOverMax or ErrTooLarge
	Reason string // for the cashier's display, e.g. "over the maximum ¥5000.00"
	Input  string // the text refused, when it came from ParseAmount
}

func (e *AmountError) Error() string {
	if e.Input != "" {
		return fmt.Sprintf("keypad: amount %q: %s", e.Input, e.Reason)
	}
	return "keypad: " + e.Reason
}

func (e *AmountError) Unwrap() error { return e.Kind }

func amountErr(kind error, input string) *AmountError {
	return &AmountError{Kind: kind, Reason: kind.Error(), Input: input}
}

// ParseAmount reads an amount typed on the command line, such as "12.5" or
// "0.99", into cents. It is strict, because a typo in an amount costs money:
// only ASCII digits with an optional '.' followed by one or two digits; no
// sign, exponent, spaces, thousands separators, leading or trailing '.'; the
// amount must be greater than zero and fit in an int64 of cents. Leading
// zeros are allowed ("007" is 700).
func ParseAmount(s string) (int64, error) {
	if s == "" {
		return 0, &AmountError{Kind: ErrSyntax, Reason: "empty amount"}
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if !allDigits(whole) || !allDigits(frac) {
		return 0, &AmountError{Kind: ErrSyntax, Reason: "only digits and one '.' are allowed, like 12.50", Input: s}
	}
	if whole == "" {
		return 0, &AmountError{Kind: ErrSyntax, Reason: "a digit is needed before the '.', like 0.50", Input: s}
	}
	if hasDot && frac == "" {
		return 0, &AmountError{Kind: ErrSyntax, Reason: "a digit is needed after the '.', like 12.50", Input: s}
	}
	if len(frac) > 2 {
		return 0, amountErr(ErrDecimals, s)
	}
	// Pure ASCII digits now: ParseInt cannot see a sign, and reports overflow.
	digits := whole + frac + "00"[:2-len(frac)]
	cents, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, &AmountError{Kind: ErrTooLarge, Reason: "amount too large", Input: s}
	}
	if cents == 0 {
		return 0, amountErr(ErrZero, s)
	}
	return cents, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatCents writes cents as units with two decimals: 1250 → "12.50",
// 7 → "0.07", -5 → "-0.05". [ParseAmount] reads back every positive result.
func FormatCents(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign = "-"
		u = uint64(-(cents + 1)) + 1 // safe for math.MinInt64
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// EntryOptions configures an [Entry].
type EntryOptions struct {
	// Max is the largest amount accepted, in cents (500000 is 5000.00).
	// Zero means no limit beyond MaxDigits.
	Max int64
	// MaxDigits is how many digits may be typed before the decimal point.
	// Zero means 8. At most 14, so that any amount typed fits in an int64.
	MaxDigits int
	// Currency prefixes amounts in messages; "" means "¥".
	Currency string
}

// maxIntDigits keeps every typed amount within int64 cents:
// 99,999,999,999,999.99 < 2^63/100.
const maxIntDigits = 14

// Entry is the amount-entry state machine: it takes keys, keeps the text the
// cashier sees, and on Enter gives the amount in cents or says why not.
//
// Rules: at most 2 decimals; leading zeros are dropped as typed ("007" shows
// "7"); '.' first reads as "0."; the 00 key adds two zeros or none; Backspace
// removes the last character; Clear and Cancel empty the entry. Enter refuses
// 0 and amounts over Options.Max.
//
// The zero Entry is not usable; call [NewEntry]. Not safe for concurrent use.
type Entry struct {
	opts  EntryOptions
	whole []byte // integer digits, no leading zero unless exactly "0"
	dot   bool
	frac  []byte // at most 2 digits
	msg   string // reason the last key or Enter was refused, until the next key
}

// NewEntry returns an empty entry.
func NewEntry(opts EntryOptions) (*Entry, error) {
	if opts.Max < 0 {
		return nil, fmt.Errorf("keypad: EntryOptions.Max is %d; want cents > 0, or 0 for no maximum", opts.Max)
	}
	if opts.MaxDigits == 0 {
		opts.MaxDigits = 8
	}
	if opts.MaxDigits < 1 || opts.MaxDigits > maxIntDigits {
		return nil, fmt.Errorf("keypad: EntryOptions.MaxDigits is %d; want 1 to %d", opts.MaxDigits, maxIntDigits)
	}
	if opts.Currency == "" {
		opts.Currency = "¥"
	}
	return &Entry{opts: opts}, nil
}

// Text is what the cashier has typed, normalised: "" when empty, "12.5",
// "0.", "7". The display decides how to draw an empty entry.
func (e *Entry) Text() string {
	s := string(e.whole)
	if e.dot {
		s += "." + string(e.frac)
	}
	return s
}

// Message is the reason the last key was refused ("at most 2 decimals"), or
// "" once a key is accepted.
func (e *Entry) Message() string { return e.msg }

// Cents is the amount typed so far (0 when empty).
func (e *Entry) Cents() int64 {
	var c int64
	for _, d := range e.whole {
		c = c*10 + int64(d-'0')
	}
	c *= 100
	if len(e.frac) > 0 {
		c += int64(e.frac[0]-'0') * 10
	}
	if len(e.frac) > 1 {
		c += int64(e.frac[1] - '0')
	}
	return c
}

// Reset empties the entry and its message.
func (e *Entry) Reset() {
	e.whole, e.dot, e.frac, e.msg = e.whole[:0], false, e.frac[:0], ""
}

// Check applies the Enter rules to an amount from elsewhere (the command
// line, after [ParseAmount]): greater than 0 and not over Max.
func (e *Entry) Check(cents int64) error {
	if cents <= 0 {
		return amountErr(ErrZero, "")
	}
	if e.opts.Max > 0 && cents > e.opts.Max {
		return &AmountError{Kind: ErrOverMax, Reason: "over the maximum " + e.opts.Currency + FormatCents(e.opts.Max)}
	}
	return nil
}

// Press applies one key. On an Enter with a valid amount it returns the
// amount in cents with done set, and empties the entry for the next sale. A
// refused key or Enter returns an [*AmountError]; the text is kept so the
// cashier can correct it, and [Entry.Message] holds the reason.
//
// Refund, Menu and Quit are not entry keys: Press ignores them and the caller
// routes them. Cancel empties the entry; the caller also decides what else it
// means (abort the sale).
func (e *Entry) Press(k Key) (cents int64, done bool, err error) {
	var kind error
	switch {
	case k.IsDigit():
		kind = e.addDigit(byte('0' + k.Digit()))
	case k == DoubleZero:
		kind = e.addDoubleZero()
	case k == Dot:
		if e.dot {
			kind = ErrDot
		} else {
			e.dot = true
			if len(e.whole) == 0 {
				e.whole = append(e.whole, '0')
			}
		}
	case k == Backspace:
		switch {
		case len(e.frac) > 0:
			e.frac = e.frac[:len(e.frac)-1]
		case e.dot:
			e.dot = false
			if string(e.whole) == "0" {
				e.whole = e.whole[:0] // "0." came from a lone '.'; go back to empty
			}
		case len(e.whole) > 0:
			e.whole = e.whole[:len(e.whole)-1]
		}
	case k == Clear || k == Cancel:
		e.Reset()
	case k == Enter:
		c := e.Cents()
		if err := e.Check(c); err != nil {
			e.msg = err.(*AmountError).Reason
			return 0, false, err
		}
		e.Reset()
		return c, true, nil
	default:
		return 0, false, nil
	}
	if kind != nil {
		ae := e.refusal(kind)
		e.msg = ae.Reason
		return 0, false, ae
	}
	e.msg = ""
	return 0, false, nil
}

func (e *Entry) refusal(kind error) *AmountError {
	if kind == ErrDigits {
		return &AmountError{Kind: ErrDigits, Reason: fmt.Sprintf("at most %d digits before the decimal point", e.opts.MaxDigits)}
	}
	return amountErr(kind, "")
}

func (e *Entry) addDigit(d byte) error {
	if e.dot {
		if len(e.frac) >= 2 {
			return ErrDecimals
		}
		e.frac = append(e.frac, d)
		return nil
	}
	if string(e.whole) == "0" {
		e.whole[0] = d // drop the leading zero ("07" → "7"; "00" stays "0")
		return nil
	}
	if len(e.whole) >= e.opts.MaxDigits {
		return ErrDigits
	}
	e.whole = append(e.whole, d)
	return nil
}

func (e *Entry) addDoubleZero() error {
	if e.dot {
		if len(e.frac) > 0 {
			return ErrDecimals // "12.5" + "00" would be 3 decimals; refuse both zeros
		}
		e.frac = append(e.frac, '0', '0')
		return nil
	}
	if len(e.whole) == 0 || string(e.whole) == "0" {
		e.whole = append(e.whole[:0], '0')
		return nil
	}
	if len(e.whole)+2 > e.opts.MaxDigits {
		return ErrDigits
	}
	e.whole = append(e.whole, '0', '0')
	return nil
}
