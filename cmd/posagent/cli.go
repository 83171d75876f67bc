package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"posagent/agent"
	"posagent/agent/keypad"
	"posagent/gateway/upay"
	"posagent/printer"
	"posagent/provision"
	"posagent/storage"
)

// cli holds what every command shares: the streams and the persistent
// flags, which cobra accepts before or after the subcommand.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	config         string
	sets           []string

	// loc is the shop's time zone, set by load.
	loc *time.Location
	// processZone: load may set time.Local (the binary's main; not tests
	// that call run beside their own goroutines).
	processZone bool
}

func versionLine() string {
	return fmt.Sprintf("posagent %s (commit %s) %s/%s%s %s", version, commit, runtime.GOOS, runtime.GOARCH, goarm(), runtime.Version())
}

// root is the command tree. Every command's help shows its arguments and
// subcommands; man pages and shell completions are generated from the same
// definitions (gen-docs).
func (c *cli) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "posagent",
		Short: "Payment terminal agent: QR sales through Upay, Alipay or Yedpay",
		Long: `posagent runs a counter payment terminal: a cashier types an amount on the
keypad, the customer scans the QR code on the screen or slip, the receipt
prints. Every order is written to the database before the gateway hears of
it, and an unknown outcome is resolved by asking about the same order again.

The configuration is /etc/posagent/posagent.toml; any key can be overridden
with --set section.key=value, before or after the command.`,
		Version:       versionLine(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&c.config, "config", DefaultConfigPath, "configuration file")
	root.PersistentFlags().StringArrayVar(&c.sets, "set", nil, "override a setting: section.key=value (repeatable)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddGroup(&cobra.Group{ID: "terminal", Title: "The terminal:"}, &cobra.Group{ID: "tech", Title: "Set-up and troubleshooting:"},
		&cobra.Group{ID: "shop", Title: "Orders and money:"})
	add := func(group string, cmds ...*cobra.Command) {
		for _, cmd := range cmds {
			cmd.GroupID = group
			root.AddCommand(cmd)
		}
	}
	add("terminal", c.runCmd(), c.demoCmd(), c.selftestCmd())
	add("tech", c.provisionCmd(), c.checkinCmd(), c.statusCmd(), c.doctorCmd(), c.pinCmd(), c.supportBundleCmd(), c.uploadLogCmd(), c.versionCmd())
	add("shop", c.ordersCmd(), c.refundCmd())
	root.AddCommand(c.genDocsCmd())
	root.SetHelpCommandGroupID("tech")
	root.SetCompletionCommandGroupID("tech")
	return root
}

// load reads the configuration. A missing default file is said, not hidden:
// a technician who mistyped nothing should know the defaults are in use.
func (c *cli) load(cmd *cobra.Command) (Config, error) {
	explicit := cmd.Flags().Changed("config")
	if !explicit {
		if _, err := os.Stat(c.config); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(c.stderr, "note: %s does not exist; using the built-in defaults and --set values\n", c.config)
		}
	}
	cfg, err := loadConfig(c.config, explicit, c.sets)
	if err != nil {
		return cfg, err
	}
	// Days and times on the command line and in its output are the
	// shop's (terminal.timezone), as on its receipts, whatever zone the Pi
	// was imaged with. The service passes the zone explicitly; a one-shot
	// command also makes it the process's zone (storage's tables print
	// local times), before any goroutine of its own reads the clock.
	c.loc = cfg.location()
	if c.processZone && cmd.Name() != "run" {
		time.Local = c.loc
	}
	return cfg, nil
}

// args checks the number of positional arguments as a usage error.
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) < min || len(a) > max {
			return usageError{fmt.Errorf("usage: %s", cmd.UseLine())}
		}
		return nil
	}
}

