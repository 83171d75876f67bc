package counter

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/creack/pty"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/display"
	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/upay"
	upaysandbox "posagent/gateway/upay/sandbox"
	"posagent/storage"
)

// BenchmarkKeyToQR measures issue 14's "key press → QR on screen" from
// the keypad's byte: the Enter bytes written to a pty (a real serial line
// as the keypad source reads it: go.bug.st/serial on the slave), through
// the decoder, the counter, the engine (write first, precreate on
// loopback to the Upay sandbox checking every signature, 20 ms of
// latency injected on each call) to the
// AwaitingPayment screen handed to the display. Each iteration also times
// a bare precreate on the same client, side by side, and the ratio is
// reported as key/bare (target ≤ 1.10). One sub-benchmark per line ending
// a keypad sends for Enter: CR only, CR LF, and the numpad's ESC O M.
func BenchmarkKeyToQR(b *testing.B) {
	for _, tc := range []struct{ name, enter string }{
		{"CR", "\r"}, {"CRLF", "\r\n"}, {"ESC-O-M", "\x1bOM"},
	} {
		b.Run(tc.name, func(b *testing.B) { benchKeyToQR(b, tc.enter) })
	}
}

func benchKeyToQR(b *testing.B, enter string) {
	sb := upaysandbox.New(upaysandbox.Options{ActivationCodes: map[string]int{"12345678": 1}})
	srv := httptest.NewServer(sb)
	b.Cleanup(srv.Close)
	sb.SetBaseURL(srv.URL)
	c, err := upay.New(sb.ClientConfig(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	term, err := c.Activate(context.Background(), upay.ActivateRequest{AppID: "bench", Code: "12345678", DeviceID: "dev-1"})
	if err != nil {
		b.Fatal(err)
	}
	c.SetTerminal(term.SN, term.Key)
	// 20 ms on every call, as agent's BenchmarkEnterToQR: a gateway is
	// never as near as loopback, and the ratio is about what the terminal
	// adds to the gateway's time.
	if err := sb.Faults().Configure(faults.Config{Seed: 1, Rates: map[faults.Kind]float64{faults.Latency: 1}, LatencyMS: 20}); err != nil {
		b.Fatal(err)
	}
	db, err := storage.Open(filepath.Join(b.TempDir(), "posagent.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })

	var cnt *Counter
	eng := agent.New(agent.Config{Prefix: "B"}, db, c, agent.SystemClock{}, nil, func(ev agent.Event) { cnt.Emit(ev) })
	shown := make(chan display.Screen, 1024)
	cnt, err = NewCounter(Options{Config: Config{Merchant: "Bench", MaxCents: 500000}, Engine: eng, Store: db,
		Display: recDisplay{shown}})
	if err != nil {
		b.Fatal(err)
	}
	master, slave, err := pty.Open()
	if err != nil {
		b.Fatal(err)
	}
	name := slave.Name()
	slave.Close()
	b.Cleanup(func() { master.Close() })
	src, err := keypad.NewSerial(keypad.Options{Port: name, ReadTimeout: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Open: func(context.Context) (io.ReadCloser, error) {
			return keypad.OpenSerial(name, 9600, 50*time.Millisecond)
		}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	keys := make(chan keypad.Event, 64)
	go src.Run(ctx, keys)
	done := make(chan error, 1)
	go func() { done <- cnt.Run(ctx, keys) }()
	b.Cleanup(func() { cancel(); <-done })
	wait := func(pred func(display.Screen) bool) {
		for {
			select {
			case s := <-shown:
				if pred(s) {
					return
				}
			case <-time.After(guard):
				b.Fatal("no screen")
			}
		}
	}
	wait(func(s display.Screen) bool { return s.Kind == display.Idle })

	var keyTotal, bareTotal, connTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The bare precreate: the gateway call alone, as Sale makes it.
		t0 := time.Now()
		if _, err := c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "bare" + time.Now().Format("150405.000000000"),
			AmountCents: 100, Subject: "bench", Operator: "bench"}); err != nil {
			b.Fatal(err)
		}
		bareTotal += time.Since(t0)

		t1 := time.Now()
		if _, err := master.Write([]byte("1" + enter)); err != nil {
			b.Fatal(err)
		}
		// Connecting is the screen the Enter key itself leads to: the
		// keypad's and the counter's share of the time, before the engine.
		wait(func(s display.Screen) bool { return s.Kind == display.Connecting })
		connTotal += time.Since(t1)
		wait(func(s display.Screen) bool { return s.Kind == display.AwaitingPayment })
		keyTotal += time.Since(t1)

		b.StopTimer()
		if err := eng.CancelActive(ctx); err != nil {
			b.Fatal(err)
		}
		wait(func(s display.Screen) bool { return s.Kind == display.Canceled })
		b.StartTimer()
	}
	b.ReportMetric(float64(keyTotal.Nanoseconds())/float64(b.N), "key-ns/op")
	b.ReportMetric(float64(bareTotal.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(connTotal.Nanoseconds())/float64(b.N), "key-to-connecting-ns/op")
	b.ReportMetric(float64(keyTotal)/float64(bareTotal), "key/bare")
}
