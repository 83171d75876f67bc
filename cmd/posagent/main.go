// Command posagent is the payment terminal agent: one static binary that
// owns the appliance. A newcomer can follow a sale from here:
//
//	main → cmdRun → serve: opens the database (storage), the gateway client
//	(gateway/upay), the sale engine (agent), displays, printer and keypad;
//	Terminal.Run turns keys into agent.Engine.Sale; the engine persists the
//	order, calls precreate and polls query (agent/engine.go); its events come
//	back to Terminal.engineEvent, which draws the QR (display) and prints
//	the receipt (printer).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/agent/metrics"
	"posagent/agent/watchdog"
	"posagent/display/bitmapfont"
	"posagent/printer"
	"posagent/provision"
	"posagent/storage"
)

// Stamped by the Makefile with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	if fp := os.Getenv("POSAGENT_FAILPOINT"); fp != "" {
		// For the crash test only: die at that point as a power cut would.
		agent.Failpoint = func(name string) {
			if name == fp {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	os.Exit(runCLI(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, true))
}

// run is the whole CLI: cobra parses (flags anywhere, --help on every
// command), one place turns errors into messages and exit codes: 0 done,
// 1 failed, 2 the command line was wrong.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runCLI(args, stdin, stdout, stderr, false)
}

// runCLI is run; processZone lets a command make the shop's time zone the
// process's (only the binary's main: a test calling run has goroutines of
// its own reading the clock).
func runCLI(args []string, stdin io.Reader, stdout, stderr io.Writer, processZone bool) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, processZone: processZone}
	root := c.root()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if len(args) == 0 {
		root.SetOut(stderr)
		root.Help()
		return 2
	}
	cmd, err := root.ExecuteC()
	return c.exit(cmd, err)
}

// exit prints err in the one style of this CLI and returns the exit code.
func (c *cli) exit(cmd *cobra.Command, err error) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp): // demo and selftest parse their own flags
		return 0
	case errors.Is(err, errSilent):
		return 1
	case errors.As(err, &ue) || isCobraUsage(err):
		fmt.Fprintf(c.stderr, "posagent: %s\n", plain(err))
		if cmd != nil {
			fmt.Fprintf(c.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return 2
	}
	fmt.Fprintf(c.stderr, "posagent: %s\n", plain(err))
	return 1
}

// isCobraUsage recognises cobra's own command-line errors, which come as
// plain errors.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "unknown flag") ||
		strings.HasPrefix(s, "unknown shorthand flag") || strings.Contains(s, "flag needs an argument") ||
		strings.HasPrefix(s, "invalid argument") || strings.HasPrefix(s, "required flag")
}

// internalPrefix matches the package names that errors carry inside the
// program (periph style, "storage: ...") and that mean nothing to a
// technician.
var internalPrefix = regexp.MustCompile(`(^|: |\n)(storage|keypad|provision|upay|alipay|yedpay|printer|display|agent|counter|config|toml): `)

// plain is err's message without internal prefixes.
func plain(err error) string {
	s := err.Error()
	for {
		t := internalPrefix.ReplaceAllString(s, "$1")
		if t == s {
			return s
		}
		s = t
	}
}

type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// errSilent: the command has said why already.
var errSilent = errors.New("failed")

func goarm() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				return " GOARM=" + s.Value
			}
		}
	}
	return ""
}

func (c *cli) cmdRun(cmd *cobra.Command) error {
	cfg, err := c.load(cmd)
	if err != nil {
		return err
	}
	stdin, stdout, stderr := c.stdin, c.stdout, c.stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, serveOpts{stdin: stdin, stdout: stdout, log: newLogger(cfg.Log, stderr)})
}

type serveOpts struct {
	stdin  io.Reader
	stdout io.Writer
	log    *slog.Logger
	keys   <-chan keypad.Event // replaces the configured keypad (selftest)
	hook   func(*Terminal, agent.Event)
	ready  func(*Terminal)
	stop   <-chan struct{} // closed: leave as if Quit was pressed
}