func (c *cli) runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "The terminal service: keypad, screen, printer and the sale engine",
		Long: `The terminal service (systemd runs it): keypad, screen, printer, the sale
engine, the daily check-in, and a control socket next to the database
through which the other commands reach the running service.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error { return c.cmdRun(cmd) },
	}
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Version, commit and platform",
		Args:  args(0, 0),
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(c.stdout, versionLine()) },
	}
}

// Database opens for one-shot commands.

// openReadOnly opens the database for a command that only reads: it never
// creates a file or a directory, and a path that does not exist is an
// error naming it.
func openReadOnly(cfg Config) (*storage.DB, error) {
	path := cfg.Terminal.Database
	db, err := storage.OpenReadOnly(path, &storage.Options{LockTimeout: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	var ce *storage.CorruptError
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, storage.ErrNotFound):
		return nil, missingDB(path)
	case errors.As(err, &ce):
		return nil, fmt.Errorf("the order database %s is damaged (%v); it was left in place: stop the service and run `posagent doctor`", path, plain(ce.Err))
	}
	return nil, err
}

// openExisting opens an existing database for a command that writes to it
// (refund, checkin): such commands create nothing either.
func openExisting(cfg Config) (*storage.DB, error) {
	if _, err := os.Stat(cfg.Terminal.Database); errors.Is(err, fs.ErrNotExist) {
		return nil, missingDB(cfg.Terminal.Database)
	}
	return openDBForCLI(cfg)
}

func missingDB(path string) error { return missingDBError(path) }

// missingDBError is a database path that does not exist; it is
// storage.ErrNotFound for errors.Is (the doctor's fix depends on it).
type missingDBError string

func (e missingDBError) Error() string {
	return fmt.Sprintf("the order database %s does not exist: check terminal.database in the configuration (the service creates it when it first runs; a new Upay terminal needs `posagent provision` first)", string(e))
}

func (e missingDBError) Unwrap() error { return storage.ErrNotFound }

// Commands.

func (c *cli) provisionCmd() *cobra.Command {
	var code, vendorFile, name string
	var force bool
	cmd := &cobra.Command{
		Use:   "provision --code CODE [--vendor-file FILE]",
		Short: "Activate this device at Upay (once, in the field)",
		Long: `Activate this device at Upay with an activation code from the merchant's back
office. The vendor credentials come from --vendor-file (mode 0600), the
POSAGENT_VENDOR_SN / POSAGENT_VENDOR_KEY / POSAGENT_VENDOR_APP_ID variables,
or a prompt; they are never stored. Alipay and Yedpay terminals need no
activation: their credentials are the key and token files in the config.`,
		Example: "  posagent provision --code 12345678 --vendor-file /root/vendor.txt",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if code == "" {
				return usageError{errors.New("--code is required")}
			}
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			return c.provision(cfg, code, vendorFile, name, force)
		},
	}
	cmd.Flags().StringVar(&code, "code", "", "activation code from the merchant's back office (required)")
	cmd.Flags().StringVar(&vendorFile, "vendor-file", "", "file with vendor_sn, vendor_key, app_id (mode 0600); else POSAGENT_VENDOR_* or a prompt")
	cmd.Flags().BoolVar(&force, "force", false, "provision again although this device is provisioned (order history is kept)")
	cmd.Flags().StringVar(&name, "name", "", "terminal name shown in the back office")
	return cmd
}

func (c *cli) provision(cfg Config, code, vendorFile, name string, force bool) error {
	if cfg.Gateway.Kind != "upay" {
		return fmt.Errorf("gateway.kind is %q: only Upay terminals are activated; %s credentials come from the files named in the configuration (see `posagent doctor`)", cfg.Gateway.Kind, cfg.Gateway.Kind)
	}
	vendor, err := provision.LoadVendor(vendorFile, os.Getenv, prompter(c.stdin, c.stderr))
	if err != nil {
		return err
	}
	deviceID, err := provision.DeviceID(os.DirFS("/"))
	if err != nil {
		return err
	}
	db, err := openDBForCLI(cfg) // provision creates the database
	if err != nil {
		return err
	}
	defer db.Close()
	cl, err := newUpayClient(cfg.Gateway, vendor.Configure(upay.Config{}))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	creds, err := provision.Provision(ctx, db, cl, provision.Params{Code: code, DeviceID: deviceID, Vendor: vendor,
		Name: name, OSInfo: provision.OSInfo(os.DirFS("/")), Force: force})
	if err != nil && !errors.Is(err, provision.ErrFirstCheckin) {
		return err
	}
	fmt.Fprintf(c.stdout, "provisioned: terminal %s, device %s\n", provision.MaskSN(creds.TerminalSN), deviceID)
	if err != nil {
		fmt.Fprintf(c.stdout, "warning: %s\n", plain(err))
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

func (c *cli) checkinCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "checkin",
		Short: "Rotate the Upay terminal key now (the service does it daily)",
		Args:  args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			if cfg.Gateway.Kind != "upay" {
				return fmt.Errorf("gateway.kind is %q: only Upay terminals check in", cfg.Gateway.Kind)
			}
			db, err := openExisting(cfg)
			if errors.Is(err, storage.ErrLocked) {
				return viaService(cfg, http.MethodPost, "/checkin", nil, c.stdout)
			}
			if err != nil {
				return err
			}
			defer db.Close()
			_, cl, _, err := buildGateway(cfg.Gateway, db)
			if err != nil {
				return err
			}
			creds, err := db.Credentials()
			if err != nil {
				return err
			}
			if err := provision.Checkin(context.Background(), db, cl, creds.DeviceID, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "checked in: terminal %s has a new key\n", provision.MaskSN(creds.TerminalSN))
			return nil
		},
	}
}

func (c *cli) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "The terminal at a glance: service, gateway, orders, devices",
		Long: `The terminal at a glance. While the service runs, status reports what the
