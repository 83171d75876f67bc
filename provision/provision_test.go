package provision_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/upay"
	"posagent/provision"
	"posagent/storage"
)

func TestProvisionHappyPath(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(t *testing.T) {
			b := newBed(t, useTLS)
			creds := b.provision("12345678")

			if creds.Gateway != "upay" || creds.DeviceID != testDeviceID || creds.MerchantName != "Counter 1" || !creds.ActivatedAt.Equal(b.now) {
				t.Errorf("creds = %v", creds)
			}
			// Activation answered key K0; the first check-in rotated it to K1:
			// the stored pair is (K1, prev K0), and K0 signed the check-in.
			act := b.requests(upay.PathActivate)
			chk := b.requests(upay.PathCheckin)
			if len(act) != 1 || len(chk) != 1 {
				t.Fatalf("%d activate, %d checkin requests; want 1 each", len(act), len(chk))
			}
			if !signedWith(act[0], testVendorKey) {
				t.Error("activate was not signed with the vendor key")
			}
			if creds.PrevKey == "" || creds.TerminalKey == creds.PrevKey || !signedWith(chk[0], creds.PrevKey) {
				t.Error("the first check-in was not signed with the activation key, or the key did not rotate")
			}
			if !creds.LastCheckin.Equal(b.now) {
				t.Errorf("LastCheckin = %v", creds.LastCheckin)
			}
			if h, _ := b.db.CheckinHistory(0); len(h) != 1 || !h[0].OK {
				t.Errorf("check-in history = %+v", h)
			}
			// The client now signs with the stored key, and the gateway takes it.
			_, err := b.c.Query(context.Background(), gateway.Ref{ClientSN: "NO-SUCH-ORDER"})
			if !errors.Is(err, gateway.ErrOrderNotFound) {
				t.Errorf("query after provisioning: %v, want order not found", err)
			}
			if q := b.requests(upay.PathQuery); len(q) != 1 || !signedWith(q[0], creds.TerminalKey) {
				t.Error("query not signed with the stored key")
			}
			// The key survives a restart: a new process with a new client.
			b.db.Close()
			b.db = b.open()
			stored, err := b.db.Credentials()
			if err != nil || stored.TerminalKey != creds.TerminalKey {
				t.Fatalf("after reopen: %v", err)
			}
			c := b.client()
			c.SetTerminal(stored.TerminalSN, stored.TerminalKey)
			if _, err := c.Query(context.Background(), gateway.Ref{ClientSN: "NO-SUCH-ORDER"}); !errors.Is(err, gateway.ErrOrderNotFound) {
				t.Errorf("query from a new process: %v", err)
			}
			fi, err := os.Stat(b.dbPath)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("database file mode %v, %v; want 0600", fi.Mode().Perm(), err)
			}
			noSecrets(t, []string{b.logs.String(), creds.String()}, testVendorKey, creds.TerminalKey, creds.PrevKey)
		})
	}
}

