package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"posagent/gateway"
	"posagent/gateway/upay"
	"posagent/storage"
)

// GatewayName is what Provision stores in Credentials.Gateway.
const GatewayName = "upay"

// Errors Provision wraps, for errors.Is; the message says what to do.
var (
	// ErrAlreadyProvisioned: the database holds credentials and Force is off.
	ErrAlreadyProvisioned = errors.New("already provisioned")
	// ErrPendingOrders: Force was given while orders of the old terminal
	// are not final; the new terminal cannot query them.
	ErrPendingOrders = errors.New("orders of the current terminal are not final")
	// ErrCodeRefused: the gateway refused the activation code or a parameter.
	ErrCodeRefused = errors.New("activation refused")
	// ErrVendorRefused: the gateway refused the vendor signature.
	ErrVendorRefused = errors.New("vendor credentials refused")
	// ErrUnreachable: the request never reached the gateway.
	ErrUnreachable = errors.New("gateway unreachable")
	// ErrOutcomeUnknown: the request was sent but its answer was lost.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrFirstCheckin: the terminal was activated and stored, but the first
	// check-in failed. Provision returns the stored credentials with it.
	ErrFirstCheckin = errors.New("first check-in failed")
)

// Params is one provisioning run.
type Params struct {
	Code     string // activation code from the merchant's back office; never stored
	DeviceID string // from DeviceID
	// Vendor: AppID goes into the activate body; SN and Key sign it, and
	// must be the pair c was built with (upay.New(p.Vendor.Configure(cfg)):
	// the upay client takes its vendor pair only at construction).
	Vendor Vendor
	Name   string // terminal name shown in the back office (≤64), optional
	OSInfo string // os_info (≤64), optional; see OSInfo
	Force  bool   // replace existing credentials; orders and history are kept
	// AbandonPending lets Force proceed while orders of the old terminal
	// are not final. Only for a terminal whose keys the gateway no longer
	// accepts: those orders must then be settled with support by hand.
	AbandonPending bool
	Now            func() time.Time // default time.Now
	Log            *slog.Logger     // default: discard
}

