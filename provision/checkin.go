package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"posagent/gateway"
	"posagent/gateway/upay"
	"posagent/storage"
)

// SDKVersion is sent as sdk_version at check-in.
const SDKVersion = "posagent-provision/1"

// ErrNotProvisioned: there are no credentials to check in with.
var ErrNotProvisioned = errors.New("terminal not provisioned")

// ErrKeyNotStored: the gateway rotated the key but the database could not
// store the new one. The old key keeps working until the next rotation.
var ErrKeyNotStored = errors.New("new terminal key not stored")

// Checkin rotates the terminal key, following Upay's rule that only the
// current and the previous key are valid:
//
//  1. load the stored credentials and sign with them (c.SetTerminal);
//  2. call check-in (once more with the stored previous key if the
//     gateway refuses the current one);
//  3. store the new key with db.RotateKey (one bbolt commit, fsync) —
//     before anything signs with it;
//  4. only then c.SetTerminal(sn, newKey).
//
// If the answer is lost (outcome unknown) the stored key stays in use: the
// gateway kept it as the previous key, so the next check-in, signed with
// it, succeeds. If step 3 fails the new key is dropped and never used; the
// old one still works until the next rotation. Every failure is recorded
// in the check-in history. deviceID must be the one the terminal was
// activated with; empty means the stored one.
func Checkin(ctx context.Context, db *storage.DB, c *upay.Client, deviceID string, now time.Time) error {
	if db == nil || c == nil {
		return errors.New("provision: check-in: a database and a gateway client are required")
	}
	creds, err := db.Credentials()
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("provision: check-in: %w; run `posagent provision --code <code>` first", ErrNotProvisioned)
	}
	if err != nil {
		return fmt.Errorf("provision: check-in: %w", err)
	}
	if deviceID == "" {
		deviceID = creds.DeviceID
	}
	if creds.DeviceID != "" && deviceID != creds.DeviceID {
		err := fmt.Errorf("provision: check-in: this device's id is %s but terminal %s was activated on device %s (SD card moved to another board?); provision this device with its own code",
			deviceID, MaskSN(creds.TerminalSN), creds.DeviceID)
		_ = db.RecordCheckin(storage.CheckinRecord{At: now, OK: false, Note: "device id changed"})
		return err
	}

	req := upay.CheckinRequest{TerminalSN: creds.TerminalSN, DeviceID: deviceID, SDKVersion: SDKVersion}
	c.SetTerminal(creds.TerminalSN, creds.TerminalKey)
	term, err := c.Checkin(ctx, req)
	if errors.Is(err, gateway.ErrAuth) && creds.PrevKey != "" && creds.PrevKey != creds.TerminalKey {
		// The stored key was refused. If a check-in was delivered twice
		// (a retrying proxy) the gateway rotated once more than we saw, and
		// only the key that signed our last check-in, stored as PrevKey, is
		// still valid there. Sign with it once.
		c.SetTerminal(creds.TerminalSN, creds.PrevKey)
		term, err = c.Checkin(ctx, req)
		if err != nil {
			c.SetTerminal(creds.TerminalSN, creds.TerminalKey)
		}
	}
	if err != nil {
		err = checkinError(err, creds.TerminalSN)
		if rerr := db.RecordCheckin(storage.CheckinRecord{At: now, OK: false, Note: err.Error()}); rerr != nil {
			return fmt.Errorf("%w (recording it also failed: %v)", err, rerr)
		}
		return err
	}

	if err := db.RotateKey(term.Key, now); err != nil {
		// Never sign with a key that is not on disk: a crash would lose it,
		// and the gateway forgets the old one at the next rotation.
		// c still holds the old key from SetTerminal above.
		_ = db.RecordCheckin(storage.CheckinRecord{At: now, OK: false, Note: "new key not stored: " + err.Error()})
		return fmt.Errorf("provision: check-in: %w: %w; the terminal keeps signing with its previous key, which the gateway accepts until the next rotation; fix the storage problem and check in again",
			ErrKeyNotStored, err)
	}
	c.SetTerminal(creds.TerminalSN, term.Key)
	return nil
}

