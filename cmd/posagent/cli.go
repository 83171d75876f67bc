package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/display"
	"posagent/gateway"
	"posagent/gateway/upay"
	"posagent/printer"
	"posagent/provision"
	"posagent/storage"
)

func cmdProvision(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newFlags("provision", stderr)
	code := f.fs.String("code", "", "activation code from the merchant's back office (required)")
	vendorFile := f.fs.String("vendor-file", "", "file with vendor_sn, vendor_key, app_id (mode 0600); else POSAGENT_VENDOR_* or a prompt")
	force := f.fs.Bool("force", false, "provision again although this device is provisioned (order history is kept)")
	name := f.fs.String("name", "", "terminal name shown in the back office")
	if err := f.parse(args); err != nil {
		return err
	}
	if *code == "" {
		return usageError{errors.New("--code is required")}
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	if cfg.Gateway.Kind != "upay" {
		return fmt.Errorf("gateway.kind is %q: only Upay terminals are activated; %s credentials come from the config's key files", cfg.Gateway.Kind, cfg.Gateway.Kind)
	}
	vendor, err := provision.LoadVendor(*vendorFile, os.Getenv, prompter(stdin, stderr))
	if err != nil {
		return err
	}
	deviceID, err := provision.DeviceID(os.DirFS("/"))
	if err != nil {
		return err
	}
	db, err := openDBForCLI(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := newUpayClient(cfg.Gateway, vendor.Configure(upay.Config{}))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	creds, err := provision.Provision(ctx, db, c, provision.Params{Code: *code, DeviceID: deviceID, Vendor: vendor,
		Name: *name, OSInfo: provision.OSInfo(os.DirFS("/")), Force: *force})
	if err != nil && !errors.Is(err, provision.ErrFirstCheckin) {
		return err
	}
	fmt.Fprintf(stdout, "provisioned: terminal %s, device %s\n", provision.MaskSN(creds.TerminalSN), deviceID)
	if err != nil {
		fmt.Fprintf(stdout, "warning: %v\n", err)
	}
	return nil
}

// prompter asks on the terminal; a secret is read without echo where
// stdin is a terminal.
func prompter(stdin io.Reader, stderr io.Writer) func(label string, secret bool) (string, error) {
	r := bufio.NewReader(stdin)
	return func(label string, secret bool) (string, error) {
		fmt.Fprintf(stderr, "%s: ", label)
		if secret {
			if f, ok := stdin.(*os.File); ok {
				if restore, err := keypad.KeysFromTerminal(f); err == nil {
					defer func() { restore(); fmt.Fprintln(stderr) }()
				}
			}
		}
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("reading %s: %w", label, err)
		}
		return strings.TrimSpace(line), nil
	}
}

func cmdCheckin(args []string, stdout, stderr io.Writer) error {
	f := newFlags("checkin", stderr)
	cfg, err := f.parseLoad(args)
	if err != nil {
		return err
	}
	db, err := openDBForCLI(cfg)
	if errors.Is(err, storage.ErrLocked) {
		return viaService(cfg, http.MethodPost, "/checkin", nil, stdout)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	_, c, _, err := buildGateway(cfg.Gateway, db)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("gateway.kind %q has no check-in", cfg.Gateway.Kind)
	}
	creds, err := db.Credentials()
	if err != nil {
		return err
	}
	if err := provision.Checkin(context.Background(), db, c, creds.DeviceID, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checked in: terminal %s has a new key\n", provision.MaskSN(creds.TerminalSN))
	return nil
}

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	f := newFlags("status", stderr)
	cfg, err := f.parseLoad(args)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "posagent %s, gateway %s (%s)\n", version, cfg.Gateway.Kind, cfg.Gateway.URL)
	db, err := openDB(cfg.Terminal.Database, newLogger(LogConfig{Format: "text", Level: "error"}, io.Discard), 500*time.Millisecond)
	if errors.Is(err, storage.ErrLocked) {
		// The service is running and holds the database: report what it
		// last wrote about itself.
		b, rerr := os.ReadFile(statusPathFor(cfg.Terminal.Database))
		if rerr != nil {
			return fmt.Errorf("the service is running but wrote no status: %w", rerr)
		}
		var st Status
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("reading the service's status: %w", err)
		}
		on := "online"
		if !st.Online {
			on = "OFFLINE"
		}
		last := "never"
		if !st.Checkin.IsZero() {
			last = st.Checkin.Local().Format(time.DateTime)
		}
		fmt.Fprintf(stdout, "service:     running (pid %d), as of %s\nterminal:    %s\nlast check-in: %s\ngateway:     %s, %d queued\ncurrent:     %s\nlast event:  %s\nkeypad:      %s\nprinter:     %s\n",
			st.PID, st.UpdatedAt.Local().Format(time.DateTime), st.TerminalSN, last, on, st.Queued, st.Current, st.LastEvent, st.Keypad, st.Printer)
		return nil
	}
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stdout, "service:     not running")
	creds, err := db.Credentials()
	switch {
	case errors.Is(err, storage.ErrNotFound):
		fmt.Fprintln(stdout, "terminal:    NOT PROVISIONED (posagent provision --code <code>)")
	case err != nil:
		return err
	default:
		last := "never"
		if !creds.LastCheckin.IsZero() {
			last = creds.LastCheckin.Local().Format(time.DateTime)
		}
		fmt.Fprintf(stdout, "terminal:    %s (device %s), activated %s\nlast check-in: %s\n", provision.MaskSN(creds.TerminalSN), creds.DeviceID,
			creds.ActivatedAt.Local().Format(time.DateTime), last)
	}
	st, err := db.Stats()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "orders:      %d in all, %d open, %d queued\ndatabase:    %s (%d bytes, schema %d)\n",
		st.Orders, st.Pending, st.ByState[string(agent.Queued)], db.Path(), st.FileSize, st.SchemaVersion)
	for i, d := range cfg.Display {
		fmt.Fprintf(stdout, "display[%d]:  %s\n", i, d.Driver)
	}
	fmt.Fprintf(stdout, "keypad:      %s %s\nprinter:     %s %s\n", cfg.Keypad.Driver, cfg.Keypad.Port, orNone(cfg.Printer.Driver), cfg.Printer.Device)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func cmdOrders(args []string, stdout, stderr io.Writer) error {
	f := newFlags("orders", stderr)
	format := f.fs.String("format", "csv", "export format: csv or json")
	since := f.fs.String("since", "", "export/list orders from this day (2006-01-02, local time); default today")
	limit := f.fs.Int("limit", 50, "list at most this many")
	if err := f.parse(args); err != nil {
		return err
	}
	rest := f.fs.Args()
	if len(rest) == 0 {
		rest = []string{"list"}
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	filter := storage.Filter{}
	if *since != "" || rest[0] == "export" {
		day := time.Now()
		if *since != "" {
			if day, err = time.ParseInLocation(time.DateOnly, *since, time.Local); err != nil {
				return usageError{fmt.Errorf("--since %q: want 2006-01-02", *since)}
			}
		}
		y, m, d := day.Date()
		filter.Since = time.Date(y, m, d, 0, 0, 0, 0, time.Local)
	}
	db, err := openDBForCLI(cfg)
	if errors.Is(err, storage.ErrLocked) {
		return ordersViaService(cfg, rest, filter, *limit, *format, stdout)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	switch rest[0] {
	case "list":
		filter.Limit = *limit
		os, err := db.ListOrders(filter)
		if err != nil {
			return err
		}
		return storage.WriteOrderTable(stdout, os)
	case "show":
		if len(rest) != 2 {
			return usageError{errors.New("orders show <client_sn>")}
		}
		o, err := db.GetOrder(rest[1])
		if err != nil {
			return fmt.Errorf("order %s: %w", rest[1], err)
		}
		return storage.WriteOrderDetail(stdout, o)
	case "export":
		switch *format {
		case "csv":
			return db.ExportCSV(stdout, filter)
		case "json":
			return db.ExportJSON(stdout, filter)
		}
		return usageError{fmt.Errorf("--format %q: csv or json", *format)}
	}
	return usageError{fmt.Errorf("orders %q: list, show or export", rest[0])}
}

// ordersViaService asks the running service, which holds the database.
func ordersViaService(cfg Config, rest []string, f storage.Filter, limit int, format string, out io.Writer) error {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339))
	}
	switch rest[0] {
	case "list":
		q.Set("limit", strconv.Itoa(limit))
		return viaService(cfg, http.MethodGet, "/orders", q, out)
	case "show":
		if len(rest) != 2 {
			return usageError{errors.New("orders show <client_sn>")}
		}
		return viaService(cfg, http.MethodGet, "/orders/"+url.PathEscape(rest[1]), nil, out)
	case "export":
		if format != "csv" && format != "json" {
			return usageError{fmt.Errorf("--format %q: csv or json", format)}
		}
		q.Set("format", format)
		return viaService(cfg, http.MethodGet, "/export", q, out)
	}
	return usageError{fmt.Errorf("orders %q: list, show or export", rest[0])}
}

