package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"posagent/agent"
	"posagent/agent/counter"
	"posagent/agent/keypad"
	"posagent/display"
	alipaysandbox "posagent/gateway/alipay/sandbox"
	"posagent/gateway/upay"
	"posagent/gateway/upay/sandbox"
	yedpaysandbox "posagent/gateway/yedpay/sandbox"
	"posagent/printer/preview"
	"posagent/provision"
)

// payerSandbox is what the demo needs of any of the sandboxes.
type payerSandbox interface {
	http.Handler
	Pay(id string) error
}

// sandboxTerminal starts an embedded sandbox gateway of the given kind,
// prepares a fresh terminal database in dir for it (for Upay: provisioned
// through activation and check-in; for Alipay and Yedpay: key files as a
// technician would install them) and returns a config for both. sets are
// the user's --set values (checked by sandboxSets): the terminal's
// settings (locale, merchant, payment window…) and the printer's model.
func sandboxTerminal(ctx context.Context, dir, listen, kind string, sets []string, log *slog.Logger) (Config, payerSandbox, string, error) {
	// The demo's own defaults come first so that the user's --set wins.
	cfg, err := loadConfig("", false, append([]string{"terminal.merchant=posagent demo",
		"terminal.print_receipts=true", "terminal.print_qr=true"}, sets...))
	if err != nil {
		return cfg, nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Config{}, nil, "", err
	}
	// The sandbox lives in memory: a database from an earlier run names a
	// terminal it no longer knows.
	for _, f := range []string{"posagent.db", "status.json", "printer.escpos"} {
		os.Remove(filepath.Join(dir, f))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return Config{}, nil, "", err
		}
	}
	base := "http://" + ln.Addr().String()
	cfg.Terminal.Database = filepath.Join(dir, "posagent.db")
	cfg.Gateway.Kind = kind
	cfg.Gateway.URL = base
	cfg.Keypad.Driver = "none"
	// The QR slip is printed too (terminal.print_qr above), as on a counter
	// without a customer screen; the paper goes to a file.
	cfg.Printer.Driver, cfg.Printer.Device = "file", filepath.Join(dir, "printer.escpos")
	cfg.Display = []display.Config{{Driver: "png", Path: filepath.Join(dir, "screen.png")}}

	var sb payerSandbox
	switch kind {
	case "upay":
		sb = sandbox.New(sandbox.Options{BaseURL: base, LedgerPath: filepath.Join(dir, "ledger.json")})
	case "alipay":
		asb := alipaysandbox.New(alipaysandbox.Options{BaseURL: base})
		sb = asb
		cc := asb.ClientConfig(base)
		cfg.Gateway.URL, cfg.Gateway.AppID = cc.BaseURL, cc.AppID
		if cfg.Gateway.AppPrivateKeyFile, cfg.Gateway.AlipayPublicKeyFile, err = asb.WriteClientKeys(dir); err != nil {
			return cfg, nil, "", err
		}
	case "yedpay":
		ysb := yedpaysandbox.New(yedpaysandbox.Options{BaseURL: base})
		sb = ysb
		cc := ysb.ClientConfig(base)
		cfg.Gateway.StoreID, cfg.Gateway.GatewayID, cfg.Gateway.Currency = cc.StoreID, int(cc.GatewayID), cc.Currency
		cfg.Gateway.AccessTokenFile = filepath.Join(dir, "yedpay-token")
		if err = os.WriteFile(cfg.Gateway.AccessTokenFile, []byte(cc.AccessToken+"\n"), 0o600); err != nil {
			return cfg, nil, "", err
		}
	default:
		return cfg, nil, "", usageError{fmt.Errorf("--gateway %q: upay, alipay or yedpay", kind)}
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	if usb, ok := sb.(*sandbox.Server); ok {
		if err := provisionDemo(ctx, cfg, usb, base, log); err != nil {
			return cfg, nil, "", err
		}
	}
	return cfg, sb, base, nil
}

