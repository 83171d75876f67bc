package counter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time          { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) Advance(d time.Duration) { f.mu.Lock(); f.t = f.t.Add(d); f.mu.Unlock() }

func TestSetPINFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", PINFile)
	if err := SetPIN(path, Supervisor, "2468"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("PIN file mode %v, err %v; want 0600", fi.Mode(), err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("2468")) {
		t.Fatalf("the PIN is in the file:\n%s", raw)
	}
	// The hash is argon2id (RFC 9106) of the PIN with the stored salt and
	// parameters, recomputed here with x/crypto/argon2 from the file alone.
	var f map[string]struct {
		Alg  string `json:"alg"`
		V    int    `json:"v"`
		T, M uint32
		P    uint8
		Salt string `json:"salt"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	h := f["supervisor"]
	salt, _ := base64.RawStdEncoding.DecodeString(h.Salt)
	want, _ := base64.RawStdEncoding.DecodeString(h.Hash)
	if h.Alg != "argon2id" || h.V != 0x13 || len(salt) < 16 || h.M < 7168 || h.T < 1 {
		t.Fatalf("hash record %+v", h)
	}
	if got := argon2.IDKey([]byte("2468"), salt, h.T, h.M, h.P, uint32(len(want))); !bytes.Equal(got, want) {
		t.Fatal("stored hash is not argon2id(PIN, salt, params)")
	}
	// A second role keeps the first; a second SetPIN gets a new salt.
	if err := SetPIN(path, Technician, "13579"); err != nil {
		t.Fatal(err)
	}
	if err := SetPIN(path, Supervisor, "2468"); err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(path)
	json.Unmarshal(raw2, &f)
	if f["supervisor"].Salt == h.Salt || f["technician"].Hash == "" {
		t.Fatalf("after re-set: %s", raw2)
	}
	for _, bad := range []struct {
		role Role
		pin  string
	}{{"owner", "1234"}, {Supervisor, "123"}, {Supervisor, "123456789"}, {Supervisor, "12a4"}} {
		if err := SetPIN(path, bad.role, bad.pin); err == nil {
			t.Errorf("SetPIN(%s, %q) accepted", bad.role, bad.pin)
		}
	}
}

func TestVerifyRoles(t *testing.T) {
	path := filepath.Join(t.TempDir(), PINFile)
	p := NewPINs(path, nil)
	if _, _, err := p.Verify("1234"); !errors.Is(err, ErrNoPIN) {
		t.Fatalf("no PIN file: %v", err)
	}
	SetPIN(path, Supervisor, "1111")
	SetPIN(path, Technician, "2222")
	for pin, want := range map[string]Role{"1111": Supervisor, "2222": Technician, "3333": ""} {
		role, locked, err := p.Verify(pin)
		if err != nil || role != want || locked != 0 {
			t.Errorf("Verify(%s) = %q %v %v, want %q", pin, role, locked, err, want)
		}
	}
}

// TestLockout: five wrong PINs in a row lock entry; a restart (a new PINs
// on the same file) is still locked; the right PIN is not even tried while
// locked; the lock ends after its time and doubles the next time.
func TestLockout(t *testing.T) {
	path := filepath.Join(t.TempDir(), PINFile)
	SetPIN(path, Supervisor, "1111")
	clk := &fakeNow{t: t0}
	p := NewPINs(path, clk.Now)
	for i := 1; i <= 4; i++ {
		if role, locked, err := p.Verify("9999"); role != "" || locked != 0 || err != nil {
			t.Fatalf("wrong try %d: %q %v %v", i, role, locked, err)
		}
	}
	if _, locked, _ := p.Verify("9999"); locked != 5*time.Minute {
		t.Fatalf("fifth wrong try: locked %v, want 5m", locked)
	}
	restarted := NewPINs(path, clk.Now)
	clk.Advance(time.Minute)
	if role, locked, _ := restarted.Verify("1111"); role != "" || locked != 4*time.Minute {
		t.Fatalf("after a restart: role %q locked %v; want still locked 4m", role, locked)
	}
	clk.Advance(4 * time.Minute)
	for range 5 {
		restarted.Verify("9999")
	}
	if _, locked, _ := restarted.Verify("1111"); locked != 10*time.Minute {
		t.Fatalf("second lockout %v, want 10m", locked)
	}
	// A clock stepped far back does not lock for longer than the cap.
	clk.Advance(-1000 * time.Hour)
	if _, locked, _ := restarted.Verify("1111"); locked != time.Hour {
		t.Fatalf("clock stepped back: locked %v, want the 1h cap", locked)
	}
	clk.Advance(1000*time.Hour + 10*time.Minute)
	if role, _, _ := restarted.Verify("1111"); role != Supervisor {
		t.Fatalf("after the lock: role %q", role)
	}
	// Success cleared the count: four wrong tries do not lock.
	for range 4 {
		restarted.Verify("9999")
	}
	if role, locked, _ := restarted.Verify("1111"); role != Supervisor || locked != 0 {
		t.Fatalf("count not cleared by success: %q %v", role, locked)
	}
	// `pin set` clears a lockout.
	for range 5 {
		restarted.Verify("9999")
	}
	SetPIN(path, Supervisor, "1111")
	if role, _, _ := restarted.Verify("1111"); role != Supervisor {
		t.Fatal("SetPIN did not clear the lockout")
	}
}
