package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/upay"
	"posagent/provision"
	"posagent/storage"
)

func TestCheckinRotatesAndPersistsFirst(t *testing.T) {
	b := newBed(t, true)
	before := b.provision("12345678")
	at := b.now.Add(24 * time.Hour)
	commits := b.db.Commits()
	if err := provision.Checkin(context.Background(), b.db, b.c, testDeviceID, at); err != nil {
		t.Fatal(err)
	}
	// One bbolt commit: the key and its history record together.
	if n := b.db.Commits() - commits; n != 1 {
		t.Errorf("check-in made %d commits, want 1", n)
	}
	after, _ := b.db.Credentials()
	if after.PrevKey != before.TerminalKey || after.TerminalKey == before.TerminalKey || !after.LastCheckin.Equal(at) {
		t.Errorf("after check-in: prev==old %v, rotated %v, LastCheckin %v",
			after.PrevKey == before.TerminalKey, after.TerminalKey != before.TerminalKey, after.LastCheckin)
	}
	// The next request is signed with the key on disk.
	if _, err := b.c.Query(context.Background(), gateway.Ref{ClientSN: "NO-SUCH-ORDER"}); !errors.Is(err, gateway.ErrOrderNotFound) {
		t.Fatal(err)
	}
	q := b.requests(upay.PathQuery)
	if !signedWith(q[len(q)-1], after.TerminalKey) {
		t.Error("query after check-in not signed with the stored new key")
	}
	// Empty device id means the stored one.
	if err := provision.Checkin(context.Background(), b.db, b.c, "", at); err != nil {
		t.Fatal(err)
	}
	if h, _ := b.db.CheckinHistory(0); len(h) != 3 || !h[0].OK {
		t.Errorf("history %+v", h)
	}
}

// The answer to a check-in is lost, once or several times in a row: the
// old key stays in use, each loss is recorded, and the next check-in,
// signed with the old key, succeeds.
func TestCheckinLostAnswerIsSurvivable(t *testing.T) {
	for _, losses := range []int{1, 3} {
		b := newBed(t, false)
		creds := b.provision("12345678")
		old := creds.TerminalKey
		for i := range losses {
			b.sb.Faults().Script(faults.DropAfter)
			err := provision.Checkin(context.Background(), b.db, b.c, testDeviceID, b.now)
			if !errors.Is(err, provision.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "current key stays in use") {
				t.Fatalf("loss %d: err = %v", i, err)
			}
			noSecrets(t, []string{err.Error()}, old)
			if c, _ := b.db.Credentials(); c.TerminalKey != old {
				t.Fatalf("loss %d: stored key changed without an answer", i)
			}
			// Sales go on meanwhile, signed with the old key.
			if _, err := b.c.Query(context.Background(), gateway.Ref{ClientSN: "NO-SUCH-ORDER"}); !errors.Is(err, gateway.ErrOrderNotFound) {
				t.Fatalf("loss %d: query with the old key: %v", i, err)
			}
		}
		h, _ := b.db.CheckinHistory(0)
		if len(h) != losses+1 || h[0].OK || !strings.Contains(h[0].Note, "answer was lost") {
			t.Errorf("history after %d losses: %+v", losses, h)
		}
		if err := provision.Checkin(context.Background(), b.db, b.c, testDeviceID, b.now); err != nil {
			t.Fatalf("check-in after %d lost answers: %v", losses, err)
		}
		chk := b.requests(upay.PathCheckin)
		for i, r := range chk[1:] {
			if !signedWith(r, old) {
				t.Errorf("check-in %d not signed with the old key", i+1)
			}
		}
		now, _ := b.db.Credentials()
		if now.PrevKey != old || now.TerminalKey == old {
			t.Error("not rotated after recovery")
		}
	}
}