// provisionDemo activates the demo terminal against the Upay sandbox.
func provisionDemo(ctx context.Context, cfg Config, sb *sandbox.Server, base string, log *slog.Logger) error {
	db, err := openDB(cfg.Terminal.Database, log, time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := upay.New(sb.ClientConfig(base))
	if err != nil {
		return err
	}
	if _, err := provision.Provision(ctx, db, c, provision.Params{Code: "12345678", DeviceID: "demo-device",
		Vendor: provision.Vendor{SN: "91800001", Key: "sandbox-vendor-key", AppID: "posagent-demo"}}); err != nil {
		return fmt.Errorf("provisioning against the sandbox: %w", err)
	}
	return nil
}

// demoOpts are demo's flags.
type demoOpts struct {
	dir, listen, gateway string
	autoPay              time.Duration
	sets                 []string
}

func (c *cli) demoCmd() *cobra.Command {
	o := demoOpts{}
	gw := &enumFlag{v: "upay", allowed: gatewayKinds}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The whole terminal against an embedded sandbox gateway",
		Long: `The whole terminal in this terminal window, against a sandbox gateway
inside the process: type an amount and Enter, pay in a browser or with
curl (the demo prints how), see the outcome; m opens the menu (PIN 1234),
q quits. The database, the last screen (screen.png), the paper
(printer.escpos, printer.png), the gateway's ledger and the log go to --dir.

The demo builds its own configuration around the sandbox and reads no
configuration file. --set changes the terminal's settings (terminal.*,
printer.* except driver and device, log.*, metrics.*); the gateway, the
database, the keypad and the displays are the demo's.`,
		Example: `  posagent demo
  posagent demo --gateway yedpay --set terminal.locale=en
  posagent demo --auto-pay 5s --set printer.charset=gb18030`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sets, err := c.sandboxSets(cmd)
			if err != nil {
				return err
			}
			o.gateway, o.sets = gw.v, sets
			return cmdDemo(o, c.stdin, c.stdout)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "demo-out", "where the database, screen.png, printer output and log go")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8480", "sandbox address (another free port is taken if busy)")
	cmd.Flags().DurationVar(&o.autoPay, "auto-pay", 0, "the sandbox payer pays this long after the QR shows (0: you pay)")
	cmd.Flags().Var(gw, "gateway", "which sandbox gateway")
	return cmd
}

// sandboxSets checks the global flags for demo and selftest: they read no
// configuration file, and the keys they set themselves cannot be set.
// Refusing says so; ignoring would leave a user wondering why nothing
// changed.
func (c *cli) sandboxSets(cmd *cobra.Command) ([]string, error) {
	if cmd.Flags().Changed("config") {
		return nil, usageError{fmt.Errorf("%s reads no configuration file (it builds its own around the sandbox): leave out --config, use --set for terminal settings", cmd.Name())}
	}
	for _, s := range c.sets {
		k, _, _ := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		for _, owned := range []string{"gateway.", "keypad.", "display", "terminal.database", "printer.driver", "printer.device"} {
			if strings.HasPrefix(k, owned) {
				return nil, usageError{fmt.Errorf("--set %s: %s sets that itself (the sandbox gateway is chosen with --gateway)", k, cmd.Name())}
			}
		}
	}
	return c.sets, nil
}

func cmdDemo(o demoOpts, stdin io.Reader, stdout io.Writer) error {
	// Every signal that ends the demo ends it through serve's deferred
	// calls, which put the terminal back (echo, line editing): Ctrl-\
	// (SIGQUIT) would otherwise dump every goroutine and leave the shell
	// without echo, and a closed terminal window (SIGHUP) the same.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer stop()
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(o.dir, "posagent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := newLogger(LogConfig{Format: "text", Level: "info"}, logf)
	cfg, sb, base, err := sandboxTerminal(ctx, o.dir, o.listen, o.gateway, o.sets, log)
	if err != nil {
		return err
	}
	// The menu's PINs, so the demo shows refunds and reports at the
	// keypad: supervisor 1234, technician 4321 (only in the demo's files).
	pins := filepath.Join(filepath.Dir(cfg.Terminal.Database), counter.PINFile)
	if err := counter.SetPIN(pins, counter.Supervisor, "1234"); err != nil {
		return err
	}
	if err := counter.SetPIN(pins, counter.Technician, "4321"); err != nil {
		return err
	}
	cfg.Keypad.Driver = "stdin"
	cfg.Display = append([]display.Config{{Driver: "term", Out: stdout}}, cfg.Display...)
	hints := &hintDisplay{w: stdout, base: base, dir: o.dir}
	var payOnce sync.Map
	err = serve(ctx, cfg, serveOpts{stdin: stdin, stdout: stdout, log: log,
		ready: func(t *Terminal) { t.disp = display.Multi{t.disp, hints}; t.show(display.Screen{Kind: display.Idle}) },
		hook: func(t *Terminal, ev agent.Event) {
			switch ev.Kind {
			case agent.EventAwaitingPayment:
				if o.autoPay > 0 {
					if _, dup := payOnce.LoadOrStore(ev.Order.ClientSN, true); !dup {
						time.AfterFunc(o.autoPay, func() { sb.Pay(ev.Order.ClientSN) })
					}
				}
			case agent.EventPaid, agent.EventRefunded, agent.EventLatePaid, agent.EventCanceled:
				renderPrinter(o.dir)
			}
		}})
	// Reports, reprints and self-tests from the menu print too: the paper
	// as it stands at the end.
	renderPrinter(o.dir)
	fmt.Fprintf(stdout, "\ndemo ended. Files in %s/: screen.png (last frame), printer.escpos and printer.png (paper), ledger.json (the gateway's view), posagent.log\n", o.dir)
	return err
}

// renderPrinter turns the file printer's bytes into printer.png.
func renderPrinter(dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "printer.escpos"))
	if err != nil || len(data) == 0 {
		return
	}
	out, err := os.Create(filepath.Join(dir, "printer.png"))
	if err != nil {
		return
	}
	defer out.Close()
	preview.Render(out, data, preview.Options{})
}