// serve runs the terminal until ctx ends or Quit is pressed. In-flight
// orders stay in the database and are reconciled on the next start.
func serve(ctx context.Context, cfg Config, o serveOpts) error {
	log := o.log
	if cfg.Terminal.Font != "" {
		if err := bitmapfont.SetSystemFont(cfg.Terminal.Font); err != nil {
			return fmt.Errorf("terminal.font: %s is not a usable font file: %w", cfg.Terminal.Font, errors.Unwrap(err))
		}
	}
	db, err := openDB(cfg.Terminal.Database, log, 2*time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	m, stopMetrics, err := startMetrics(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if m != nil {
		cfg.Gateway.wrap = func(rt http.RoundTripper) http.RoundTripper { return m.Transport(rt, cfg.Gateway.Kind) }
	}
	gw, upayClient, prefix, err := buildGateway(cfg.Gateway, db)
	if err != nil {
		return err
	}
	gw = observe(gw, m, cfg.Gateway.Kind) // errors by class for the metrics; nil m: gw as it is
	maxCents, _ := cfg.maxAmountCents()
	t, err := newTerminal(log, cfg.Terminal.Merchant, maxCents)
	if err != nil {
		return err
	}
	t.subject, t.printQR, t.printRcp = cfg.Terminal.Subject, cfg.Terminal.PrintQR, cfg.Terminal.PrintReceipts
	t.statusPath = statusPathFor(cfg.Terminal.Database)
	if creds, err := db.Credentials(); err == nil {
		t.terminalSN = creds.TerminalSN
		t.lastCheckin = func() time.Time {
			c, _ := db.Credentials()
			return c.LastCheckin
		}
	}
	ecfg, err := engineConfig(&cfg, cfg.Gateway.Kind, prefix)
	if err != nil {
		return err
	}
	var newest time.Time // a clock before the newest order is certainly wrong
	if st, err := db.Stats(); err == nil {
		newest = st.LastOrder
	}
	ecfg.ClockCheck = serviceClockGuard(cfg, newest, nil)
	t.eng = agent.New(ecfg, db, gw, agent.SystemClock{}, log, metricsEmit(m, cfg.Gateway.Kind, t.Emit))
	t.attach(db, gw, upayClient, prefix, cfg)
	if o.hook != nil {
		t.hook = func(ev agent.Event) { o.hook(t, ev) }
	}
	if t.disp, err = openDisplays(displayConfigs(cfg), o.stdout); err != nil {
		return err
	}
	if t.disp != nil {
		defer t.disp.Close() // blanks the panel: no stale QR on a stopped terminal
		m.SetDevice(metrics.Display, true)
	}
	if cfg.Printer.Driver != "" {
		p, err := printer.Open(printerConfigFor(cfg))
		if err != nil {
			return err
		}
		defer p.Close()
		t.printer = "configured"
		t.spool = printer.NewSpooler(p, printer.SpoolOptions{StatusEvery: time.Minute, OnEvent: func(ev printer.Event) {
			m.SetPaper(paperState(ev))
			if ev.Err != nil {
				log.Warn("printer", "job", ev.JobID, "err", ev.Err)
				t.setDevice(&t.printer, ev.Err.Error())
			} else {
				t.setDevice(&t.printer, "ready")
			}
			if ev.Kind == printer.Printed {
				log.Debug("printed", "job", ev.JobID) // one for each "print queued" that reached the paper
			}
		}})
		defer t.spool.Close()
	}
	keys := o.keys
	if keys == nil {
		var restore func()
		keys, restore, err = keypadSource(ctx, cfg.Keypad, log, o.stdin)
		if err != nil {
			return err
		}
		defer restore()
	}
	if upayClient != nil {
		creds, _ := db.Credentials()
		if !creds.LastCheckin.IsZero() {
			m.CheckedIn(cfg.Gateway.Kind, creds.LastCheckin)
		}
		go provision.RunDaily(ctx, agent.SystemClock{}, func(ctx context.Context) error {
			err := provision.Checkin(ctx, db, upayClient, creds.DeviceID, time.Now())
			if err == nil {
				m.CheckedIn(cfg.Gateway.Kind, time.Now())
			}
			return err
		}, log)
	}
	if m != nil {
		tick := time.NewTicker(metricsEvery)
		defer tick.Stop()
		go pollMetrics(ctx, m, db, statusPathFor(cfg.Terminal.Database), tick.C)
	}
	go watchdog.Run(ctx, watchdog.CheckerFunc(t.eng.Alive), watchdog.Options{Logger: log, Status: func() string {
		p, q, _ := t.eng.Pending()
		on := "online"
		if !t.eng.Online() {
			on = "OFFLINE"
		}
		return fmt.Sprintf("%s, %d open, %d queued", on, p, q)
	}})
	retention, _ := cfg.retention() // validated when the config was loaded
	u := &upkeep{db: db, log: log, retention: retention, dir: archiveDir(cfg), now: time.Now,
		damaged: func(error) {
			t.Emit(agent.Event{Kind: agent.EventError, Reason: "database damaged: call support"})
		}}
	go u.checkAfterCrash(ctx)
	archiveTick := time.NewTicker(24 * time.Hour)
	defer archiveTick.Stop()
	go u.archiveEvery(ctx, archiveTick.C)
	if err := serveControl(ctx, cfg, socketPath(cfg.Terminal.Database), db, t.eng, upayClient, log); err != nil {
		log.Warn("no control socket: orders, refund and checkin need the service stopped", "err", err)
	}
	log.Info("posagent running", "version", version, "gateway", cfg.Gateway.Kind, "database", db.Path())
	if o.ready != nil {
		o.ready(t)
	}
	if o.stop != nil {
		go func() {
			select {
			case <-o.stop:
				t.Quit()
			case <-ctx.Done():
			}
		}()
	}
	err = t.Run(ctx, keys)
	watchdog.Stopping()
	log.Info("posagent stopped; open orders are kept and reconciled at the next start")
	return err
}

// openDBForCLI opens the database for a one-shot command, with a short
// lock timeout and a hint when the service holds it.
func openDBForCLI(cfg Config) (*storage.DB, error) {
	db, err := openDB(cfg.Terminal.Database, slog.New(slog.DiscardHandler), 500*time.Millisecond)
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("%w\nthe running service holds the database; stop it first (systemctl stop posagent)", err)
	}
	return db, err
}
