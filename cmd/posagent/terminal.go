package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"posagent/agent"
	"posagent/agent/counter"
	"posagent/agent/keypad"
	"posagent/display"
	"posagent/gateway"
	"posagent/gateway/upay"
	"posagent/printer"
	"posagent/provision"
	"posagent/storage"
)

// Terminal wires the counter (agent/counter: keys, screens, menus, PIN)
// to this process's engine, database, display, printer and status file.
// The logic lives in agent/counter; this is plumbing.
type Terminal struct {
	eng      *agent.Engine
	disp     display.Display // may be nil
	spool    *printer.Spooler
	log      *slog.Logger
	merchant string
	maxCents int64
	subject  string
	printQR  bool
	printRcp bool
	// statusPath gets a JSON snapshot (no secrets) after every change, so
	// `posagent status` can report while this process holds the database.
	statusPath  string
	terminalSN  string
	lastCheckin func() time.Time // for the status file; may be nil
	// hook, if set, sees every engine event after the screen (demo hints,
	// selftest).
	hook func(agent.Event)

	// Set by attach: what the menu needs besides the engine.
	db     *storage.DB
	gw     gateway.Gateway
	upay   *upay.Client // nil for gateways without check-in
	prefix string
	cfg    Config

	quit     chan struct{}
	quitOnce sync.Once

	// statusMu makes each status write whole and in order: the snapshot
	// is taken and written under it, so the file never interleaves two
	// writers' bytes and the last write holds the latest state.
	statusMu sync.Mutex

	mu      sync.Mutex
	c       *counter.Counter // made by Run
	early   []agent.Event    // events emitted before Run made the counter
	online  bool
	queued  int
	keypad  string
	printer string
}

func newTerminal(log *slog.Logger, merchant string, maxCents int64) (*Terminal, error) {
	if maxCents < 0 {
		return nil, fmt.Errorf("terminal: maximum amount %d cents", maxCents)
	}
	return &Terminal{log: log, merchant: merchant, maxCents: maxCents, quit: make(chan struct{}),
		online: true, keypad: "none", printer: "none"}, nil
}

// attach gives the terminal the database, the gateway and the
// configuration, for the menu (refunds, reports, check-in, activation).
func (t *Terminal) attach(db *storage.DB, gw gateway.Gateway, upayClient *upay.Client, prefix string, cfg Config) {
	t.db, t.gw, t.upay, t.prefix, t.cfg = db, gw, upayClient, prefix, cfg
}

// Emit is the engine's event callback: it never blocks the engine and
// never drops an event.
func (t *Terminal) Emit(ev agent.Event) {
	t.mu.Lock()
	c := t.c
	if c == nil {
		t.early = append(t.early, ev)
	}
	t.mu.Unlock()
	if c != nil {
		c.Emit(ev)
	}
}

// Quit ends Run, as the demo's q key does.
func (t *Terminal) Quit() {
	t.quitOnce.Do(func() { close(t.quit) })
	t.mu.Lock()
	c := t.c
	t.mu.Unlock()
	if c != nil {
		c.Quit()
	}
}