func cmdRefund(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newFlags("refund", stderr)
	yes := f.fs.Bool("yes", false, "do not ask for confirmation")
	if err := f.parse(args); err != nil {
		return err
	}
	rest := f.fs.Args()
	if len(rest) < 1 || len(rest) > 2 {
		return usageError{errors.New("refund <client_sn> [amount]")}
	}
	var cents int64
	if len(rest) == 2 {
		var err error
		if cents, err = keypad.ParseAmount(rest[1]); err != nil {
			return usageError{err}
		}
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	db, err := openDBForCLI(cfg)
	if errors.Is(err, storage.ErrLocked) {
		// The running service refunds, and prints the receipt.
		what := "the rest"
		if cents > 0 {
			what = agent.Yuan(cents)
		}
		if !*yes && !confirm(stdin, stderr, fmt.Sprintf("Refund %s of order %s?", what, rest[0])) {
			return errors.New("not confirmed; nothing was refunded")
		}
		return viaService(cfg, http.MethodPost, "/refund", url.Values{"client_sn": {rest[0]}, "amount": {strconv.FormatInt(cents, 10)}}, stdout)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := db.GetOrder(rest[0])
	if err != nil {
		return fmt.Errorf("order %s: %w", rest[0], err)
	}
	amount := cents
	if amount == 0 {
		amount = o.AmountCents - o.RefundedCents
	}
	if !*yes && !confirm(stdin, stderr, fmt.Sprintf("Refund %s of order %s (%s, paid %s)?", agent.Yuan(amount), o.ClientSN, o.State, agent.Yuan(o.AmountCents))) {
		return errors.New("not confirmed; nothing was refunded")
	}
	gw, _, prefix, err := buildGateway(cfg.Gateway, db)
	if err != nil {
		return err
	}
	ecfg, err := engineConfig(&cfg, cfg.Gateway.Kind, prefix)
	if err != nil {
		return err
	}
	eng := agent.New(ecfg, db, gw, agent.SystemClock{}, nil, nil)
	got, err := eng.Refund(context.Background(), o.ClientSN, cents)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "refunded: order %s is %s, %s refunded in all\n", got.ClientSN, got.State, agent.Yuan(got.RefundedCents))
	if cfg.Printer.Driver != "" && cfg.Terminal.PrintReceipts {
		if p, err := printer.Open(printerConfig(cfg.Printer)); err == nil {
			defer p.Close()
			if err := p.PrintReceipt(context.Background(), printer.Receipt{Kind: printer.Refunded, Merchant: cfg.Terminal.Merchant,
				AmountCents: got.AmountCents, RefundedCents: amount, At: time.Now(), ClientSN: got.ClientSN, SN: got.SN,
				TradeNo: got.TradeNo, Channel: channelName(got.Channel)}); err != nil {
				fmt.Fprintf(stderr, "warning: refund receipt not printed: %v\n", err)
			}
		}
	}
	return nil
}

// confirm asks a yes/no question; only "y" or "yes" is yes.
func confirm(stdin io.Reader, stderr io.Writer, question string) bool {
	fmt.Fprintf(stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

func cmdDoctor(args []string, stdout, stderr io.Writer) error {
	f := newFlags("doctor", stderr)
	cfg, err := f.parseLoad(args)
	if err != nil {
		return err
	}
	roots, err := httpRootCAs(cfg.Gateway.CAFile)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: gateway.NewTransport(roots)}
	checks := []provision.Check{
		provision.ClockCheck(time.Now, provision.DateRef(cfg.Gateway.URL, hc)),
		provision.GatewayReach(cfg.Gateway.URL, hc),
	}
	db, dberr := openDBForCLI(cfg)
	if dberr != nil {
		checks = append(checks, provision.DatabaseOpenError(cfg.Terminal.Database, dberr))
	} else {
		defer db.Close()
		checks = append(checks, provision.DatabaseCheck(db))
		if cfg.Gateway.Kind == "upay" {
			if c, err := newUpayClient(cfg.Gateway, upay.Config{}); err == nil {
				checks = append(checks, provision.CredentialsCheck(db, c))
			}
		}
	}
	checks = append(checks, provision.DiskCheck(filepath.Dir(cfg.Terminal.Database), 50<<20))
	if cfg.Keypad.Driver == "serial" {
		checks = append(checks, provision.DeviceCheck("keypad", func(ctx context.Context) error {
			p, err := keypad.OpenSerial(cfg.Keypad.Port, cfg.Keypad.Baud, time.Second)
			if err != nil {
				return err
			}
			return p.Close()
		}))
	}
	for i, dc := range cfg.Display {
		checks = append(checks, provision.DeviceCheck(fmt.Sprintf("display[%d] %s", i, dc.Driver), func(ctx context.Context) error {
			d, err := display.Open(dc)
			if err != nil {
				return err
			}
			if err := d.Show(display.Screen{Kind: display.Idle, Merchant: cfg.Terminal.Merchant}); err != nil {
				d.Close()
				return err
			}
			return d.Close()
		}))
	}
	if cfg.Printer.Driver != "" {
		checks = append(checks, provision.DeviceCheck("printer", func(ctx context.Context) error {
			p, err := printer.Open(printerConfig(cfg.Printer))
			if err != nil {
				return err
			}
			defer p.Close()
			st, err := p.Status(ctx)
			if err != nil {
				return err
			}
			return st.Err()
		}))
	}
	if !provision.RunChecks(context.Background(), checks, stdout) {
		return errSilent
	}
	return nil
}
