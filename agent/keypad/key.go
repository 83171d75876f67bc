package keypad

import (
	"fmt"
	"strings"
)

// Key is one key press, after decoding.
//
// The zero value is KeyNone, which never comes out of a [Decoder].
type Key uint8

// The keys a payment keypad has. Digit0..Digit9 are contiguous so that
// k-Digit0 is the digit's value.
const (
	KeyNone Key = iota
	Digit0
	Digit1
	Digit2
	Digit3
	Digit4
	Digit5
	Digit6
	Digit7
	Digit8
	Digit9
	DoubleZero // the "00" key found on cash-register keypads
	Dot        // decimal point
	Enter      // submit the amount
	Cancel     // abort the sale (ESC on most keypads)
	Clear      // clear the amount being typed
	Backspace  // delete the last character typed
	Refund     // start a refund
	Menu       // open the menu
	Quit       // leave the demo ('q'); not on a real keypad
	numKeys
)

var keyNames = [numKeys]string{
	KeyNone:    "none",
	Digit0:     "0",
	Digit1:     "1",
	Digit2:     "2",
	Digit3:     "3",
	Digit4:     "4",
	Digit5:     "5",
	Digit6:     "6",
	Digit7:     "7",
	Digit8:     "8",
	Digit9:     "9",
	DoubleZero: "00",
	Dot:        "dot",
	Enter:      "enter",
	Cancel:     "cancel",
	Clear:      "clear",
	Backspace:  "backspace",
	Refund:     "refund",
	Menu:       "menu",
	Quit:       "quit",
}

// String returns the key's configuration name: "0".."9", "00", "dot",
// "enter", "cancel", "clear", "backspace", "refund", "menu", "quit".
func (k Key) String() string {
	if k < numKeys {
		return keyNames[k]
	}
	return fmt.Sprintf("Key(%d)", uint8(k))
}

// IsDigit reports whether k is Digit0..Digit9.
func (k Key) IsDigit() bool { return k >= Digit0 && k <= Digit9 }

// Digit returns the value 0-9 of a digit key, or -1 for any other key.
func (k Key) Digit() int {
	if !k.IsDigit() {
		return -1
	}
	return int(k - Digit0)
}

// ParseKey returns the key named name, as written by [Key.String]. Matching
// ignores case and accepts "." for Dot and "digit0".."digit9" for digits.
func ParseKey(name string) (Key, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case ".":
		return Dot, nil
	case "esc", "escape":
		return Cancel, nil
	case "bs", "del":
		return Backspace, nil
	}
	n = strings.TrimPrefix(n, "digit")
	for k := Digit0; k < numKeys; k++ {
		if keyNames[k] == n {
			return k, nil
		}
	}
	return KeyNone, fmt.Errorf("keypad: unknown key name %q (want 0-9, 00, dot, enter, cancel, clear, backspace, refund, menu or quit)", name)
}