// Provision activates this device as a new terminal and stores its
// credentials, then checks in once. The order of steps is the point:
//
//  1. refuse if credentials exist and !p.Force;
//  2. activate, signed with the vendor pair c was built with;
//  3. SaveCredentials (bbolt commit, fsync) before the key is used at all:
//     the answer is the only copy of it, and the code is spent;
//  4. c.SetTerminal with the stored pair;
//  5. Checkin, which rotates the key (and persists it first).
//
// If step 5 fails the terminal is still provisioned: Provision returns the
// stored credentials and an error wrapping ErrFirstCheckin (`posagent
// checkin` or the agent's daily check-in will catch up). Every other
// error returns zero Credentials and says what to try.
func Provision(ctx context.Context, db *storage.DB, c *upay.Client, p Params) (storage.Credentials, error) {
	if db == nil || c == nil {
		return storage.Credentials{}, errors.New("provision: a database and a gateway client are required")
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p.Code = strings.TrimSpace(p.Code)
	switch {
	case p.Code == "":
		return storage.Credentials{}, errors.New("provision: an activation code is required (posagent provision --code <code>)")
	case p.DeviceID == "":
		return storage.Credentials{}, errors.New("provision: a device id is required")
	case p.Vendor.AppID == "" || p.Vendor.SN == "" || p.Vendor.Key == "":
		return storage.Credentials{}, errors.New("provision: the vendor credentials (vendor_sn, vendor_key, app_id) are required; see LoadVendor")
	}

	old, err := db.Credentials()
	switch {
	case err == nil && !p.Force:
		return storage.Credentials{}, fmt.Errorf("provision: %w as terminal %s (device %s, since %s); use --force to provision again; order history is kept",
			ErrAlreadyProvisioned, MaskSN(old.TerminalSN), old.DeviceID, old.ActivatedAt.Local().Format("2006-01-02"))
	case err == nil:
		pending, err := db.PendingOrders()
		if err != nil {
			return storage.Credentials{}, fmt.Errorf("provision: %w", err)
		}
		if len(pending) > 0 && !p.AbandonPending {
			return storage.Credentials{}, fmt.Errorf("provision: %w: %d order(s) of terminal %s are still open (first: %s); let `posagent run` settle them before provisioning again, because the new terminal cannot ask the gateway about them",
				ErrPendingOrders, len(pending), MaskSN(old.TerminalSN), pending[0].ClientSN)
		}
		log.Warn("provision: replacing the terminal credentials; orders are kept",
			"old_terminal", MaskSN(old.TerminalSN), "open_orders_abandoned", len(pending))
	case !errors.Is(err, storage.ErrNotFound):
		return storage.Credentials{}, fmt.Errorf("provision: %w", err)
	}

	term, err := c.Activate(ctx, upay.ActivateRequest{
		AppID: p.Vendor.AppID, Code: p.Code, DeviceID: p.DeviceID, Name: p.Name, OSInfo: p.OSInfo,
	})
	if err != nil {
		return storage.Credentials{}, activateError(err, p.DeviceID)
	}

	now := p.Now()
	creds := storage.Credentials{
		Gateway: GatewayName, TerminalSN: term.SN, TerminalKey: term.Key,
		DeviceID: p.DeviceID, MerchantName: p.Name, ActivatedAt: now,
	}
	if err := db.SaveCredentials(creds); err != nil {
		// The code is spent and the key exists nowhere else: say so plainly.
		log.Error("provision: activated but could not store the terminal key", "terminal_sn", term.SN, "err", err)
		return storage.Credentials{}, fmt.Errorf("provision: the gateway activated terminal %s but its key could not be stored (%v); the code is used up: fix the storage problem, then provision again with a new code (support can disable terminal %s)",
			term.SN, err, term.SN)
	}
	c.SetTerminal(term.SN, term.Key)
	log.Info("provision: terminal activated", "terminal_sn", term.SN, "device_id", p.DeviceID)

	if err := Checkin(ctx, db, c, p.DeviceID, p.Now()); err != nil {
		stored, lerr := db.Credentials()
		if lerr != nil {
			stored = creds
		}
		return stored, fmt.Errorf("provision: terminal %s is provisioned, but %w: %w; run `posagent checkin` once the gateway is reachable",
			term.SN, ErrFirstCheckin, inner{err})
	}
	stored, err := db.Credentials()
	if err != nil {
		return storage.Credentials{}, fmt.Errorf("provision: terminal %s is provisioned, but reading it back failed: %w", term.SN, err)
	}
	return stored, nil
}

// activateError turns a gateway error on activate into what a technician
// can act on. Gateway errors carry no keys (the client never puts them in
// errors), so the cause is kept.
func activateError(err error, deviceID string) error {
	switch gateway.ClassOf(err) {
	case gateway.NotSent:
		if errors.Is(err, gateway.ErrInvalid) {
			return fmt.Errorf("provision: %w before sending: %w", ErrCodeRefused, err)
		}
		return fmt.Errorf("provision: %w", unreachable(err))
	case gateway.Rejected:
		if errors.Is(err, gateway.ErrAuth) {
			return fmt.Errorf("provision: %w: the gateway refused the vendor signature (%w); check vendor_sn and vendor_key", ErrVendorRefused, err)
		}
		return fmt.Errorf("provision: %w: %w; an activation code is usually good for one use and 7 days: check it, or ask for a new one", ErrCodeRefused, err)
	}
	return fmt.Errorf("provision: %w: the answer to activate was lost (%w), so the code may have been used: try again (a code with uses left works again); if the gateway then says the code is used up, ask support for the terminal just activated for device %s or for a new code",
		ErrOutcomeUnknown, err, deviceID)
}

// unreachable names the gateway URL from the transport error; callers
// add the "provision: ..." prefix.
func unreachable(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		where := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			where = u.Scheme + "://" + u.Host
		}
		return fmt.Errorf("%w: cannot reach the gateway at %s: %w", ErrUnreachable, where, ue.Err)
	}
	return fmt.Errorf("%w: cannot reach the gateway: %w", ErrUnreachable, err)
}

// MaskSN shortens a terminal serial for messages: "100…0012". Terminal
// serials are not secret, but a masked one in a message shown at the
// counter is enough to tell terminals apart.
func MaskSN(sn string) string {
	if len(sn) <= 8 {
		return sn
	}
	return sn[:3] + "…" + sn[len(sn)-4:]
}

// inner is a wrapped error of this package without its "provision: "
// prefix, for messages that already start with it.
type inner struct{ err error }

func (e inner) Error() string { return strings.TrimPrefix(e.err.Error(), "provision: ") }
func (e inner) Unwrap() error { return e.err }
