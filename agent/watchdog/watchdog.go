// Package watchdog tells systemd that posagent is up and still working.
//
// The unit file runs the agent as Type=notify with WatchdogSec=. systemd
// then expects three kinds of message on the socket named by NOTIFY_SOCKET
// (sd_notify(3)):
//
//   - READY=1 once, when start-up is done (until then `systemctl start`
//     waits, and a unit ordered after posagent does not start);
//   - WATCHDOG=1 at least once per WatchdogSec, or systemd kills the
//     process with SIGABRT (a Go process prints every goroutine's stack on
//     SIGABRT, so the journal shows where it hung) and Restart=on-failure
//     starts it again;
//   - STATUS=<one line>, shown by `systemctl status posagent`.
//
// A watchdog that pings from a plain timer only proves that the Go runtime
// still schedules goroutines. A sale engine stuck on a lock or a hung bbolt
// write would be pinged forever and the terminal would stay dead until a
// technician came. So Run pings only after asking the engine (Checker) and
// getting a nil answer within a deadline: a hung engine stops the pings and
// systemd restarts the service, which reconciles every open order on start.
//
// Outside systemd (NOTIFY_SOCKET unset: a shell, tests, `posagent demo`)
// Run returns at once and does nothing.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Checker is what the watchdog asks before each ping. The sale engine
// implements it: Alive returns nil once the engine's own loop has answered,
// an error saying what is wrong otherwise. It should give up when ctx is
// done; if it does not (a real deadlock), Run still stops pinging.
type Checker interface {
	Alive(ctx context.Context) error
}

// CheckerFunc lets a plain function be a Checker.
type CheckerFunc func(ctx context.Context) error

// Alive calls f(ctx).
func (f CheckerFunc) Alive(ctx context.Context) error { return f(ctx) }

// Clock is the part of a clock the watchdog needs. agent.SystemClock and
// agent.FakeClock both fit, so the engine's clock can be passed as is.
type Clock interface {
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options tune Run. The zero value is what production uses.
type Options struct {
	// Status, if set, returns the one-line status that `systemctl status`
	// shows while the engine is alive (e.g. "online, 0 queued"). It must not
	// contain secrets. Line breaks are replaced by spaces: a line break would
	// let the text forge other sd_notify assignments.
	Status func() string

	// Timeout bounds each Alive call. Zero means a quarter of WatchdogSec
	// (half the ping interval), so that even a slow answer leaves the ping
	// well inside WatchdogSec.
	Timeout time.Duration

	// StatusInterval is how often the engine is checked (and STATUS
	// updated) when systemd runs the unit without WatchdogSec. Zero means
	// 30 seconds.
	StatusInterval time.Duration

	// Logger gets one line when the engine stops answering and one when it
	// answers again. Nil means slog.Default().
	Logger *slog.Logger

	// Clock drives the interval and the deadline. Nil means the real clock;
	// tests pass a fake so nothing sleeps.
	Clock Clock
}

// errNoAnswer is what a check that ran past its deadline counts as.
var errNoAnswer = errors.New("no answer")

// Run sends READY=1, then every half WatchdogSec asks c whether the engine
// is alive and sends WATCHDOG=1 only when it answered nil within
// Options.Timeout. Each round also sends a STATUS line. Without WatchdogSec
// (WATCHDOG_USEC unset) it still checks and reports STATUS every
// Options.StatusInterval, but never pings.
//
// Run returns nil at once when NOTIFY_SOCKET is unset, nil when ctx is
// done, and an error when systemd's variables are malformed or READY=1
// cannot be sent. A failed STATUS or WATCHDOG send is logged and retried
// next round: if the pings really stopped, systemd restarts the service,
// which is the fail-safe outcome.
func Run(ctx context.Context, c Checker, opts Options) error {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	if c == nil {
		return errors.New("watchdog: nil Checker")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	clock := opts.Clock
	if clock == nil {
		clock = systemClock{}
	}

	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return fmt.Errorf("watchdog: reading WatchdogSec from the environment: %w", err)
	}
	ping := wd > 0
	every := opts.StatusInterval
	if every <= 0 {
		every = 30 * time.Second
	}
	if ping {
		// sd_watchdog_enabled(3) recommends half the timeout.
		every = wd / 2
	}
	timeout := opts.Timeout
	if timeout <= 0 || timeout > every {
		timeout = every / 2
	}

	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS="+oneLine(statusText(opts.Status))); err != nil {
		return fmt.Errorf("watchdog: sending READY=1 to %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}

	// pending carries the answer of a check that has been started and not
	// yet collected. A check that outlives its deadline stays pending: the
	// next round waits for that same call again rather than piling up a new
	// goroutine per round on a deadlocked engine.
	var pending chan error
	var cancelPending context.CancelFunc = func() {}
	defer func() { cancelPending() }()
	healthy := true

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(every):
		}

		if pending != nil {
			select {
			case <-pending:
				// The late answer of a check that missed its deadline and
				// was cancelled: stale, ask again.
				pending = nil
			default:
			}
		}
		if pending == nil {
			cctx, cancel := context.WithCancel(ctx)
			cancelPending = cancel
			pending = make(chan error, 1)
			go func(ch chan<- error) { ch <- c.Alive(cctx) }(pending)
		}

		var alive error
		select {
		case <-ctx.Done():
			return nil
		case alive = <-pending:
			pending = nil
			cancelPending()
		case <-clock.After(timeout):
			alive = errNoAnswer
			cancelPending() // a well-behaved Alive returns now; a deadlocked one stays pending
		}

		var msg string
		switch {
		case alive == nil:
			msg = "STATUS=" + oneLine(statusText(opts.Status))
			if ping {
				msg = daemon.SdNotifyWatchdog + "\n" + msg
			}
			if !healthy {
				log.Info("watchdog: engine answers again")
			}
		case errors.Is(alive, errNoAnswer):
			msg = "STATUS=" + oneLine(fmt.Sprintf("engine did not answer within %s", timeout))
			if healthy {
				log.Warn("watchdog: engine did not answer; not pinging systemd", "timeout", timeout, "watchdog", ping)
			}
		default:
			msg = "STATUS=" + oneLine("engine not alive: "+alive.Error())
			if healthy {
				log.Warn("watchdog: engine not alive; not pinging systemd", "err", alive, "watchdog", ping)
			}
		}
		healthy = alive == nil
		if _, err := daemon.SdNotify(false, msg); err != nil {
			log.Warn("watchdog: sd_notify failed", "socket", os.Getenv("NOTIFY_SOCKET"), "err", err)
		}
	}
}

// Stopping tells systemd that the service is shutting down on purpose, so a
// slow shutdown is not mistaken for a hang. It does nothing outside systemd.
func Stopping() error {
	if _, err := daemon.SdNotify(false, daemon.SdNotifyStopping+"\nSTATUS=stopping"); err != nil {
		return fmt.Errorf("watchdog: sending STOPPING=1: %w", err)
	}
	return nil
}

func statusText(f func() string) string {
	if f == nil {
		return "running"
	}
	return f()
}

// oneLine keeps a STATUS value on its line: sd_notify assignments are
// newline-separated, so "ok\nWATCHDOG=1" would otherwise be a ping.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), " ")
}
