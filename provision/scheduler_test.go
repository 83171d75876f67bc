package provision_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"posagent/agent"
	"posagent/provision"
)

// recClock is agent.FakeClock that also reports every wait the scheduler
// asks for, so the test knows when it is parked and for how long. Step
// moves the wall clock without moving the timers, as NTP does to a Pi
// that booted without RTC.
type recClock struct {
	*agent.FakeClock
	waits chan time.Duration

	mu   sync.Mutex
	step time.Duration
}

func (c *recClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.FakeClock.Now().Add(c.step)
}

func (c *recClock) Step(d time.Duration) {
	c.mu.Lock()
	c.step += d
	c.mu.Unlock()
}

func (c *recClock) After(d time.Duration) <-chan time.Time {
	ch := c.FakeClock.After(d) // registered before the test hears of it
	c.waits <- d
	return ch
}

type schedBed struct {
	t     *testing.T
	clock *recClock
	calls chan time.Time
	errs  chan error // what the job returns, one per call
	done  chan error
	stop  context.CancelFunc
}

var cst = time.FixedZone("CST", 8*3600)

func newSched(t *testing.T, start time.Time, jitter time.Duration) *schedBed {
	s := &schedBed{
		t:     t,
		clock: &recClock{FakeClock: agent.NewFakeClock(start), waits: make(chan time.Duration, 1)},
		calls: make(chan time.Time, 1),
		errs:  make(chan error, 1),
		done:  make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	sc := &provision.Scheduler{
		Clock:     s.clock,
		MaxJitter: 10 * time.Minute,
		Jitter:    func(n int64) int64 { return int64(jitter) },
	}
	go func() {
		s.done <- sc.Run(ctx, func(ctx context.Context) error {
			s.calls <- s.clock.Now()
			return <-s.errs
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

const guard = 10 * time.Second // only a hang guard, never a synchronisation

func (s *schedBed) call(result error) time.Time {
	s.t.Helper()
	select {
	case at := <-s.calls:
		s.errs <- result
		return at
	case <-time.After(guard):
		s.t.Fatal("the job was not called")
	}
	return time.Time{}
}

func (s *schedBed) wait() time.Duration {
	s.t.Helper()
	select {
	case d := <-s.clock.waits:
		return d
	case <-time.After(guard):
		s.t.Fatal("the scheduler did not wait")
	}
	return 0
}

// runUntilCall advances the clock through the scheduler's waits until the
// job is called, and returns when.
func (s *schedBed) runUntilCall() time.Time {
	s.t.Helper()
	for range 100 {
		d := s.wait()
		s.clock.Advance(d)
		select {
		case at := <-s.calls:
			return at
		case d := <-s.clock.waits:
			// Woke up, not due: it waits again. Put the wait back.
			s.clock.waits <- d
		case <-time.After(guard):
			s.t.Fatal("scheduler neither called the job nor waited")
		}
	}
	s.t.Fatal("job never called")
	return time.Time{}
}

func TestSchedulerAtStartThenDailyAfterMidnight(t *testing.T) {
	start := time.Date(2026, 11, 25, 9, 30, 0, 0, cst)
	s := newSched(t, start, 3*time.Minute)
	if at := s.call(nil); !at.Equal(start) {
		t.Fatalf("first check-in at %v, want at start", at)
	}
	if d := s.wait(); d != time.Hour {
		t.Errorf("first wait %v, want the 1 h cap", d)
	}
	s.clock.waits <- time.Hour
	for day := 26; day <= 28; day++ {
		at := s.runUntilCall()
		s.errs <- nil
		if want := time.Date(2026, 11, day, 0, 3, 0, 0, cst); !at.Equal(want) {
			t.Errorf("check-in at %v, want %v", at, want)
		}
	}
}

func TestSchedulerRetriesWithBackoff(t *testing.T) {
	start := time.Date(2026, 11, 25, 23, 0, 0, 0, cst)
	s := newSched(t, start, 0)
	s.call(errors.New("gateway down"))
	var got []time.Duration
	for range 8 {
		d := s.wait()
		got = append(got, d)
		s.clock.Advance(d)
		s.call(errors.New("gateway down"))
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff %v, want %v", got, want)
		}
	}
	// Success resets the backoff and schedules the next day.
	d := s.wait()
	s.clock.Advance(d)
	s.call(nil)
	now := s.clock.Now()
	if d := s.wait(); d != time.Hour {
		t.Errorf("after success waited %v", d)
	}
	s.clock.waits <- time.Hour
	at := s.runUntilCall()
	s.errs <- errors.New("again")
	if want := time.Date(2026, 11, 27, 0, 0, 0, 0, cst); now.Day() != 26 || !at.Equal(want) {
		t.Errorf("success at %v, next check-in at %v, want %v", now, at, want)
	}
	if d := s.wait(); d != 30*time.Second {
		t.Errorf("backoff after a success restarted at %v, want 30s", d)
	}
}

// A Pi without RTC boots with an old date and gets the right one from NTP
// hours later: the day's check-in happens within the hour cap, not a day
// later.
func TestSchedulerClockStepped(t *testing.T) {
	start := time.Date(2026, 11, 25, 9, 30, 0, 0, cst)
	s := newSched(t, start, 0)
	s.call(nil)
	d := s.wait()
	if d > time.Hour {
		t.Fatalf("waits %v at once; a stepped wall clock would go unnoticed that long", d)
	}
	s.clock.Step(72 * time.Hour) // the wall clock jumps three days; timers do not
	s.clock.Advance(d)
	if at := s.call(nil); !at.Equal(start.Add(72*time.Hour + d)) {
		t.Errorf("check-in at %v after a clock step, want right after the %v wait", at, d)
	}
}

func TestSchedulerStops(t *testing.T) {
	s := newSched(t, time.Date(2026, 11, 25, 9, 30, 0, 0, cst), 0)
	s.call(nil)
	s.wait()
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err // for Cleanup
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(guard):
		t.Fatal("Run did not stop")
	}
	if err := (&provision.Scheduler{}).Run(context.Background(), nil); err == nil {
		t.Error("no clock, no job: no error")
	}
}

// RunDaily with the real check-in against the sandbox: keys rotate once
// per day.
func TestRunDailyChecksIn(t *testing.T) {
	b := newBed(t, false)
	b.provision("12345678")
	clock := &recClock{FakeClock: agent.NewFakeClock(time.Date(2026, 11, 25, 9, 30, 0, 0, cst)), waits: make(chan time.Duration, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	checked := make(chan error, 1)
	go func() {
		done <- provision.RunDaily(ctx, clock, func(ctx context.Context) error {
			err := provision.Checkin(ctx, b.db, b.c, testDeviceID, clock.Now())
			checked <- err
			return err
		}, b.log)
	}()
	for day := 0; day < 3; {
		select {
		case err := <-checked:
			if err != nil {
				t.Fatal(err)
			}
			day++
		case d := <-clock.waits:
			clock.Advance(d)
		case <-time.After(guard):
			t.Fatal("stuck")
		}
	}
	cancel()
	go func() {
		for range clock.waits {
		}
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
	h, _ := b.db.CheckinHistory(0)
	if len(h) != 4 { // provisioning + at start + two days
		t.Errorf("%d check-ins recorded, want 4", len(h))
	}
	creds, _ := b.db.Credentials()
	noSecrets(t, []string{b.logs.String()}, creds.TerminalKey, creds.PrevKey)
}
