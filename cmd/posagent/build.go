package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/display"
	"posagent/gateway"
	"posagent/gateway/alipay"
	"posagent/gateway/upay"
	"posagent/gateway/yedpay"
	"posagent/printer"
	"posagent/storage"
)

// newLogger returns the agent's logger: text on a terminal, JSON for the
// journal. Nothing secret is ever passed to it.
func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	format := cfg.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openDB opens the order database and explains the failures a technician
// can fix. A corrupt file has been moved aside by storage.Open; the agent
// refuses to start on a fresh one silently: it must be provisioned again
// or the file restored.
func openDB(path string, log *slog.Logger, timeout time.Duration) (*storage.DB, error) {
	db, err := storage.Open(path, &storage.Options{Logger: log, LockTimeout: timeout})
	var ce *storage.CorruptError
	switch {
	case err == nil:
		return db, nil
	case errors.As(err, &ce):
		return nil, fmt.Errorf("the order database %s is corrupt and was moved to %s (nothing was deleted).\n"+
			"Restore a good copy to %s, or provision the terminal again (posagent provision --code ... --force);\n"+
			"the orders in the moved file must then be reconciled with the gateway's back office: %w", ce.Path, ce.MovedTo, ce.Path, err)
	}
	return nil, err
}

// httpRootCAs is the system pool plus the configured extra CA file.
func httpRootCAs(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("gateway.ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("gateway.ca_file: %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// newUpayClient returns a Upay client for cfg, without terminal credentials.
func newUpayClient(cfg GatewayConfig, vendor upay.Config) (*upay.Client, error) {
	roots, err := httpRootCAs(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	vendor.BaseURL, vendor.RootCAs, vendor.Timeout = cfg.URL, roots, cfg.Timeout
	vendor.Transport = transport(cfg, roots)
	vendor.Payway, vendor.SubPayway = cfg.Payway, cfg.SubPayway
	return upay.New(vendor)
}

// buildGateway returns the configured gateway client and the client_sn
// prefix for this terminal. For Upay it needs the stored credentials.
func buildGateway(cfg GatewayConfig, db *storage.DB) (gateway.Gateway, *upay.Client, string, error) {
	st, err := db.Stats()
	if err != nil {
		return nil, nil, "", err
	}
	// The prefix makes client_sns unique forever on this device even when
	// the database is replaced: the counter restarts, the creation time
	// in the prefix does not repeat.
	epoch := strings.ToUpper(strconv.FormatInt(st.CreatedAt.Unix(), 36))
	switch cfg.Kind {
	case "upay":
		creds, err := db.Credentials()
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil, "", errors.New("this terminal is not provisioned: run posagent provision --code <activation code>")
		}
		if err != nil {
			return nil, nil, "", err
		}
		c, err := newUpayClient(cfg, upay.Config{TerminalSN: creds.TerminalSN, TerminalKey: creds.TerminalKey})
		if err != nil {
			return nil, nil, "", err
		}
		tail := creds.TerminalSN
		if len(tail) > 6 {
			tail = tail[len(tail)-6:]
		}
		return c, c, "T" + tail + epoch, nil
	case "alipay":
		c, err := fileGateway(cfg)
		return c, nil, "A" + epoch, err
	case "yedpay":
		c, err := fileGateway(cfg)
		return c, nil, "Y" + epoch, err
	}
	return nil, nil, "", fmt.Errorf("gateway.kind %q is not a gateway here", cfg.Kind)
}

// fileGateway is the client of a gateway whose credentials are files named
// in the configuration (Alipay, Yedpay): it needs no database.
func fileGateway(cfg GatewayConfig) (gateway.Gateway, error) {
	roots, err := httpRootCAs(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	switch cfg.Kind {
	case "alipay":
		return alipay.New(alipay.Config{BaseURL: cfg.URL, AppID: cfg.AppID, AppPrivateKeyFile: cfg.AppPrivateKeyFile,
			AlipayPublicKeyFile: cfg.AlipayPublicKeyFile, RootCAs: roots, Timeout: cfg.Timeout, Transport: transport(cfg, roots)})
	case "yedpay":
		token, err := readSecretFile(cfg.AccessTokenFile, "gateway.access_token_file")
		if err != nil {
			return nil, err
		}
		return yedpay.New(yedpay.Config{BaseURL: cfg.URL, StoreID: cfg.StoreID, AccessToken: token,
			GatewayID: yedpay.GatewayID(cfg.GatewayID), Currency: cfg.Currency, RootCAs: roots, Timeout: cfg.Timeout,
			Transport: transport(cfg, roots)})
	}
	return nil, fmt.Errorf("gateway.kind %q has no credential files", cfg.Kind)
}

// transport is the gateway clients' transport: nil (each client builds
// its own from RootCAs) unless the service wraps it for its metrics.
func transport(cfg GatewayConfig, roots *x509.CertPool) http.RoundTripper {
	if cfg.wrap == nil {
		return nil
	}
	return cfg.wrap(gateway.NewTransport(roots))
}

// readSecretFile reads a one-line secret from a file only its owner can read.
func readSecretFile(path, key string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s is required", key)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: %s is readable by others (mode %v); run chmod 600 %s", key, path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func engineConfig(cfg *Config, gwKind, prefix string) (agent.Config, error) {
	maxCents, err := cfg.maxAmountCents()
	if err != nil {
		return agent.Config{}, err
	}
	subject := cfg.Terminal.Subject
	if subject == "" {
		subject = cfg.Terminal.Merchant
	}
	return agent.Config{Gateway: gwKind, Prefix: prefix, Subject: subject, Operator: cfg.Terminal.Operator,
		MaxAmountCents: maxCents, PaymentWindow: cfg.Terminal.PaymentWindow, QueueTTL: cfg.Terminal.QueueTTL,
		CallTimeout: cfg.Gateway.Timeout, Seed: uint64(time.Now().UnixNano())}, nil
}

func openDisplays(cfgs []display.Config, out io.Writer) (display.Display, error) {
	var m display.Multi
	for i, c := range cfgs {
		if c.Driver == "term" && c.Out == nil {
			c.Out = out
		}
		d, err := display.Open(c)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("display[%d] (%s): %w", i, c.Driver, err)
		}
		m = append(m, d)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// printerConfigFor is the printer's configuration with the terminal's
// locale, time zone and the gateway's currency: receipts speak the shop's
// language and time whatever the Pi's own settings.
func printerConfigFor(cfg Config) printer.Config {
	pc := printerConfig(cfg.Printer)
	pc.Locale, pc.Location, pc.Currency = cfg.locale(), cfg.location(), cfg.currency()
	return pc
}

// displayConfigs are the [[display]] tables with the terminal's locale and
// time zone, which are not display keys.
func displayConfigs(cfg Config) []display.Config {
	out := make([]display.Config, len(cfg.Display))
	for i, d := range cfg.Display {
		d.Locale, d.TimeZone = cfg.locale(), cfg.location()
		out[i] = d
	}
	return out
}

func printerConfig(c PrinterConfig) printer.Config {
	return printer.Config{Driver: c.Driver, Device: c.Device, Baud: c.Baud, Parity: c.Parity, PaperMM: c.PaperMM,
		NativeQR: c.NativeQR, Charset: c.Charset, TextFont: c.TextFont, Cut: c.Cut, NoStatus: c.NoStatus}
}

// keypadSource starts the configured keypad; it returns nil for "none".
func keypadSource(ctx context.Context, c KeypadConfig, log *slog.Logger, stdin io.Reader) (<-chan keypad.Event, func(), error) {
	var km *keypad.Keymap
	if c.Keymap != nil {
		var err error
		if km, err = keypad.ParseKeymap(c.Keymap); err != nil {
			return nil, nil, fmt.Errorf("keypad.keymap: %w", err)
		}
	}
	opts := keypad.Options{Port: c.Port, VID: c.VID, PID: c.PID, Baud: c.Baud, Keymap: km, Logger: log}
	var src *keypad.Source
	restore := func() {}
	switch c.Driver {
	case "none":
		return nil, restore, nil
	case "stdin":
		if f, ok := stdin.(*os.File); ok {
			if r, err := keypad.KeysFromTerminal(f); err == nil {
				restore = func() { r() }
			}
		}
		src = keypad.NewReader(stdin, opts)
	default:
		var err error
		if src, err = keypad.NewSerial(opts); err != nil {
			return nil, nil, err
		}
	}
	ch := make(chan keypad.Event, 64)
	go func() {
		if err := src.Run(ctx, ch); err != nil && ctx.Err() == nil {
			log.Error("keypad", "err", err)
		}
		close(ch)
	}()
	return ch, restore, nil
}