service last wrote about itself; otherwise it reads the database (read-only).`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			return writeStatus(cfg, c.stdout)
		},
	}
}

// gatewayLine says who the terminal sells through, in each gateway's own
// terms: Upay terminals are activated; Alipay apps and Yedpay stores are
// configured with key and token files.
func gatewayLine(cfg Config) string {
	switch cfg.Gateway.Kind {
	case "alipay":
		return fmt.Sprintf("Alipay face-to-face, app %s (%s)", orNone(cfg.Gateway.AppID), cfg.Gateway.URL)
	case "yedpay":
		return fmt.Sprintf("Yedpay, store %s (%s)", orNone(cfg.Gateway.StoreID), cfg.Gateway.URL)
	}
	return fmt.Sprintf("Upay (%s)", cfg.Gateway.URL)
}

func writeStatus(cfg Config, w io.Writer) error {
	loc := cfg.location()
	fmt.Fprintf(w, "posagent %s, gateway %s\n", version, gatewayLine(cfg))
	db, err := openReadOnly(cfg)
	if errors.Is(err, storage.ErrLocked) {
		// The service is running and holds the database: report what it
		// last wrote about itself.
		b, rerr := os.ReadFile(statusPathFor(cfg.Terminal.Database))
		if rerr != nil {
			return fmt.Errorf("the service is running but wrote no status (%s)", statusPathFor(cfg.Terminal.Database))
		}
		var st Status
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("reading the service's status %s: %v", statusPathFor(cfg.Terminal.Database), err)
		}
		on := "online"
		if !st.Online {
			on = "OFFLINE"
		}
		fmt.Fprintf(w, "service:     running (pid %d), as of %s\n", st.PID, st.UpdatedAt.In(loc).Format(time.DateTime))
		if cfg.Gateway.Kind == "upay" {
			last := "never"
			if !st.Checkin.IsZero() {
				last = st.Checkin.In(loc).Format(time.DateTime)
			}
			fmt.Fprintf(w, "terminal:    %s\nlast check-in: %s\n", st.TerminalSN, last)
		}
		fmt.Fprintf(w, "gateway:     %s, %d queued\ncurrent:     %s\nlast event:  %s\nkeypad:      %s\nprinter:     %s\n",
			on, st.Queued, orNone(st.Current), orNone(st.LastEvent), st.Keypad, st.Printer)
		return nil
	}
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(w, "service:     not running")
	if cfg.Gateway.Kind == "upay" {
		creds, err := db.Credentials()
		switch {
		case errors.Is(err, storage.ErrNotFound):
			fmt.Fprintln(w, "terminal:    NOT PROVISIONED (posagent provision --code <code>)")
		case err != nil:
			return err
		default:
			last := "never"
			if !creds.LastCheckin.IsZero() {
				last = creds.LastCheckin.In(loc).Format(time.DateTime)
			}
			fmt.Fprintf(w, "terminal:    %s (device %s), activated %s\nlast check-in: %s\n", provision.MaskSN(creds.TerminalSN), creds.DeviceID,
				creds.ActivatedAt.In(loc).Format(time.DateTime), last)
		}
	}
	st, err := db.Stats()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "orders:      %d in all, %d open, %d queued\ndatabase:    %s (%d bytes, schema %d)\n",
		st.Orders, st.Pending, st.ByState[string(agent.Queued)], db.Path(), st.FileSize, st.SchemaVersion)
	for i, d := range cfg.Display {
		fmt.Fprintf(w, "display[%d]:  %s\n", i, d.Driver)
	}
	fmt.Fprintf(w, "keypad:      %s %s\nprinter:     %s %s\n", cfg.Keypad.Driver, cfg.Keypad.Port, orNone(cfg.Printer.Driver), cfg.Printer.Device)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// enumFlag is a string flag that refuses values outside its list when it
// is parsed, naming the allowed ones.
type enumFlag struct {
	v       string
	allowed []string
}

func (e *enumFlag) String() string { return e.v }
func (e *enumFlag) Type() string   { return strings.Join(e.allowed, "|") }
func (e *enumFlag) Set(s string) error {
	if !oneOf(s, e.allowed) {
		return fmt.Errorf("choose %s", listOr(e.allowed))
	}
	e.v = s
	return nil
}

// parseDay reads a local calendar day.
func parseDay(flag, s string, loc *time.Location) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s %q: write a day as 2026-11-25", flag, s)}
	}
	return d, nil
}

func (c *cli) ordersCmd() *cobra.Command {
	var limit int
	var since string
	orders := &cobra.Command{
		Use:   "orders",
		Short: "List, show, export or archive the orders",
		Long:  "List, show, export or archive the orders. Without a subcommand: list.",
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", a[0], cmd.CommandPath())}
			}
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list [--since DAY] [--limit N]",
		Short: "The most recent orders, newest first",
		Args:  args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.ordersList(cmd, since, limit)
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "list at most this many")
	list.Flags().StringVar(&since, "since", "", "orders from this day on (2026-11-25, local time)")
	orders.Flags().AddFlagSet(list.Flags())
	orders.RunE = list.RunE

	show := &cobra.Command{
		Use:   "show CLIENT_SN",
		Short: "One order with its history",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			db, err := openReadOnly(cfg)
			if errors.Is(err, storage.ErrLocked) {
				return orderNotFoundText(a[0], viaService(cfg, http.MethodGet, "/orders/"+url.PathEscape(a[0]), nil, c.stdout))
			}
			if err != nil {
				return err
			}
			defer db.Close()
			o, err := db.GetOrder(a[0])
			if err != nil {
				return orderError(a[0], err)
			}
			return storage.WriteOrderDetail(c.stdout, o)
		},
	}

	format := &enumFlag{v: "csv", allowed: []string{"csv", "json"}}
	var exportSince string
	export := &cobra.Command{
		Use:   "export [--format csv|json] [--since DAY]",
		Short: "The reconciliation export of one day's orders or more",
		Long: `The reconciliation export: every order from --since (a local day, default
today) to now, as CSV or JSON, for the merchant's bookkeeping.`,
		Example: "  posagent orders export --format csv --since 2026-11-25 > orders.csv",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.ordersExport(cmd, format.v, exportSince)
		},
	}
	export.Flags().Var(format, "format", "csv or json")
	export.Flags().StringVar(&exportSince, "since", "", "orders from this day on (2026-11-25, local time); default today")
	export.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]cobra.Completion{"csv", "json"}, cobra.ShellCompDirectiveNoFileComp))

	orders.AddCommand(list, show, export, c.archiveCmd())
	return orders
}

