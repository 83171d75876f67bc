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
	"sync"
	"syscall"
	"time"

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
// technician would install them) and returns a config for both.
func sandboxTerminal(ctx context.Context, dir, listen, kind string, log *slog.Logger) (Config, payerSandbox, string, error) {
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
	cfg := defaultConfig()
	cfg.Terminal.Merchant = "posagent demo"
	cfg.Terminal.Database = filepath.Join(dir, "posagent.db")
	cfg.Gateway.Kind = kind
	cfg.Gateway.URL = base
	cfg.Keypad.Driver = "none"
	cfg.Printer = PrinterConfig{Driver: "file", Device: filepath.Join(dir, "printer.escpos")}
	cfg.Terminal.PrintReceipts = true
	cfg.Terminal.PrintQR = true // the QR slip too, as on a counter without a customer screen
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

func cmdDemo(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newFlags("demo", stderr)
	dir := f.fs.String("dir", "demo-out", "where the database, screen.png, printer output and log go")
	listen := f.fs.String("listen", "127.0.0.1:8480", "sandbox address (another free port is taken if busy)")
	autoPay := f.fs.Duration("auto-pay", 0, "the sandbox payer pays this long after the QR shows (0: you pay)")
	gw := f.fs.String("gateway", "upay", "which sandbox gateway: upay, alipay or yedpay")
	if err := f.parse(args); err != nil {
		return err
	}
	// Every signal that ends the demo ends it through serve's deferred
	// calls, which put the terminal back (echo, line editing): Ctrl-\
	// (SIGQUIT) would otherwise dump every goroutine and leave the shell
	// without echo, and a closed terminal window (SIGHUP) the same.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer stop()
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(*dir, "posagent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := newLogger(LogConfig{Format: "text", Level: "info"}, logf)
	cfg, sb, base, err := sandboxTerminal(ctx, *dir, *listen, *gw, log)
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
	hints := &hintDisplay{w: stdout, base: base, dir: *dir}
	var payOnce sync.Map
	err = serve(ctx, cfg, serveOpts{stdin: stdin, stdout: stdout, log: log,
		ready: func(t *Terminal) { t.disp = display.Multi{t.disp, hints}; t.show(display.Screen{Kind: display.Idle}) },
		hook: func(t *Terminal, ev agent.Event) {
			switch ev.Kind {
			case agent.EventAwaitingPayment:
				if *autoPay > 0 {
					if _, dup := payOnce.LoadOrStore(ev.Order.ClientSN, true); !dup {
						time.AfterFunc(*autoPay, func() { sb.Pay(ev.Order.ClientSN) })
					}
				}
			case agent.EventPaid, agent.EventRefunded, agent.EventLatePaid, agent.EventCanceled:
				renderPrinter(*dir)
			}
		}})
	// Reports, reprints and self-tests from the menu print too: the paper
	// as it stands at the end.
	renderPrinter(*dir)
	fmt.Fprintf(stdout, "\ndemo ended. Files in %s/: screen.png (last frame), printer.escpos and printer.png (paper), ledger.json (the gateway's view), posagent.log\n", *dir)
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
func cmdSelftest(args []string, stdout, stderr io.Writer) error {
	f := newFlags("selftest", stderr)
	timeout := f.fs.Duration("timeout", 2*time.Minute, "give up after this long")
	gw := f.fs.String("gateway", "upay", "which sandbox gateway: upay, alipay or yedpay")
	if err := f.parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "posagent-selftest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	log := newLogger(LogConfig{Format: "text", Level: "warn"}, stderr)
	cfg, sb, base, err := sandboxTerminal(ctx, dir, "127.0.0.1:0", *gw, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "selftest: %s sandbox at %s, database %s\n", *gw, base, cfg.Terminal.Database)
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
				fmt.Fprintf(stdout, "selftest: QR ready for order %s (%s)\n", ev.Order.ClientSN, agent.Yuan(ev.Order.AmountCents))
				if err := sb.Pay(ev.Order.ClientSN); err != nil {
					report(err)
				}
			case agent.EventPaid:
				fmt.Fprintf(stdout, "selftest: PAID order %s %s\n", ev.Order.ClientSN, agent.Yuan(ev.Order.AmountCents))
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
