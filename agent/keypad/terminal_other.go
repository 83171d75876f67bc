//go:build !linux

package keypad

import (
	"errors"
	"os"
)

// KeysFromTerminal is only implemented on Linux, the terminal's platform;
// elsewhere input stays line-at-a-time, which still decodes correctly.
func KeysFromTerminal(f *os.File) (restore func() error, err error) {
	return func() error { return nil }, errors.New("keypad: key-at-a-time terminal input is only supported on Linux")
}
