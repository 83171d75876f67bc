package agent

import (
	"fmt"
	"os"
	"time"
)

// ClockCheck says whether the wall clock can be trusted, and if not, why
// (for the screen: "waiting for the clock: ..."). A Raspberry Pi has no
// battery clock: it boots with the time it last saved (or 1970) and steps
// it once NTP answers. An order's deadline, the Alipay timestamp
// (field-notes.md: Beijing time, checked by the gateway) and the stored
// times all come from the wall clock, so the engine asks before the first
// signed call after boot (issue 13, point 6), then trusts the monotonic
// clock for the rest of the run.
type ClockCheck func() (ok bool, why string)

// clockRecheck is how often the engine asks again while the clock is not
// right.
const clockRecheck = 2 * time.Second

// TimeSync is the ClockCheck of a Linux system. The clock is right when
//
//   - it is not before NotBefore (e.g. the newest time in the database, or
//     the build date): a clock behind that is certainly wrong; and
//   - systemd-timesyncd has synchronised it: it creates FlagFile
//     (/run/systemd/timesync/synchronized, systemd-timesyncd.service(8))
//     once it has; or the kernel says so: adjtimex(2) without STA_UNSYNC
//     in its status (set by chrony or ntpd when they discipline the clock).
type TimeSync struct {
	FlagFile  string
	NotBefore time.Time
	// Now and Adjtimex default to the system's; tests replace them.
	Now      func() time.Time
	Adjtimex func() (synced bool, err error)
}

// SyncedClock is a ClockCheck reading systemd's time-sync state and the
// kernel's, with notBefore as a lower bound (zero: none).
func SyncedClock(notBefore time.Time) ClockCheck {
	return (&TimeSync{NotBefore: notBefore}).Check
}

// Check implements ClockCheck.
func (s *TimeSync) Check() (bool, string) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if t := now(); t.Before(s.NotBefore) {
		return false, fmt.Sprintf("the clock says %s, earlier than %s", t.UTC().Format(time.DateTime), s.NotBefore.UTC().Format(time.DateTime))
	}
	flag := s.FlagFile
	if flag == "" {
		flag = "/run/systemd/timesync/synchronized"
	}
	if _, err := os.Stat(flag); err == nil {
		return true, ""
	}
	adj := kernelSynced
	if s.Adjtimex != nil {
		adj = s.Adjtimex
	}
	synced, err := adj()
	if err == nil && synced {
		return true, ""
	}
	if err != nil {
		return false, "cannot read the clock's sync state: " + err.Error()
	}
	return false, "the clock is not synchronised yet (no time server answered)"
}

// clockReady reports whether gateway calls may be made. Once the clock was
// right it stays trusted for the run: deadlines keep the monotonic reading.
func (e *Engine) clockReady() bool {
	e.mu.Lock()
	if e.clockOK {
		e.mu.Unlock()
		return true
	}
	e.mu.Unlock()
	ok, why := e.cfg.ClockCheck()
	e.mu.Lock()
	if ok {
		waited := e.clockWhy != ""
		e.clockOK, e.clockWhy = true, ""
		e.mu.Unlock()
		if waited {
			e.log.Info("clock synchronised; taking sales")
			e.emit(Event{Kind: EventClockOK})
		}
		return true
	}
	if why == "" {
		why = "the clock is not known to be right"
	}
	changed := why != e.clockWhy
	e.clockWhy = why
	e.mu.Unlock()
	if changed {
		e.log.Warn("waiting for the clock", "why", why)
		e.emit(Event{Kind: EventClockWait, Reason: "waiting for the clock: " + why})
	}
	return false
}

func (e *Engine) clockReason() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clockWhy
}
