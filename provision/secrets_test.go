package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"posagent/gateway/faults"
	"posagent/provision"
)

// Every path that produces text — errors, logs, Stringers, doctor lines —
// is driven through activation, lost answers, refusals, re-provisioning
// and a stale key, and then searched for the vendor key and for every
// terminal key the gateway ever delivered.
func TestSecretsNeverPrinted(t *testing.T) {
	ctx := context.Background()
	b := newBed(t, true)
	var texts []string
	keep := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}

	b.sb.AddActivationCode("11112222", 3)
	b.sb.Faults().Script(faults.DropAfter) // activate answer lost
	_, err := provision.Provision(ctx, b.db, b.c, b.params("11112222"))
	keep(err)
	b.sb.Faults().Script(faults.None, faults.Truncated) // first check-in answer cut
	creds, err := provision.Provision(ctx, b.db, b.c, b.params("11112222"))
	keep(err)
	texts = append(texts, creds.String(), fmt.Sprintf("%v %+v %#v", creds, creds, creds))
	_, err = provision.Provision(ctx, b.db, b.c, b.params("11112222")) // already provisioned
	keep(err)
	for range 2 {
		keep(provision.Checkin(ctx, b.db, b.c, testDeviceID, b.now))
	}
	b.sb.Faults().Script(faults.DropAfter)
	keep(provision.Checkin(ctx, b.db, b.c, testDeviceID, b.now))
	p := b.params("11112222")
	p.Force = true
	creds, err = provision.Provision(ctx, b.db, b.c, p)
	keep(err)
	texts = append(texts, fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p))
	j, _ := json.Marshal(creds)
	texts = append(texts, string(j))

	var out bytes.Buffer
	checks := []provision.Check{
		provision.CredentialsCheck(b.db, b.client()),
		provision.DatabaseCheck(b.db),
	}
	provision.RunChecksStyle(ctx, checks, &out, provision.StyleUnicode)
	stale := creds
	stale.TerminalKey, stale.PrevKey = "ffffffffffffffffffffffffffffffff", ""
	if err := b.db.SaveCredentials(stale); err != nil {
		t.Fatal(err)
	}
	provision.RunChecksStyle(ctx, checks, &out, provision.StyleASCII)
	keep(provision.Checkin(ctx, b.db, b.c, testDeviceID, b.now))
	texts = append(texts, out.String())

	h, _ := b.db.CheckinHistory(0)
	for _, r := range h {
		texts = append(texts, r.Note)
	}
	slog.New(slog.NewTextHandler(b.logs, nil)).Info("creds", "creds", creds, "vendor", b.vendor())
	texts = append(texts, b.logs.String())

	keys := b.issuedKeys()
	if len(keys) != 5 { // 2 activations, 3 check-ins answered in full
		t.Fatalf("only %d keys delivered; the scenario did not run as planned", len(keys))
	}
	noSecrets(t, texts, append(keys, testVendorKey, stale.TerminalKey)...)
	// The texts are the real ones: the terminal serial does show.
	if !bytes.Contains(out.Bytes(), []byte(provision.MaskSN(creds.TerminalSN))) {
		t.Errorf("doctor output %q does not name the terminal", out.String())
	}
}
