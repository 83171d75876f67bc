package watchdog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"posagent/agent/watchdog"
)

// engine stands for the sale engine: its loop answers pings, so a nil
// answer proves the loop itself is turning, not just the Go runtime.
type engine struct{ ping chan chan struct{} }

func (e *engine) Alive(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case e.ping <- reply: // the engine's loop selects on e.ping between steps
	case <-ctx.Done():
		return errors.New("sale loop did not take the ping")
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return errors.New("sale loop took the ping but did not answer")
	}
}

// How `posagent run` wires the watchdog: start it once the engine is up,
// tell systemd when stopping on purpose.
func ExampleRun() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &engine{ping: make(chan chan struct{})}
	// ... open storage, start the engine's loop ...

	go func() {
		err := watchdog.Run(ctx, e, watchdog.Options{
			Status: func() string { return fmt.Sprintf("online, %d queued", 0) },
		})
		if err != nil {
			slog.Error("watchdog", "err", err) // systemd restarts us when the pings stop
		}
	}()

	<-ctx.Done()
	watchdog.Stopping()
	// ... drain the engine, close storage ...
}
