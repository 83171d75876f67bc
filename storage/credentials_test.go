package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	secretKey  = "k3y-0f-terminal-aaaaaaaaaaaaaaaaa"
	secretKey2 = "n3w-k3y-bbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestCredentialsRoundTripAndRotate(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	if _, err := db.Credentials(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unprovisioned = %v", err)
	}
	if err := db.RotateKey(secretKey2, e.clock.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("RotateKey unprovisioned = %v", err)
	}
	if err := db.SaveCredentials(Credentials{TerminalSN: "100"}); err == nil {
		t.Error("credentials without key accepted")
	}
	c := Credentials{Gateway: "upay", TerminalSN: "100111", TerminalKey: secretKey, DeviceID: "pi-1", MerchantName: "小店"}
	if err := db.SaveCredentials(c); err != nil {
		t.Fatal(err)
	}
	got, err := db.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	c.ActivatedAt = e.clock.Now().UTC() // stored in UTC
	if got != c {
		t.Errorf("Credentials = %#v, want %#v", got, c)
	}
	// Some orders exist; reprovisioning keeps them.
	o := mustCreate(t, db, 10)

	e.clock.Advance(24 * time.Hour)
	c0 := db.Commits()
	if err := db.RotateKey(secretKey2, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if db.Commits()-c0 != 1 {
		t.Errorf("RotateKey took %d commits, want 1", db.Commits()-c0)
	}
	got, _ = db.Credentials()
	if got.TerminalKey != secretKey2 || got.PrevKey != secretKey || !got.LastCheckin.Equal(e.clock.Now()) {
		t.Errorf("after rotate: key %q prev %q last %v", got.TerminalKey, got.PrevKey, got.LastCheckin)
	}
	h, _ := db.CheckinHistory(0)
	if len(h) != 1 || !h[0].OK || !h[0].At.Equal(e.clock.Now()) {
		t.Errorf("history after rotate = %+v", h)
	}

	c.TerminalSN, c.TerminalKey = "200222", secretKey
	if err := db.SaveCredentials(c); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetOrder(o.ClientSN); err != nil {
		t.Errorf("order lost by reprovisioning: %v", err)
	}
}

func TestCheckinHistory(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	if err := db.SaveCredentials(Credentials{TerminalSN: "1", TerminalKey: secretKey}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		e.clock.Advance(time.Hour)
		if err := db.RecordCheckin(CheckinRecord{At: e.clock.Now(), OK: i != 3, Note: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := db.CheckinHistory(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Note != "4" || h[1].Note != "3" || h[1].OK || h[2].Note != "2" {
		t.Errorf("history = %+v", h)
	}
	c, _ := db.Credentials()
	if !c.LastCheckin.Equal(e.clock.Now()) {
		t.Errorf("LastCheckin %v, want %v", c.LastCheckin, e.clock.Now())
	}
	// Failed check-ins do not move LastCheckin.
	e.clock.Advance(time.Hour)
	db.RecordCheckin(CheckinRecord{At: e.clock.Now(), OK: false, Note: "timeout"})
	if c2, _ := db.Credentials(); !c2.LastCheckin.Equal(c.LastCheckin) {
		t.Error("failed check-in moved LastCheckin")
	}
}

func TestCheckinHistoryBounded(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	// Fill directly in one transaction (MaxCheckinHistory fsync'd commits
	// would be slow), then add through the API.
	err := db.update("fill", func(tx *bolt.Tx) error {
		for i := 0; i < MaxCheckinHistory; i++ {
			if err := appendCheckin(tx, CheckinRecord{At: e.clock.Now(), Note: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := db.RecordCheckin(CheckinRecord{OK: true, Note: fmt.Sprint("new", i)}); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := db.CheckinHistory(0)
	if len(h) != MaxCheckinHistory || h[0].Note != "new2" || h[len(h)-1].Note != "3" {
		t.Errorf("len %d newest %q oldest %q", len(h), h[0].Note, h[len(h)-1].Note)
	}
}

// TestSecretsNeverPrinted checks every way a Credentials value may end up
// in a log or status output, and the logs of the whole provisioning flow.
func TestSecretsNeverPrinted(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	c := Credentials{Gateway: "upay", TerminalSN: "100111", TerminalKey: secretKey, PrevKey: secretKey2}
	if err := db.SaveCredentials(c); err != nil {
		t.Fatal(err)
	}
	if err := db.RotateKey(secretKey2, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Credentials()
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s %q\n", got, got, got, got, got)
	fmt.Fprintf(&out, "%v %+v\n", &got, []Credentials{got})
	j, _ := json.Marshal(got)
	out.Write(j)
	slog.New(slog.NewTextHandler(&out, nil)).Info("creds", "c", got)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("creds", "c", got)
	db.Close()
	out.WriteString(e.logs.String())
	for _, k := range []string{secretKey, secretKey2} {
		if strings.Contains(out.String(), k) {
			t.Errorf("key leaked:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "100111") || !strings.Contains(out.String(), "<redacted>") {
		t.Errorf("output lost the non-secret fields:\n%s", out.String())
	}
	// The key is in the file (it must be, to be used), which is 0600.
	raw, _ := os.ReadFile(e.path)
	if !bytes.Contains(raw, []byte(secretKey2)) {
		t.Error("key not stored")
	}
}
