// Package keypad turns the bytes a cashier's keypad sends into keys, and keys
// into an amount in cents.
//
// A counter terminal takes its amount from a small numeric keypad. Three kinds
// are common in the field:
//
//   - serial keypads (RS-232 or USB CDC/FTDI) that send one ASCII byte per key,
//     sometimes a short escape sequence for the function keys;
//   - USB keypads that enumerate as a keyboard, so their keys arrive on a
//     terminal (stdin) like any typing, including VT100 "application keypad"
//     sequences such as ESC O M for the numpad Enter;
//   - the developer's own keyboard during `posagent demo`.
//
// The package is split along those lines so that each part can be tested on
// its own:
//
//   - [Keymap] says which byte sequence means which [Key]. [DefaultKeymap]
//     covers ASCII keypads and terminals; [ParseKeymap] builds one from
//     configuration.
//   - [Decoder] turns an arbitrary byte stream into keys. It copes with
//     sequences split across reads, drops bytes that mean nothing (line noise,
//     a keypad at the wrong baud rate) and resynchronises on the next good
//     byte, and never holds more than [MaxSeqLen] bytes. A lone ESC is
//     ambiguous (Cancel, or the start of ESC O M?): it is resolved by the next
//     byte or by [Decoder.Flush], which [Source] calls after a short quiet time.
//   - [Entry] is the amount-entry state machine: keys in, display text and an
//     int64 amount in cents out, with a reason the cashier can read when the
//     input is refused. [ParseAmount] applies the same rules to a string for
//     the command line.
//   - [Source] reads a serial port (go.bug.st/serial) or any io.Reader and
//     delivers [Event]s: keys, and the port's state (connected, disconnected,
//     reconnecting) so the display can say "keypad unplugged".
//
// # Serial port pitfalls handled here
//
// go.bug.st/serial returns (0, nil) from Read when the read timeout expires;
// bufio.Reader and io.ReadFull either spin or stall on that, so [Source] reads
// the port directly and treats (0, nil) as "nothing yet". An unplugged USB
// adapter gives a PortClosed error (or EIO) and the library never reconnects:
// [Source] reopens the port with exponential backoff, and when the port is
// named by USB VID/PID/serial number it finds the adapter again after it
// re-enumerates under another /dev/ttyUSBn name.
//
// # Wiring
//
//	src, err := keypad.NewSerial(keypad.Options{Port: "/dev/ttyUSB0", Baud: 9600, Logger: log})
//	if err != nil { ... }
//	events := make(chan keypad.Event, 16)
//	go src.Run(ctx, events)
//	entry := keypad.NewEntry(keypad.EntryOptions{Max: 500000})
//	for ev := range events {
//		switch ev.Kind {
//		case keypad.EventKey:
//			cents, done, err := entry.Press(ev.Key)
//			...
//		case keypad.EventDisconnected:
//			// show "keypad unplugged"
//		}
//	}
package keypad