func TestProvisionTwiceNeedsForceAndKeepsOrders(t *testing.T) {
	b := newBed(t, false)
	first := b.provision("12345678")
	o := &storage.Order{AmountCents: 1250, State: "paid", Final: true, Gateway: "upay"}
	if err := b.db.CreateOrder(o, "T1-"); err != nil {
		t.Fatal(err)
	}
	b.sb.AddActivationCode("87654321", 1)

	_, err := provision.Provision(context.Background(), b.db, b.c, b.params("87654321"))
	if !errors.Is(err, provision.ErrAlreadyProvisioned) {
		t.Fatalf("second provision: %v, want ErrAlreadyProvisioned", err)
	}
	for _, s := range []string{"already provisioned as terminal " + provision.MaskSN(first.TerminalSN), "--force", "order history is kept"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if strings.Contains(err.Error(), first.TerminalSN) {
		t.Errorf("error %q shows the terminal serial unmasked", err)
	}
	if n := len(b.requests(upay.PathActivate)); n != 1 {
		t.Errorf("refused provisioning still sent activate (%d requests)", n)
	}

	// A forced run that fails leaves the working terminal alone.
	p := b.params("00000000")
	p.Force = true
	if _, err := provision.Provision(context.Background(), b.db, b.c, p); !errors.Is(err, provision.ErrCodeRefused) {
		t.Fatalf("forced, bad code: %v", err)
	}
	if c, _ := b.db.Credentials(); c.TerminalSN != first.TerminalSN || c.TerminalKey != first.TerminalKey {
		t.Fatal("a failed forced provisioning replaced the credentials")
	}
	p.Code = "87654321"
	second, err := provision.Provision(context.Background(), b.db, b.c, p)
	if err != nil {
		t.Fatal(err)
	}
	if second.TerminalSN == first.TerminalSN {
		t.Error("forced provisioning kept the old terminal")
	}
	if got, err := b.db.GetOrder(o.ClientSN); err != nil || got.AmountCents != 1250 {
		t.Errorf("order after re-provisioning: %v, %v", got, err)
	}
	if h, _ := b.db.CheckinHistory(0); len(h) != 2 {
		t.Errorf("check-in history has %d records, want both terminals' check-ins", len(h))
	}
	if !strings.Contains(b.logs.String(), "replacing the terminal credentials") {
		t.Error("forced provisioning was not logged")
	}
}

func TestProvisionForceRefusesWhileOrdersAreOpen(t *testing.T) {
	b := newBed(t, false)
	b.provision("12345678")
	o := &storage.Order{AmountCents: 990, State: "awaiting_payment", Gateway: "upay"}
	if err := b.db.CreateOrder(o, "T1-"); err != nil {
		t.Fatal(err)
	}
	b.sb.AddActivationCode("87654321", 1)
	p := b.params("87654321")
	p.Force = true
	_, err := provision.Provision(context.Background(), b.db, b.c, p)
	if !errors.Is(err, provision.ErrPendingOrders) || !strings.Contains(err.Error(), o.ClientSN) {
		t.Fatalf("err = %v, want ErrPendingOrders naming %s", err, o.ClientSN)
	}
	p.AbandonPending = true
	if _, err := provision.Provision(context.Background(), b.db, b.c, p); err != nil {
		t.Fatalf("with AbandonPending: %v", err)
	}
	if got, _ := b.db.GetOrder(o.ClientSN); got.State != "awaiting_payment" {
		t.Errorf("open order changed to %q", got.State)
	}
}

func TestProvisionErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("unknown code", func(t *testing.T) {
		b := newBed(t, false)
		_, err := provision.Provision(ctx, b.db, b.c, b.params("99999999"))
		if !errors.Is(err, provision.ErrCodeRefused) || !strings.Contains(err.Error(), "activation code not valid") || !strings.Contains(err.Error(), "ask for a new one") {
			t.Errorf("err = %v", err)
		}
		if _, err := b.db.Credentials(); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("credentials after a refused code: %v", err)
		}
	})

	t.Run("used code", func(t *testing.T) {
		b := newBed(t, false)
		b.provision("12345678")
		other := b.open2(t)
		_, err := provision.Provision(ctx, other, b.client(), b.params("12345678"))
		if !errors.Is(err, provision.ErrCodeRefused) || !strings.Contains(err.Error(), "already used") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("wrong vendor key", func(t *testing.T) {
		b := newBed(t, false)
		cfg := b.cfg
		cfg.VendorKey = "not-the-vendor-key"
		c, _ := upay.New(cfg)
		_, err := provision.Provision(ctx, b.db, c, b.params("12345678"))
		if !errors.Is(err, provision.ErrVendorRefused) || !strings.Contains(err.Error(), "vendor_key") {
			t.Errorf("err = %v", err)
		}
		noSecrets(t, []string{err.Error()}, "not-the-vendor-key")
	})

	t.Run("unreachable", func(t *testing.T) {
		b := newBed(t, false)
		b.srv.Close()
		_, err := provision.Provision(ctx, b.db, b.c, b.params("12345678"))
		if !errors.Is(err, provision.ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach the gateway at "+b.base+": ") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("key cannot be stored", func(t *testing.T) {
		b := newBed(t, false)
		b.db.Close()
		ro, err := storage.Open(b.dbPath, &storage.Options{ReadOnly: true, Logger: b.log})
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		_, err = provision.Provision(ctx, ro, b.c, b.params("12345678"))
		keys := b.issuedKeys()
		if err == nil || len(keys) != 1 || !strings.Contains(err.Error(), "the code is used up") || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("err = %v (%d keys issued)", err, len(keys))
		}
		if n := len(b.requests(upay.PathCheckin)); n != 0 {
			t.Errorf("an unstored key was used for %d check-ins", n)
		}
		noSecrets(t, []string{err.Error(), b.logs.String()}, keys[0])
	})

	t.Run("missing params", func(t *testing.T) {
		b := newBed(t, false)
		for _, mod := range []func(*provision.Params){
			func(p *provision.Params) { p.Code = " " },
			func(p *provision.Params) { p.DeviceID = "" },
			func(p *provision.Params) { p.Vendor.AppID = "" },
			func(p *provision.Params) { p.Vendor.Key = "" },
		} {
			p := b.params("12345678")
			mod(&p)
			if _, err := provision.Provision(ctx, b.db, b.c, p); err == nil || !strings.HasPrefix(err.Error(), "provision: ") {
				t.Errorf("err = %v", err)
			}
		}
		p := b.params("12345678")
		p.Name = strings.Repeat("店", 65)
		if _, err := provision.Provision(ctx, b.db, b.c, p); !errors.Is(err, provision.ErrCodeRefused) || !strings.Contains(err.Error(), "name is 65 characters") {
			t.Errorf("long name: %v", err)
		}
		if _, err := provision.Provision(ctx, nil, b.c, b.params("1")); err == nil {
			t.Error("nil db: no error")
		}
		if n := len(b.requests(upay.PathActivate)); n != 0 {
			t.Errorf("%d activate requests sent for bad params", n)
		}
	})
}

// open2 opens a second, empty database: another device.
func (b *bed) open2(t *testing.T) *storage.DB {
	db, err := storage.Open(t.TempDir()+"/other.db", &storage.Options{Logger: b.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A lost answer to activate: the code may have been used. A code with
// uses left works again; the sandbox then has two terminals for the
// device, of which the device knows one.
func TestProvisionLostActivationAnswer(t *testing.T) {
	for _, k := range []faults.Kind{faults.DropAfter, faults.Truncated, faults.Status500After} {
		t.Run(string(k), func(t *testing.T) {
			b := newBed(t, false)
			b.sb.AddActivationCode("55550000", 2)
			b.sb.Faults().Script(k)
			_, err := provision.Provision(context.Background(), b.db, b.c, b.params("55550000"))
			if !errors.Is(err, provision.ErrOutcomeUnknown) {
				t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
			}
			for _, s := range []string{"the code may have been used", "try again", "ask support", testDeviceID} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if _, err := b.db.Credentials(); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("credentials stored after a lost answer: %v", err)
			}
			creds, err := provision.Provision(context.Background(), b.db, b.c, b.params("55550000"))
			if err != nil {
				t.Fatalf("retry with a code that has uses left: %v", err)
			}
			// The lost answer used up the other use.
			_, err = provision.Provision(context.Background(), b.open2(t), b.client(), b.params("55550000"))
			if !errors.Is(err, provision.ErrCodeRefused) {
				t.Errorf("third use: %v, want refused", err)
			}
			noSecrets(t, []string{b.logs.String()}, creds.TerminalKey, creds.PrevKey, testVendorKey)
		})
	}
}

// Activated and stored, but the first check-in's answer is lost: the
// terminal is provisioned, the activation key stays in use, and the next
// check-in (signed with it) succeeds.
func TestProvisionFirstCheckinLost(t *testing.T) {
	b := newBed(t, false)
	b.sb.Faults().Script(faults.None, faults.DropAfter)
	creds, err := provision.Provision(context.Background(), b.db, b.c, b.params("12345678"))
	if !errors.Is(err, provision.ErrFirstCheckin) || !errors.Is(err, provision.ErrOutcomeUnknown) {
		t.Fatalf("err = %v, want ErrFirstCheckin wrapping ErrOutcomeUnknown", err)
	}
	if !strings.Contains(err.Error(), "is provisioned") || !strings.Contains(err.Error(), "posagent checkin") || strings.Count(err.Error(), "provision: ") != 1 {
		t.Errorf("error %q does not say the terminal is provisioned and what to run", err)
	}
	if creds.TerminalSN == "" || creds.PrevKey != "" {
		t.Fatalf("returned credentials %v, want the activation's (no rotation yet)", creds)
	}
	actKey := creds.TerminalKey
	if err := provision.Checkin(context.Background(), b.db, b.c, testDeviceID, b.now.Add(time.Minute)); err != nil {
		t.Fatalf("check-in after the lost one: %v", err)
	}
	chk := b.requests(upay.PathCheckin)
	if len(chk) != 2 || !signedWith(chk[0], actKey) || !signedWith(chk[1], actKey) {
		t.Error("both check-ins should be signed with the activation key")
	}
	now, _ := b.db.Credentials()
	if now.PrevKey != actKey || now.TerminalKey == actKey {
		t.Error("key not rotated by the second check-in")
	}
	noSecrets(t, []string{err.Error(), b.logs.String()}, actKey, now.TerminalKey, testVendorKey)
}
