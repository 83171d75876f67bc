package counter

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// The PIN hash: argon2id (RFC 9106), with the parameters and the salt kept
// next to the hash so they can be raised later without locking anyone out.
// m=7 MiB, t=5, p=1 is one of OWASP's equivalent argon2id settings
// (Password Storage Cheat Sheet: m=7168 KiB, t=5, p=1), chosen over the
// 19 MiB one because a Pi Zero has 512 MB for everything. A 4-8 digit PIN
// has little entropy whatever the KDF: the lockout below is what stops
// guessing at the keypad; the KDF and the 0600 file slow an offline guess
// from a stolen SD card.
const (
	kdfTime    = 5
	kdfMemory  = 7 * 1024 // KiB
	kdfThreads = 1
	kdfKeyLen  = 32
	saltLen    = 16
)

// Lockout: after maxTries wrong PINs in a row, entry is locked for
// lockFor, doubling with each lockout in a row up to maxLock.
const (
	maxTries = 5
	lockFor  = 5 * time.Minute
	maxLock  = time.Hour
)

// ErrNoPIN is returned by Verify when no PIN is set: the menu stays closed
// until `posagent pin set` sets one.
var ErrNoPIN = errors.New("counter: no PIN set (posagent pin set)")

// PINFile is the name of the PIN file in the state directory (next to the
// database).
const PINFile = "pins.json"

type pinHash struct {
	Alg     string `json:"alg"` // "argon2id"
	Version int    `json:"v"`
	Time    uint32 `json:"t"`
	Memory  uint32 `json:"m"`
	Threads uint8  `json:"p"`
	Salt    string `json:"salt"` // base64, raw std
	Hash    string `json:"hash"`
}

type tries struct {
	Failures    int       `json:"failures"`
	Lockouts    int       `json:"lockouts"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// SetPIN sets the PIN of role ("supervisor" or "technician") in the PIN
// file at path, creating it (mode 0600) if needed. The file is replaced
// atomically. It also clears a lockout: whoever can run it is root or the
// service user already. This is what `posagent pin set` calls.
func SetPIN(path string, role Role, pin string) error {
	if role != Supervisor && role != Technician {
		return fmt.Errorf("counter: role %q: want supervisor or technician", role)
	}
	if len(pin) < 4 || len(pin) > 8 {
		return fmt.Errorf("counter: a PIN has 4 to 8 digits, got %d", len(pin))
	}
	for _, c := range []byte(pin) {
		if c < '0' || c > '9' {
			return errors.New("counter: a PIN has digits only (it is typed on the keypad)")
		}
	}
	hashes, err := readHashes(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if hashes == nil {
		hashes = map[Role]pinHash{}
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("counter: salt: %w", err)
	}
	sum := argon2.IDKey([]byte(pin), salt, kdfTime, kdfMemory, kdfThreads, kdfKeyLen)
	hashes[role] = pinHash{Alg: "argon2id", Version: argon2.Version, Time: kdfTime, Memory: kdfMemory, Threads: kdfThreads,
		Salt: base64.RawStdEncoding.EncodeToString(salt), Hash: base64.RawStdEncoding.EncodeToString(sum)}
	if err := writeJSON(path, hashes); err != nil {
		return err
	}
	return writeJSON(triesPath(path), tries{})
}

func triesPath(path string) string { return path + ".tries" }

func readHashes(path string) (map[Role]pinHash, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("counter: PIN file: %w", err)
	}
	var h map[Role]pinHash
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("counter: PIN file %s: %w", path, err)
	}
	return h, nil
}

// writeJSON replaces path atomically: a temporary file in the same
// directory, synced, renamed over it, and the directory synced, so a power
// cut leaves the old file or the new one, never half of one.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("counter: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("counter: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("counter: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("counter: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("counter: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("counter: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("counter: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// PINs checks PINs typed at the keypad against the PIN file, and keeps the
// count of wrong tries in a file next to it, so a restart does not reset a
// lockout.
type PINs struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
}

// NewPINs returns a checker for the PIN file at path; now is the clock (nil
// means time.Now).
func NewPINs(path string, now func() time.Time) *PINs {
	if now == nil {
		now = time.Now
	}
	return &PINs{path: path, now: now}
}

// Verify checks pin. It returns the role it belongs to; or "" for a wrong
// PIN; or, while entry is locked, how long it stays locked (the PIN is
// then not even looked at).
func (p *PINs) Verify(pin string) (Role, time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var t tries
	if b, err := os.ReadFile(triesPath(p.path)); err == nil {
		json.Unmarshal(b, &t) // a damaged file counts as no tries: SetPIN rewrites it
	}
	now := p.now()
	if left := t.LockedUntil.Sub(now); left > 0 {
		// A clock stepped back must not lock the menu for years.
		return "", min(left, maxLock), nil
	}
	hashes, err := readHashes(p.path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(hashes) == 0) {
		return "", 0, ErrNoPIN
	}
	if err != nil {
		return "", 0, err
	}
	for _, role := range []Role{Supervisor, Technician} {
		if h, ok := hashes[role]; ok && h.match(pin) {
			if t != (tries{}) {
				if err := writeJSON(triesPath(p.path), tries{}); err != nil {
					return "", 0, err
				}
			}
			return role, 0, nil
		}
	}
	t.Failures++
	var locked time.Duration
	if t.Failures >= maxTries {
		locked = min(lockFor<<t.Lockouts, maxLock)
		t.Failures, t.Lockouts, t.LockedUntil = 0, t.Lockouts+1, now.Add(locked)
	}
	// Written before answering: pulling the plug after a wrong try does
	// not give the guesser a new set of tries.
	if err := writeJSON(triesPath(p.path), t); err != nil {
		return "", 0, err
	}
	return "", locked, nil
}

func (h pinHash) match(pin string) bool {
	// A file asking for absurd costs must not hang or exhaust the device.
	if h.Alg != "argon2id" || h.Version != argon2.Version || h.Threads == 0 || h.Time == 0 || h.Time > 64 || h.Memory > 256*1024 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(h.Salt)
	want, err2 := base64.RawStdEncoding.DecodeString(h.Hash)
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pin), salt, h.Time, h.Memory, h.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
