package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestClockGuard: the system's word first; without it the gateway's Date
// decides, within provision.MaxClockSkew (5 min, the doctor's bound); an
// unreachable gateway keeps the terminal waiting (issue 13, item 6: never
// compute a deadline from an unsynchronised clock).
func TestClockGuard(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	synced := func() (bool, string) { return true, "" }
	unsynced := func() (bool, string) { return false, "the clock is not synchronised yet" }
	at := func(d time.Duration) func(context.Context) (time.Time, error) {
		return func(context.Context) (time.Time, error) { return now.Add(d), nil }
	}
	asked := false
	never := func(context.Context) (time.Time, error) { asked = true; return time.Time{}, errors.New("unreachable") }

	for _, tc := range []struct {
		name   string
		system func() (bool, string)
		gw     func(context.Context) (time.Time, error)
		ok     bool
		why    string
	}{
		{"system synced", synced, never, true, ""},
		{"gateway agrees", unsynced, at(20 * time.Second), true, ""},
		{"gateway 2 h ahead (stale boot)", unsynced, at(2 * time.Hour), false, "2h0m0s off the gateway"},
		{"gateway unreachable", unsynced, never, false, "not known either"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked = false
			ok, why := clockGuard(tc.system, tc.gw, clock)()
			if ok != tc.ok || !strings.Contains(why, tc.why) {
				t.Fatalf("got (%v, %q), want (%v, …%q…)", ok, why, tc.ok, tc.why)
			}
			if tc.name == "system synced" && asked {
				t.Fatal("asked the gateway although the system clock is synchronised")
			}
		})
	}
}
