package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"posagent/agent/keypad"
	"posagent/display"
	"posagent/gateway"
	"posagent/gateway/upay"
	"posagent/printer"
	"posagent/provision"
	"posagent/storage"
)

func (c *cli) doctorCmd() *cobra.Command {
	var deep bool
	cmd := &cobra.Command{
		Use:   "doctor [--deep]",
		Short: "Check clock, network, gateway, credentials, database, disk and devices",
		Long: `Check everything a sale needs, one line each, with what to do about a red
one: the clock against the gateway's, the way to the gateway (DNS, TCP, TLS,
HTTP), the credentials (a signed query for an order that cannot exist must be
answered "not found"), the database, the disk, and the keypad, displays and
printer.

While the service runs, it runs the checks itself and answers through its
control socket: the database and the devices are its own, and so is the
configuration it started with (restart it after editing the file). doctor
reads and changes nothing; it exits 1 when a line is red.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			if len(c.sets) > 0 {
				cfg.fromSet = true
			}
			ok, err := doctor(context.Background(), cfg, deep, provision.StyleFromEnv(os.Getenv), c.stdout)
			if err != nil {
				return err
			}
			if !ok {
				return errSilent
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&deep, "deep", false, "also verify every page and record of the database (slower on a long history)")
	return cmd
}

// doctor runs the checks here, or in the running service when it holds
// the database, and reports whether all were green.
func doctor(ctx context.Context, cfg Config, deep bool, style provision.Style, w io.Writer) (bool, error) {
	db, dberr := openReadOnly(cfg)
	if errors.Is(dberr, storage.ErrLocked) {
		ok, err := doctorViaService(cfg, deep, style, w)
		if err == nil {
			if cfg.fromSet {
				fmt.Fprintln(w, "note: the running service checked the configuration it started with; --set values apply to it only after a restart")
			}
			return ok, nil
		}
		fmt.Fprintf(w, "note: another process holds the database and the service's control socket does not answer (%s); checking from here\n", plain(err))
	} else if dberr == nil {
		defer db.Close()
	}
	checks := append(doctorChecks(cfg, db, dberr, deep), deviceChecks(cfg)...)
	return provision.RunChecksStyle(ctx, checks, w, style), nil
}

// doctorChecks are the checks that need no device: the CLI runs them with a
// read-only database, the service with its own.
func doctorChecks(cfg Config, db *storage.DB, dberr error, deep bool) []provision.Check {
	roots, err := httpRootCAs(cfg.Gateway.CAFile)
	if err != nil {
		return []provision.Check{{Name: "gateway", Run: func(context.Context) provision.Result {
			return provision.Result{Detail: plain(err), Fix: "point gateway.ca_file at a PEM file of the CA that signs the gateway's certificate, or leave it empty"}
		}}}
	}
	hc := &http.Client{Transport: gateway.NewTransport(roots)}
	probe := provision.ProbeURL(cfg.Gateway.Kind, cfg.Gateway.URL)
	checks := []provision.Check{
		provision.ClockCheck(time.Now, provision.DateRef(probe, hc)),
		provision.GatewayReach(probe, hc),
		credentialsCheck(cfg, db),
	}
	if db != nil {
		checks = append(checks, provision.DatabaseCheck(db))
		if deep {
			checks = append(checks, deepCheck(db))
		}
	} else {
		checks = append(checks, provision.DatabaseOpenError(cfg.Terminal.Database, dberr))
	}
	return append(checks, provision.DiskCheck(existingDir(cfg.Terminal.Database), 50<<20))
}

// existingDir is the nearest existing directory of path, for the disk
// check of a database that does not exist yet.
func existingDir(path string) string {
	dir := filepath.Dir(path)
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

// credentialsCheck proves each gateway's credentials with a harmless
// signed call whose expected refusal ("no such order") proves them.
func credentialsCheck(cfg Config, db *storage.DB) provision.Check {
	fail := func(detail, fix string) provision.Check {
		return provision.Check{Name: "credentials", Run: func(context.Context) provision.Result {
			return provision.Result{Detail: detail, Fix: fix}
		}}
	}
	switch cfg.Gateway.Kind {
	case "upay":
		if db == nil {
			return fail("the terminal's key is in the database, which could not be opened", "see the database check")
		}
		c, err := newUpayClient(cfg.Gateway, upay.Config{})
		if err != nil {
			return fail(plain(err), "check the [gateway] section of the configuration")
		}
		return provision.CredentialsCheck(db, c)
	case "alipay":
		who := "app " + orNone(cfg.Gateway.AppID)
		fix := "check gateway.app_id (the app's id in Alipay's open platform), gateway.app_private_key_file (the app's own private key) " +
			"and gateway.alipay_public_key_file (Alipay's public key, not the app's); the app must have face-to-face payment signed"
		gw, err := fileGateway(cfg.Gateway)
		if err != nil {
			return fail(plain(err), fix)
		}
		return provision.GatewayCredentialsCheck("Alipay", who, gw.Query, fix)
	case "yedpay":
		who := "token for store " + orNone(cfg.Gateway.StoreID)
		fix := "check gateway.access_token_file (the token from Yedpay's back office, one line, mode 0600) and gateway.store_id"
		gw, err := fileGateway(cfg.Gateway)
		if err != nil {
			return fail(plain(err), fix)
		}
		c := provision.GatewayCredentialsCheck("Yedpay", who, gw.Query, fix)
		run := c.Run
		c.Run = func(ctx context.Context) provision.Result {
			r := run(ctx)
			if r.OK {
				// Yedpay's lookup does not name the store: only a sale proves it.
				r.Detail += "; the store id is checked by the first sale"
			}
			return r
		}
		return c
	}
	return fail(fmt.Sprintf("gateway.kind %q", cfg.Gateway.Kind), "set gateway.kind to upay, alipay or yedpay")
}

// deepCheck runs the store's full verification: every page and every
// record, with its checksum.
func deepCheck(db *storage.DB) provision.Check {
	return provision.Check{Name: "database (deep)", Timeout: 10 * time.Minute, Run: func(ctx context.Context) provision.Result {
		start := time.Now()
		if err := db.Verify(ctx); err != nil {
			return provision.Result{Detail: plain(err), Fix: "stop the service, back up the file and restore a good copy; keep the damaged one for support"}
		}
		return provision.Result{OK: true, Detail: fmt.Sprintf("every page and record verified in %s", max(time.Since(start).Round(time.Millisecond), time.Millisecond))}
	}}
}

// deviceChecks open the configured devices; only for a terminal whose
// service is not running (it holds them otherwise).
func deviceChecks(cfg Config) []provision.Check {
	var checks []provision.Check
	if cfg.Keypad.Driver == "serial" {
		checks = append(checks, provision.DeviceCheck("keypad", func(ctx context.Context) error {
			p, err := keypad.OpenSerial(cfg.Keypad.Port, cfg.Keypad.Baud, time.Second)
			if err != nil {
				return errors.New(plain(err))
			}
			return p.Close()
		}))
	}
	for i, dc := range displayConfigs(cfg) {
		checks = append(checks, provision.DeviceCheck(fmt.Sprintf("display[%d] %s", i, dc.Driver), func(ctx context.Context) error {
			if dc.Driver == "term" {
				return nil // the console; drawing on it would garble the doctor's own output
			}
			d, err := display.Open(dc)
			if err != nil {
				return errors.New(plain(err))
			}
			if err := d.Show(display.Screen{Kind: display.Idle, Merchant: cfg.Terminal.Merchant}); err != nil {
				d.Close()
				return errors.New(plain(err))
			}
			return d.Close()
		}))
	}
	if cfg.Printer.Driver != "" {
		checks = append(checks, provision.DeviceCheck("printer", func(ctx context.Context) error {
			p, err := printer.Open(printerConfigFor(cfg))
			if err != nil {
				return errors.New(plain(err))
			}
			defer p.Close()
			st, err := p.Status(ctx)
			if err != nil {
				return errors.New(plain(err))
			}
			return st.Err()
		}))
	}
	return checks
}

// serviceDeviceChecks report the devices as the running service sees
// them, from the status it keeps (it holds the devices; opening them here
// would take them from the counter).
func serviceDeviceChecks(cfg Config) []provision.Check {
	read := func() (Status, error) {
		var st Status
		b, err := os.ReadFile(statusPathFor(cfg.Terminal.Database))
		if err != nil {
			return st, err
		}
		return st, json.Unmarshal(b, &st)
	}
	check := func(name string, state func(Status) string, good ...string) provision.Check {
		return provision.Check{Name: name, Run: func(context.Context) provision.Result {
			st, err := read()
			if err != nil {
				return provision.Result{Detail: "the service has not reported its devices yet", Fix: "run the doctor again in a few seconds"}
			}
			s := state(st)
			for _, g := range good {
				if s == g {
					return provision.Result{OK: true, Detail: s + " (as the running service sees it)"}
				}
			}
			return provision.Result{Detail: s + " (as the running service sees it)",
				Fix: fmt.Sprintf("check that the %s is plugged in and powered and the device path in the configuration; the service reopens it by itself", name)}
		}}
	}
	var checks []provision.Check
	if cfg.Keypad.Driver != "none" {
		checks = append(checks, check("keypad", func(s Status) string { return s.Keypad }, "connected"))
	}
	if cfg.Printer.Driver != "" {
		checks = append(checks, check("printer", func(s Status) string { return s.Printer }, "ready", "configured"))
	}
	return checks
}

// doctorViaService asks the running service to run the checks.
func doctorViaService(cfg Config, deep bool, style provision.Style, w io.Writer) (bool, error) {
	q := url.Values{}
	if deep {
		q.Set("deep", "1")
	}
	if style == provision.StyleASCII {
		q.Set("style", "ascii")
	}
	var buf strings.Builder
	resp, err := serviceCall(cfg, http.MethodGet, "/doctor", q, &buf)
	if err != nil {
		return false, err
	}
	fmt.Fprintln(w, "(checked by the running service)")
	io.WriteString(w, buf.String())
	return resp.Header.Get("X-Doctor") == "ok", nil
}

// serveDoctor is the control socket's GET /doctor: the service runs the
// checks with its own database, reports its devices, and says in the
// X-Doctor header whether all were green.
func serveDoctor(cfg Config, db *storage.DB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		style := provision.StyleUnicode
		if r.URL.Query().Get("style") == "ascii" {
			style = provision.StyleASCII
		}
		checks := append(doctorChecks(cfg, db, nil, r.URL.Query().Get("deep") == "1"), serviceDeviceChecks(cfg)...)
		var buf strings.Builder
		ok := provision.RunChecksStyle(r.Context(), checks, &buf, style)
		if ok {
			w.Header().Set("X-Doctor", "ok")
		} else {
			w.Header().Set("X-Doctor", "fail")
		}
		io.WriteString(w, buf.String())
	}
}