func checkinError(err error, sn string) error {
	switch gateway.ClassOf(err) {
	case gateway.NotSent:
		if errors.Is(err, gateway.ErrInvalid) {
			return fmt.Errorf("provision: check-in: %w", err)
		}
		return fmt.Errorf("provision: check-in: %w", unreachable(err))
	case gateway.Rejected:
		if errors.Is(err, gateway.ErrAuth) {
			return fmt.Errorf("provision: check-in: the gateway refused terminal %s (%w): it accepts none of the stored keys any more; provision again with a new code (`posagent provision --code <code> --force`)",
				MaskSN(sn), err)
		}
		return fmt.Errorf("provision: check-in: refused: %w", err)
	}
	return fmt.Errorf("provision: check-in: %w: the answer was lost (%w); the current key stays in use and remains valid at the gateway, the next check-in will rotate it",
		ErrOutcomeUnknown, err)
}

// Clock is the scheduler's time; agent.SystemClock and agent.FakeClock
// satisfy it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Scheduler runs a job (the check-in) at start and then once per calendar
// day, shortly after local midnight, retrying failures with backoff.
type Scheduler struct {
	Clock Clock
	Log   *slog.Logger // default: discard
	// MaxJitter spreads a fleet's check-ins over the first minutes of the
	// day. Default 10 minutes; negative means none.
	MaxJitter time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after a failure,
	// doubling from one to the other. Defaults 30 s and 30 min.
	MinBackoff, MaxBackoff time.Duration
	// MaxSleep bounds one wait, so that a wall clock that is stepped (a Pi
	// without RTC getting NTP time after boot) is noticed. Default 1 h.
	MaxSleep time.Duration
	// Jitter returns a value in [0, n); default math/rand/v2.Int64N.
	Jitter func(n int64) int64
}

// RunDaily is Scheduler{Clock: clock, Log: log}.Run(ctx, fn).
func RunDaily(ctx context.Context, clock Clock, fn func(context.Context) error, log *slog.Logger) error {
	s := &Scheduler{Clock: clock, Log: log}
	return s.Run(ctx, fn)
}

// Run calls fn now, then again once per calendar day (local time of the
// clock's Now) after midnight plus a jitter, until ctx is done; it returns
// ctx.Err(). A failed fn is retried after a backoff until it succeeds. The
// day is judged by the calendar date, not by 24 h of elapsed time, so a
// clock stepped across midnight still triggers the day's check-in.
func (s *Scheduler) Run(ctx context.Context, fn func(context.Context) error) error {
	if s.Clock == nil || fn == nil {
		return errors.New("provision: scheduler needs a clock and a job")
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	minB, maxB := s.MinBackoff, s.MaxBackoff
	if minB <= 0 {
		minB = 30 * time.Second
	}
	if maxB < minB {
		maxB = max(30*time.Minute, minB)
	}
	maxSleep := s.MaxSleep
	if maxSleep <= 0 {
		maxSleep = time.Hour
	}
	backoff := minB
	var lastOK time.Time // zero: never, so the first round runs at once
	jitter := s.jitter()
	for {
		now := s.Clock.Now()
		var wait time.Duration
		if lastOK.IsZero() || !sameDay(now, lastOK) && !now.Before(midnight(now).Add(jitter)) || now.Before(lastOK) {
			err := fn(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				log.Warn("provision: check-in failed; retrying", "err", err, "retry_in", backoff)
				wait = backoff
				backoff = min(backoff*2, maxB)
			} else {
				lastOK = s.Clock.Now()
				backoff = minB
				jitter = s.jitter()
				wait = nextDue(lastOK, jitter).Sub(lastOK)
				log.Info("provision: check-in done", "next_in", wait.Round(time.Second))
			}
		} else {
			due := midnight(now).Add(jitter)
			if sameDay(now, lastOK) {
				due = nextDue(now, jitter)
			}
			wait = due.Sub(now)
		}
		wait = min(max(wait, time.Second), maxSleep)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.Clock.After(wait):
		}
	}
}

func (s *Scheduler) jitter() time.Duration {
	n := s.MaxJitter
	if n == 0 {
		n = 10 * time.Minute
	}
	if n < 0 {
		return 0
	}
	f := s.Jitter
	if f == nil {
		f = rand.Int64N
	}
	return time.Duration(f(int64(n)))
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// nextDue is the next day's midnight plus jitter, in t's zone (AddDate,
// not 24 h, so that DST days are handled).
func nextDue(t time.Time, jitter time.Duration) time.Time {
	return midnight(t).AddDate(0, 0, 1).Add(jitter)
}

func sameDay(a, b time.Time) bool {
	b = b.In(a.Location())
	y1, m1, d1 := a.Date()
	y2, m2, d2 := b.Date()
	return y1 == y2 && m1 == m2 && d1 == d2
}