// The gateway rotated the key but the database cannot store it: the new
// key is never used; the old one keeps working.
func TestCheckinKeyNotStored(t *testing.T) {
	b := newBed(t, false)
	creds := b.provision("12345678")
	old := creds.TerminalKey
	b.db.Close()
	ro, err := storage.Open(b.dbPath, &storage.Options{ReadOnly: true, Logger: b.log})
	if err != nil {
		t.Fatal(err)
	}
	err = provision.Checkin(context.Background(), ro, b.c, testDeviceID, b.now)
	ro.Close()
	if !errors.Is(err, provision.ErrKeyNotStored) || !strings.Contains(err.Error(), "previous key") {
		t.Fatalf("err = %v", err)
	}
	if _, err := b.c.Query(context.Background(), gateway.Ref{ClientSN: "NO-SUCH-ORDER"}); !errors.Is(err, gateway.ErrOrderNotFound) {
		t.Fatalf("query with the old key: %v", err)
	}
	q := b.requests(upay.PathQuery)
	if !signedWith(q[len(q)-1], old) {
		t.Fatal("the client signed with a key that is not on disk")
	}
	b.db = b.open()
	if err := provision.Checkin(context.Background(), b.db, b.c, testDeviceID, b.now); err != nil {
		t.Fatalf("check-in once storage works again: %v", err)
	}
	noSecrets(t, []string{b.logs.String()}, old)
}

func TestCheckinErrors(t *testing.T) {
	ctx := context.Background()
	b := newBed(t, false)
	err := provision.Checkin(ctx, b.db, b.c, testDeviceID, b.now)
	if !errors.Is(err, provision.ErrNotProvisioned) || !strings.Contains(err.Error(), "posagent provision --code") {
		t.Errorf("not provisioned: %v", err)
	}

	creds := b.provision("12345678")
	err = provision.Checkin(ctx, b.db, b.c, "another-board", b.now)
	if err == nil || !strings.Contains(err.Error(), "SD card moved") {
		t.Errorf("device id changed: %v", err)
	}

	// The stored current key is refused but the stored previous one is the
	// gateway's current (the gateway rotated once more than we saw): the
	// check-in signs with it once and recovers.
	valid, _ := b.db.Credentials()
	skewed := valid
	skewed.TerminalKey, skewed.PrevKey = "00000000000000000000000000000000", valid.TerminalKey
	if err := b.db.SaveCredentials(skewed); err != nil {
		t.Fatal(err)
	}
	if err := provision.Checkin(ctx, b.db, b.c, testDeviceID, b.now); err != nil {
		t.Fatalf("recovery with the previous key: %v", err)
	}
	chk := b.requests(upay.PathCheckin)
	if last := chk[len(chk)-1]; !signedWith(last, valid.TerminalKey) {
		t.Error("the retry was not signed with the stored previous key")
	}
	if _, err := b.c.Query(ctx, gateway.Ref{ClientSN: "NO-SUCH-ORDER"}); !errors.Is(err, gateway.ErrOrderNotFound) {
		t.Errorf("query after recovery: %v", err)
	}

	// A key neither current nor previous: the gateway refuses.
	stale := creds
	stale.TerminalKey, stale.PrevKey = "0123456789abcdef0123456789abcdef", ""
	if err := b.db.SaveCredentials(stale); err != nil {
		t.Fatal(err)
	}
	err = provision.Checkin(ctx, b.db, b.c, testDeviceID, b.now)
	if !errors.Is(err, gateway.ErrAuth) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("stale key: %v", err)
	}
	noSecrets(t, []string{err.Error()}, stale.TerminalKey)

	b.srv.Close()
	// A new client: the old one's pooled connection may die after the
	// request was written, which is rightly "outcome unknown".
	err = provision.Checkin(ctx, b.db, b.client(), testDeviceID, b.now)
	if !errors.Is(err, provision.ErrUnreachable) || !strings.HasPrefix(err.Error(), "provision: check-in: gateway unreachable: cannot reach the gateway at "+b.base) {
		t.Errorf("unreachable: %v", err)
	}
	h, _ := b.db.CheckinHistory(0)
	fails := 0
	for _, r := range h {
		if !r.OK {
			fails++
		}
	}
	if fails != 3 || len(h) != 5 { // provisioning ok, device id, recovery ok, stale key, unreachable
		t.Errorf("%d failed check-ins of %d recorded, want 3 of 5: %+v", fails, len(h), h)
	}
	if err := provision.Checkin(ctx, nil, b.c, "", b.now); err == nil {
		t.Error("nil db: no error")
	}
}
