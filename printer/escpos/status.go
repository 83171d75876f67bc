package escpos

import "fmt"

// Status is the printer state decoded from the four DLE EOT answers.
//
// Bit meanings (Epson "Transmit real-time status", identical in the Citizen,
// Bixolon/Samsung SRP, HPRT TP and CBM manuals):
//
//	n=1 printer status:     bit 3 offline
//	n=2 offline cause:      bit 2 cover open, bit 3 paper being fed by FEED button,
//	                        bit 5 printing stopped by paper end, bit 6 error
//	n=3 error cause:        bit 3 autocutter error, bit 5 unrecoverable error,
//	                        bit 6 auto-recoverable error (head too hot)
//	n=4 paper roll sensor:  bits 2,3 near end, bits 5,6 paper end
//
// In every answer bit 1 and bit 4 are fixed on and bits 0 and 7 fixed off,
// which is how an answer is told apart from line noise.
type Status struct {
	Offline         bool
	CoverOpen       bool
	FeedButton      bool
	PaperOut        bool
	PaperNearEnd    bool
	Error           bool
	CutterError     bool
	Unrecoverable   bool
	AutoRecoverable bool
}

// Request is the 12-byte query for all four statuses. Sending the four
// together is allowed ("up to 4 commands at once", HPRT TP809 manual); the
// answers come back in order, one byte each.
var Request = []byte{DLE, EOT, 1, DLE, EOT, 2, DLE, EOT, 3, DLE, EOT, 4}

// ParseStatus decodes the four answer bytes to Request.
func ParseStatus(b []byte) (Status, error) {
	if len(b) != 4 {
		return Status{}, fmt.Errorf("escpos: status answer has %d bytes, want 4", len(b))
	}
	for i, c := range b {
		if c&0x93 != 0x12 {
			return Status{}, fmt.Errorf("escpos: status byte %d (DLE EOT %d) is %#02x, fixed bits wrong: not a status answer", i+1, i+1, c)
		}
	}
	return Status{
		Offline:         b[0]&0x08 != 0,
		CoverOpen:       b[1]&0x04 != 0,
		FeedButton:      b[1]&0x08 != 0,
		PaperOut:        b[1]&0x20 != 0 || b[3]&0x60 != 0,
		Error:           b[1]&0x40 != 0,
		CutterError:     b[2]&0x08 != 0,
		Unrecoverable:   b[2]&0x20 != 0,
		AutoRecoverable: b[2]&0x40 != 0,
		PaperNearEnd:    b[3]&0x0C != 0,
	}, nil
}

// Bytes encodes s as the answers a printer in that state gives (the fixed
// bits set); test printers use it.
func (s Status) Bytes() []byte {
	b := []byte{0x12, 0x12, 0x12, 0x12}
	set := func(i int, on bool, bit byte) {
		if on {
			b[i] |= bit
		}
	}
	set(0, s.Offline, 0x08)
	set(1, s.CoverOpen, 0x04)
	set(1, s.FeedButton, 0x08)
	set(1, s.PaperOut, 0x20)
	set(1, s.Error, 0x40)
	set(2, s.CutterError, 0x08)
	set(2, s.Unrecoverable, 0x20)
	set(2, s.AutoRecoverable, 0x40)
	set(3, s.PaperNearEnd, 0x0C)
	set(3, s.PaperOut, 0x60)
	return b
}
