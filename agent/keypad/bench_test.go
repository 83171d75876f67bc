package keypad

import (
	"context"
	"testing"
	"time"
)

// BenchmarkPtyEnter measures one key press through a pty (a serial line as
// OpenSerial opens it) to its Enter event, for each line ending a keypad
// sends. It is the keypad's share of "key press → QR" (issue 14): the
// kernel's pty hand-over, the read loop and the decoder. With the CR
// decided at once, CR-only costs what CR LF does.
func BenchmarkPtyEnter(b *testing.B) {
	for _, tc := range []struct{ name, enter string }{{"CR", "\r"}, {"CRLF", "\r\n"}, {"ESC-O-M", "\x1bOM"}} {
		b.Run(tc.name, func(b *testing.B) {
			master, name := newPty(b)
			src, err := NewSerial(Options{Port: name, ReadTimeout: 50 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			events := make(chan Event, 16)
			go src.Run(ctx, events)
			if ev := <-events; ev.Kind != EventConnected {
				b.Fatalf("first event %v", ev)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := master.Write([]byte(tc.enter)); err != nil {
					b.Fatal(err)
				}
				select {
				case ev := <-events:
					if ev.Kind != EventKey || ev.Key != Enter {
						b.Fatalf("got %v", ev)
					}
				case <-time.After(guard):
					b.Fatal("no Enter")
				}
			}
		})
	}
}