func (c *cli) ordersList(cmd *cobra.Command, since string, limit int) error {
	cfg, err := c.load(cmd)
	if err != nil {
		return err
	}
	f := storage.Filter{Limit: limit}
	if since != "" {
		if f.Since, err = parseDay("since", since, c.loc); err != nil {
			return err
		}
	}
	db, err := openReadOnly(cfg)
	if errors.Is(err, storage.ErrLocked) {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if !f.Since.IsZero() {
			q.Set("since", f.Since.Format(time.RFC3339))
		}
		return viaService(cfg, http.MethodGet, "/orders", q, c.stdout)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	return db.WriteOrderList(c.stdout, f) // streams: flat memory at any history
}

func (c *cli) ordersExport(cmd *cobra.Command, format, since string) error {
	cfg, err := c.load(cmd)
	if err != nil {
		return err
	}
	day := time.Now().In(c.loc)
	if since != "" {
		if day, err = parseDay("since", since, c.loc); err != nil {
			return err
		}
	}
	y, m, d := day.Date()
	f := storage.Filter{Since: time.Date(y, m, d, 0, 0, 0, 0, c.loc)}
	db, err := openReadOnly(cfg)
	if errors.Is(err, storage.ErrLocked) {
		return viaService(cfg, http.MethodGet, "/export", url.Values{"format": {format}, "since": {f.Since.Format(time.RFC3339)}}, c.stdout)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	if format == "json" {
		return db.ExportJSON(c.stdout, f)
	}
	return db.ExportCSV(c.stdout, f)
}

func (c *cli) archiveCmd() *cobra.Command {
	var before, dir string
	cmd := &cobra.Command{
		Use:   "archive [--before DAY] [--dir DIR]",
		Short: "Move final orders older than a day out of the live database",
		Long: `Move final orders created before DAY (default: storage.retention ago) into
monthly archive files (orders-2025-11.jsonl.gz) and compact the database.
Open orders and refunds not yet confirmed stay. Archived orders still show in
orders list, show and export. Works while the service runs (it archives).`,
		Example: "  posagent orders archive --before 2025-12-01",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			var day time.Time
			switch r, _ := cfg.retention(); {
			case before != "":
				if day, err = parseDay("before", before, c.loc); err != nil {
					return err
				}
			case r > 0:
				y, m, d := time.Now().Add(-r).In(c.loc).Date()
				day = time.Date(y, m, d, 0, 0, 0, 0, c.loc)
			default:
				return usageError{errors.New("--before is required (or set storage.retention), e.g. --before 2025-12-01")}
			}
			if dir == "" {
				dir = archiveDir(cfg)
			}
			db, err := openExisting(cfg)
			if errors.Is(err, storage.ErrLocked) {
				return viaService(cfg, http.MethodPost, "/archive", url.Values{"before": {day.Format(time.RFC3339)}, "dir": {dir}}, c.stdout)
			}
			if err != nil {
				return err
			}
			defer db.Close()
			res, err := db.Archive(day, dir)
			if err != nil {
				return err
			}
			fmt.Fprint(c.stdout, archiveText(res, day))
			return nil
		},
	}
	cmd.Flags().StringVar(&before, "before", "", "archive final orders created before this day (2025-12-01, local time)")
	cmd.Flags().StringVar(&dir, "dir", "", "archive directory (default: archive/ next to the database)")
	return cmd
}

func archiveDir(cfg Config) string {
	return filepath.Join(filepath.Dir(cfg.Terminal.Database), "archive")
}

func archiveText(res storage.ArchiveResult, before time.Time) string {
	return fmt.Sprintf("archived: %d orders from before %s (%d kept: open, or a refund not confirmed); database %d → %d bytes\n",
		res.Archived, before.Format(time.DateOnly), res.Kept, res.SizeBefore, res.SizeAfter)
}

// orderError says in plain words what went wrong reading one order.
func orderError(sn string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("order %s does not exist on this terminal", sn)
	}
	return fmt.Errorf("order %s: %s", sn, plain(err))
}

