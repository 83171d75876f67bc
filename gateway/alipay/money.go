package alipay

import (
	"fmt"
	"strconv"
)

// MaxAmountCents is the largest amount the wire format can carry:
// total_amount and refund_amount are String(9) of yuan with two decimals
// (seed 002, "Length 9"), so "999999.99".
const MaxAmountCents = 99_999_999

// FormatYuan writes cents as yuan with exactly two decimals ("88.88",
// "0.01"), the form total_amount and refund_amount take on the wire.
func FormatYuan(cents int64) string {
	if cents < 0 {
		return "-" + FormatYuan(-cents)
	}
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// ParseYuan reads a yuan amount as Alipay writes it ("88.88", "80", "0.1")
// into cents. It refuses signs, exponents, more than two decimals and
// anything that does not fit comfortably in an int64: money is never
// rounded.
func ParseYuan(s string) (int64, error) {
	if s == "" || len(s) > 16 {
		return 0, fmt.Errorf("alipay: amount %q is not yuan with at most 2 decimals", s)
	}
	whole, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			whole, frac = s[:i], s[i+1:]
			break
		}
	}
	if whole == "" || len(frac) > 2 || (len(s) > len(whole) && frac == "") || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("alipay: amount %q is not yuan with at most 2 decimals", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	y, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || y > 1e12 {
		return 0, fmt.Errorf("alipay: amount %q is out of range", s)
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return y*100 + f, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
