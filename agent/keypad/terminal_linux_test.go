package keypad

import (
	"os"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

func TestKeysFromTerminal(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	restore, err := KeysFromTerminal(slave)
	if err != nil {
		t.Fatal(err)
	}
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&(unix.ICANON|unix.ECHO) != 0 || tio.Lflag&unix.ISIG == 0 || tio.Iflag&unix.ICRNL == 0 {
		t.Fatalf("termios lflag %#x iflag %#x: want ICANON and ECHO off, ISIG and ICRNL on", tio.Lflag, tio.Iflag)
	}
	// A key arrives without a newline after it: in line mode this read
	// would block until Enter.
	if _, err := master.Write([]byte("7")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	n, err := slave.Read(buf)
	if err != nil || string(buf[:n]) != "7" {
		t.Fatalf("slave read %q, %v; want \"7\"", buf[:n], err)
	}
	// CR from the Enter key arrives as LF: an immediate Enter.
	if _, err := master.Write([]byte("\r")); err != nil {
		t.Fatal(err)
	}
	if n, err := slave.Read(buf); err != nil || string(buf[:n]) != "\n" {
		t.Fatalf("slave read %q, %v; want LF", buf[:n], err)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	tio, err = unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&unix.ICANON == 0 || tio.Lflag&unix.ECHO == 0 {
		t.Fatalf("restore left lflag %#x", tio.Lflag)
	}
}

func TestKeysFromTerminalNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	restore, err := KeysFromTerminal(r)
	if err == nil {
		t.Fatal("a pipe accepted as a terminal")
	}
	if restore() != nil {
		t.Fatal("restore after failure should do nothing")
	}
}