// hintDisplay prints what the demo user can do next, below the terminal
// display's frame.
type hintDisplay struct {
	w         io.Writer
	base, dir string
}

func (h *hintDisplay) Show(s display.Screen) error {
	switch s.Kind {
	case display.Idle, display.Entering, display.Error:
		fmt.Fprintf(h.w, "\r\nType an amount (e.g. 12.50) and Enter. c cancels a sale, m opens the menu (PIN 1234), q quits.\r\n")
	case display.PIN, display.Menu, display.Info, display.Report:
		fmt.Fprintf(h.w, "\r\nMenu: a digit picks an item, m moves down, Enter opens, c goes back.\r\n")
	case display.Checking:
		fmt.Fprintf(h.w, "\r\nOutcome unknown: Enter asks the gateway again, c cancels.\r\n")
	case display.LatePaid:
		fmt.Fprintf(h.w, "\r\nPaid after the sale was cancelled: Enter keeps it, r refunds it.\r\n")
	case display.AwaitingPayment:
		fmt.Fprintf(h.w, "\r\nPay: open %s in a browser (or scan the code above),\r\n  or run: curl -X POST %s/sandbox/orders/%s/pay\r\n  c cancels the sale.\r\n", s.QR, h.base, s.OrderNo)
	case display.Paid:
		fmt.Fprintf(h.w, "\r\nPAID. Receipt: %s/printer.png. Type the next amount, or q to quit.\r\n", h.dir)
	}
	return nil
}

func (h *hintDisplay) Close() error { return nil }

// cmdSelftest runs one complete sale inside this process: embedded
// sandbox, a real database in a temporary directory, the engine, a PNG
// display and a file printer; the sandbox payer pays when the QR shows.
// Technicians run it on a device; CI runs it on every ARM build under
// emulation.
func (c *cli) selftestCmd() *cobra.Command {
	var timeout time.Duration
	gw := &enumFlag{v: "upay", allowed: gatewayKinds}
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "One complete sale against an embedded sandbox; exits 0 if it was paid",
		Long: `One complete sale inside this process, unattended: an embedded sandbox
gateway, a real database in a temporary directory, the sale engine, a PNG
display and a file printer; the sandbox payer pays when the QR shows.
Exits 0 when the sale was paid and its receipt printed. It touches no
device and no file of the installed terminal.

Like demo, it reads no configuration file; --set changes the terminal's
settings (terminal.*, printer.* except driver and device).`,
		Example: `  posagent selftest
  posagent selftest --gateway alipay --timeout 30s`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sets, err := c.sandboxSets(cmd)
			if err != nil {
				return err
			}
			return cmdSelftest(gw.v, sets, timeout, c.stdout, c.stderr)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	cmd.Flags().Var(gw, "gateway", "which sandbox gateway")
	return cmd
}

func cmdSelftest(gw string, sets []string, timeout time.Duration, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "posagent-selftest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	log := newLogger(LogConfig{Format: "text", Level: "warn"}, stderr)
	cfg, sb, base, err := sandboxTerminal(ctx, dir, "127.0.0.1:0", gw, sets, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "selftest: %s sandbox at %s, database %s\n", gw, base, cfg.Terminal.Database)
	keys := make(chan keypad.Event, 8)
	var once sync.Once
	var result error = errors.New("timed out before the sale was paid")
	stopCh := make(chan struct{})
	report := func(err error) {
		once.Do(func() { result = err; close(stopCh) })
	}
	err = serve(ctx, cfg, serveOpts{stdout: io.Discard, log: log, keys: keys, stop: stopCh,
		ready: func(t *Terminal) {
			for _, k := range []keypad.Key{keypad.Digit1, keypad.Digit2, keypad.Dot, keypad.Digit5, keypad.Digit0, keypad.Enter} {
				keys <- keypad.Event{Kind: keypad.EventKey, Key: k}
			}
		},
		hook: func(t *Terminal, ev agent.Event) {
			switch ev.Kind {
			case agent.EventAwaitingPayment:
				fmt.Fprintf(stdout, "selftest: QR ready for order %s (%s)\n", ev.Order.ClientSN, cfg.money(ev.Order.AmountCents))
				if err := sb.Pay(ev.Order.ClientSN); err != nil {
					report(err)
				}
			case agent.EventPaid:
				fmt.Fprintf(stdout, "selftest: PAID order %s %s\n", ev.Order.ClientSN, cfg.money(ev.Order.AmountCents))
				report(nil)
			case agent.EventFailed, agent.EventCanceled, agent.EventQueued, agent.EventError:
				report(fmt.Errorf("sale ended %s: %s", ev.Kind, ev.Reason))
			}
		}})
	if err != nil {
		return err
	}
	if result != nil {
		return result
	}
	// The receipt goes through the spooler; serve waited for it on exit.
	if fi, err := os.Stat(filepath.Join(dir, "printer.escpos")); err != nil || fi.Size() == 0 {
		return errors.New("no receipt was printed")
	}
	fmt.Fprintln(stdout, "selftest: ok")
	return nil
}
