package keypad

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// KeysFromTerminal puts the terminal f (normally os.Stdin) into
// key-at-a-time mode for [NewReader]: no line editing, so each key arrives
// when pressed and the display follows the typing, and no echo, so the
// keys do not scribble over a terminal display. Ctrl-C still interrupts
// (ISIG stays on), and CR still arrives as LF (ICRNL stays on); either is
// Enter at once (see DefaultKeymap).
//
// Call restore before exiting, or the shell is left without echo. If f is
// not a terminal (input piped from a file), it returns an error and a
// restore that does nothing; line-at-a-time input still decodes correctly.
func KeysFromTerminal(f *os.File) (restore func() error, err error) {
	noop := func() error { return nil }
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return noop, fmt.Errorf("keypad: %s is not a terminal: %w", f.Name(), err)
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO | unix.ECHONL
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return noop, fmt.Errorf("keypad: set key-at-a-time mode on %s: %w", f.Name(), err)
	}
	return func() error {
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, old); err != nil {
			return fmt.Errorf("keypad: restore terminal %s: %w", f.Name(), err)
		}
		return nil
	}, nil
}