// Run serves the counter until ctx ends or the Quit key is pressed.
func (t *Terminal) Run(ctx context.Context, keys <-chan keypad.Event) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := t.counter()
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.c = c
	early := t.early
	t.early = nil
	t.mu.Unlock()
	for _, ev := range early {
		c.Emit(ev)
	}
	engDone := make(chan error, 1)
	go func() { engDone <- t.eng.Run(ctx) }()
	go func() {
		select {
		case <-t.quit:
			c.Quit()
		case <-ctx.Done():
		}
	}()
	// The keypad's state goes to the status file; the keys to the counter.
	in := make(chan keypad.Event)
	go func() {
		defer close(in)
		for {
			select {
			case ev, ok := <-keys:
				if !ok {
					return
				}
				switch ev.Kind {
				case keypad.EventConnected:
					t.setDevice(&t.keypad, "connected")
				case keypad.EventDisconnected:
					t.setDevice(&t.keypad, "disconnected: "+errText(ev.Err))
				}
				select {
				case in <- ev:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	err = c.Run(ctx, in)
	cancel()
	<-engDone
	return err
}

// counter builds the counter from what serve set up.
func (t *Terminal) counter() (*counter.Counter, error) {
	o := counter.Options{
		Config: counter.Config{Merchant: t.merchant, Subject: t.subject, MaxCents: t.maxCents, Currency: t.cfg.Gateway.Currency},
		Print:  counter.PrintConfig{QR: t.printQR, Receipts: t.printRcp},
		Engine: t.eng, Prefix: t.prefix, Terminal: provision.MaskSN(t.terminalSN), Gateway: t.gw,
		Display: t.disp, Log: t.log,
		Hook: func(ev agent.Event) {
			t.mu.Lock()
			if ev.Kind == agent.EventQueued || ev.Kind == agent.EventOffline || ev.Kind == agent.EventOnline {
				t.queued = ev.Queued
			}
			switch ev.Kind {
			case agent.EventOffline:
				t.online = false
			case agent.EventOnline, agent.EventAwaitingPayment, agent.EventPaid:
				t.online = true
			}
			t.mu.Unlock()
			t.writeStatus(ev)
			if t.hook != nil {
				t.hook(ev)
			}
		},
		Shown: func(s display.Screen) {
			result := ""
			for _, f := range s.Facts {
				if f.Label == "result" {
					result = f.Value
				}
			}
			t.log.Debug("screen shown", "kind", s.Kind.String(), "order", s.OrderNo, "reason", s.Reason, "title", s.Title,
				"recovered", s.Recovered, "result", result)
		},
	}
	if t.spool != nil {
		o.Paper = func(j printer.Job) error {
			t.log.Debug("print queued", "job", j.ID)
			err := t.spool.Submit(j)
			if err != nil {
				t.setDevice(&t.printer, err.Error())
			}
			return err
		}
	}
	if t.db == nil {
		return nil, fmt.Errorf("terminal: no database attached")
	}
	o.Store = t.db
	o.Scan = t.db.Orders
	o.Refunds = t.db.Refunds // reports count refunds on the day they were made
	state := filepath.Dir(t.db.Path())
	o.PINs = counter.NewPINs(filepath.Join(state, counter.PINFile), nil)
	o.ZPath = filepath.Join(state, "zreport.json")
	o.Network = t.network
	if t.upay != nil {
		o.Checkin = func(ctx context.Context) error {
			creds, err := t.db.Credentials()
			if err != nil {
				return err
			}
			return provision.Checkin(ctx, t.db, t.upay, creds.DeviceID, time.Now())
		}
		o.Activate = t.activate
	}
	return counter.NewCounter(o)
}

// network is the menu's network and gateway status.
func (t *Terminal) network(ctx context.Context) []display.Fact {
	var facts []display.Fact
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLoopback() && ip.IP.To4() != nil {
				facts = append(facts, display.Fact{Label: "ip", Value: ip.IP.String()})
				break
			}
		}
	}
	if t.lastCheckin != nil {
		if at := t.lastCheckin(); !at.IsZero() {
			facts = append(facts, display.Fact{Label: "last_checkin", Value: at.Local().Format("01-02 15:04")})
		}
	}
	return facts
}

// vendorFile is where a technician leaves the vendor credentials for
// activation from the keypad (mode 0600); POSAGENT_VENDOR_FILE overrides.
const vendorFile = "/etc/posagent/vendor.txt"

// activate is commissioning from the keypad: the code the technician
// typed, the vendor credentials from the vendor file, the same
// provision.Provision as `posagent provision --force`; the running
// client then uses the new terminal's key.
func (t *Terminal) activate(ctx context.Context, code string) (printer.Commissioning, error) {
	path := os.Getenv("POSAGENT_VENDOR_FILE")
	if path == "" {
		path = vendorFile
	}
	vendor, err := provision.LoadVendor(path, os.Getenv, nil)
	if err != nil {
		return printer.Commissioning{}, err
	}
	vc, err := newUpayClient(t.cfg.Gateway, vendor.Configure(upay.Config{}))
	if err != nil {
		return printer.Commissioning{}, err
	}
	deviceID, err := provision.DeviceID(os.DirFS("/"))
	if err != nil {
		return printer.Commissioning{}, err
	}
	creds, err := provision.Provision(ctx, t.db, vc, provision.Params{Code: code, DeviceID: deviceID, Vendor: vendor,
		Force: true, OSInfo: provision.OSInfo(os.DirFS("/")), Log: t.log})
	if creds.TerminalSN == "" {
		return printer.Commissioning{}, err
	}
	t.upay.SetTerminal(creds.TerminalSN, creds.TerminalKey)
	t.mu.Lock()
	t.terminalSN = creds.TerminalSN
	t.mu.Unlock()
	// The support contact's QR (a URL, tel: or WeChat link) comes from the
	// installer's environment until the configuration has a key for it.
	cm := printer.Commissioning{Terminal: provision.MaskSN(creds.TerminalSN), Store: t.merchant, Gateway: t.cfg.Gateway.Kind,
		Version: version, SupportQR: os.Getenv("POSAGENT_SUPPORT_CONTACT")}
	// The doctor's summary: the same checks as `posagent doctor` (clock,
	// gateway, credentials, database, disk), from inside the service.
	checks := doctorChecks(t.cfg, t.db, nil, false)
	if err != nil {
		cm.Checks = append(cm.Checks, printer.Check{Name: "checkin", Detail: err.Error()})
	}
	for _, ch := range checks {
		cctx, cancel := context.WithTimeout(ctx, provision.CheckTimeout)
		r := ch.Run(cctx)
		cancel()
		cm.Checks = append(cm.Checks, printer.Check{Name: ch.Name, OK: r.OK, Detail: r.Detail})
	}
	return cm, nil
}

// show draws s at once (before Run: the demo's first frame).
func (t *Terminal) show(s display.Screen) {
	if s.Merchant == "" {
		s.Merchant = t.merchant
	}
	if t.disp == nil {
		return
	}
	if err := t.disp.Show(s); err != nil {
		t.log.Error("display", "err", err)
	}
	t.log.Debug("screen shown", "kind", s.Kind.String(), "order", s.OrderNo)
}

func (t *Terminal) setDevice(field *string, v string) {
	t.mu.Lock()
	*field = v
	name := "keypad"
	if field == &t.printer {
		name = "printer"
	}
	t.mu.Unlock()
	t.writeStatus(agent.Event{})
	// Logged once the status file says so: `posagent status` and the
	// doctor, which read that file, agree with this line.
	t.log.Debug("device", "device", name, "state", v)
}

// Status is what `posagent status` shows; never a secret.
type Status struct {
	UpdatedAt  time.Time `json:"updated_at"`
	PID        int       `json:"pid"`
	TerminalSN string    `json:"terminal_sn"` // masked
	Online     bool      `json:"online"`
	Queued     int       `json:"queued"`
	Current    string    `json:"current_order,omitempty"`
	Checkin    time.Time `json:"last_checkin,omitzero"`
	LastEvent  string    `json:"last_event,omitempty"`
	Keypad     string    `json:"keypad"`
	Printer    string    `json:"printer"`
}

func (t *Terminal) writeStatus(ev agent.Event) {
	if t.statusPath == "" {
		return
	}
	t.statusMu.Lock()
	defer t.statusMu.Unlock()
	t.mu.Lock()
	st := Status{UpdatedAt: time.Now().UTC().Round(time.Second), PID: os.Getpid(), TerminalSN: provision.MaskSN(t.terminalSN),
		Online: t.online, Queued: t.queued, Keypad: t.keypad, Printer: t.printer}
	c := t.c
	t.mu.Unlock()
	if c != nil {
		st.Current = c.Current()
	}
	if ev.Kind != 0 {
		st.LastEvent = ev.Kind.String() + " " + ev.Order.ClientSN
	}
	if t.lastCheckin != nil {
		st.Checkin = t.lastCheckin()
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := t.statusPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		os.Rename(tmp, t.statusPath)
	}
}

func statusPathFor(db string) string { return filepath.Join(filepath.Dir(db), "status.json") }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// channelName gives the payment channel in Latin letters for paper.
func channelName(c string) string { return counter.ChannelName(c) }