// orderNotFoundText rewrites the service's 404 text the same way.
func orderNotFoundText(sn string, err error) error {
	if err != nil && strings.Contains(err.Error(), "not found") {
		return fmt.Errorf("order %s does not exist on this terminal", sn)
	}
	return err
}

func (c *cli) refundCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "refund CLIENT_SN [AMOUNT]",
		Short: "Refund all or part of a paid order",
		Long: `Refund all or part of a paid order (AMOUNT in yuan, e.g. 6.25; without it,
all that is left). Everything is checked first — the order exists, it is
paid, the amount is not more than what is left — then it asks for
confirmation (--yes skips the question).`,
		Example: "  posagent refund T12345LZ0001 6.25\n  posagent refund T12345LZ0001 --yes",
		Args:    args(1, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			var cents int64
			if len(a) == 2 {
				var err error
				if cents, err = keypad.ParseAmount(a[1]); err != nil {
					var ae *keypad.AmountError
					if errors.As(err, &ae) {
						return usageError{fmt.Errorf("amount %q: %s", a[1], ae.Reason)}
					}
					return usageError{fmt.Errorf("amount %q: write yuan such as 6.25", a[1])}
				}
			}
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			return c.refund(cfg, a[0], cents, yes)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// refundable checks a refund the way the engine will, so that the question
// is never asked about a refund that cannot happen. It returns the amount.
func refundable(cfg *Config, o storage.Order, cents int64) (int64, error) {
	if s := agent.State(o.State); s != agent.Paid && s != agent.PartialRefunded {
		return 0, fmt.Errorf("order %s is %s, not paid: nothing to refund", o.ClientSN, strings.ReplaceAll(o.State, "_", " "))
	}
	left := o.AmountCents - o.RefundedCents
	if cents == 0 {
		cents = left
	}
	if cents > left {
		return 0, fmt.Errorf("order %s has %s left to refund (paid %s, refunded %s); %s is more than that",
			o.ClientSN, cfg.money(left), cfg.money(o.AmountCents), cfg.money(o.RefundedCents), cfg.money(cents))
	}
	if cents <= 0 {
		return 0, fmt.Errorf("order %s is refunded in full already", o.ClientSN)
	}
	return cents, nil
}

func (c *cli) refund(cfg Config, sn string, cents int64, yes bool) error {
	db, err := openExisting(cfg)
	if errors.Is(err, storage.ErrLocked) {
		// The running service refunds, and prints the receipt; it shows
		// the order first so that everything is checked before asking.
		var o storage.Order
		if err := serviceJSON(cfg, "/orders/"+url.PathEscape(sn)+"?format=json", &o); err != nil {
			return orderNotFoundText(sn, err)
		}
		amount, err := refundable(&cfg, o, cents)
		if err != nil {
			return err
		}
		if !yes && !confirm(c.stdin, c.stderr, refundQuestion(&cfg, o, amount)) {
			return errors.New("not confirmed; nothing was refunded")
		}
		return viaService(cfg, http.MethodPost, "/refund", url.Values{"client_sn": {sn}, "amount": {strconv.FormatInt(amount, 10)}}, c.stdout)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := db.GetOrder(sn)
	if err != nil {
		return orderError(sn, err)
	}
	amount, err := refundable(&cfg, o, cents)
	if err != nil {
		return err
	}
	if !yes && !confirm(c.stdin, c.stderr, refundQuestion(&cfg, o, amount)) {
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
	got, err := eng.Refund(context.Background(), o.ClientSN, amount)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "refunded: order %s is %s, %s refunded in all\n", got.ClientSN, got.State, cfg.money(got.RefundedCents))
	if cfg.Printer.Driver != "" && cfg.Terminal.PrintReceipts {
		if p, err := printer.Open(printerConfigFor(cfg)); err == nil {
			defer p.Close()
			if err := p.PrintReceipt(context.Background(), printer.Receipt{Kind: printer.Refunded, Merchant: cfg.Terminal.Merchant,
				AmountCents: got.AmountCents, RefundedCents: amount, At: time.Now(), ClientSN: got.ClientSN, SN: got.SN,
				TradeNo: got.TradeNo, Channel: channelName(got.Channel)}); err != nil {
				fmt.Fprintf(c.stderr, "warning: refund receipt not printed: %s\n", plain(err))
			}
		}
	}
	return nil
}

func refundQuestion(cfg *Config, o storage.Order, amount int64) string {
	return fmt.Sprintf("Refund %s of order %s (paid %s, %s refunded so far)?", cfg.money(amount), o.ClientSN,
		cfg.money(o.AmountCents), cfg.money(o.RefundedCents))
}

// confirm asks a yes/no question; only "y" or "yes" is yes.
func confirm(stdin io.Reader, stderr io.Writer, question string) bool {
	fmt.Fprintf(stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
