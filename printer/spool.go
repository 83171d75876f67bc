package printer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"posagent/agent/report"
)

// ErrQueueFull is returned by Submit when the spool queue is full, which
// happens only when the printer has been failing for a while: the job is not
// taken, and the sale goes on without it.
var ErrQueueFull = errors.New("printer: spool queue full")

// Job is one thing to print. Exactly one of Slip, Receipt, SelfTest, Void,
// Report and Commissioning is set.
type Job struct {
	ID       string // the caller's name for it in events, e.g. the client_sn
	Slip     *Slip
	Receipt  *Receipt
	SelfTest bool

	Void          *Void
	Report        *report.Summary
	Commissioning *Commissioning
}

// EventKind says what happened to a job.
type EventKind int

// Event kinds.
const (
	Printed       EventKind = iota + 1 // sent to the printer
	Retrying                           // an attempt failed; another follows after Backoff
	Failed                             // gave up after MaxAttempts
	Dropped                            // not printed: a slip past its expiry, or the spooler closed
	StatusChanged                      // an idle status check found the printer in a new state
)

func (k EventKind) String() string {
	switch k {
	case Printed:
		return "printed"
	case Retrying:
		return "retrying"
	case Failed:
		return "failed"
	case Dropped:
		return "dropped"
	case StatusChanged:
		return "status changed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event reports a job's progress to SpoolOptions.OnEvent.
type Event struct {
	Kind    EventKind
	JobID   string
	Attempt int           // 1 for the first try
	Err     error         // why the attempt failed (wraps ErrOffline, ErrPaperOut, ...)
	Backoff time.Duration // Retrying: the wait before the next attempt
	Status  Status        // StatusChanged: what the printer said
}

// SpoolOptions tunes a Spooler; the zero value is usable.
type SpoolOptions struct {
	Queue       int           // pending jobs; 0 means 16
	MinBackoff  time.Duration // first retry wait; 0 means 1 s
	MaxBackoff  time.Duration // cap of the doubling wait; 0 means 30 s
	MaxAttempts int           // 0 means 10 (with the defaults, ~4 minutes)
	JobTimeout  time.Duration // one attempt, status check included; 0 means 60 s
	// StatusEvery, when set, checks the printer after that long without a
	// job and reports a StatusChanged event when the answer differs from
	// the last one, so the counter can show "printer out of paper" before
	// the next sale needs it. Err of the event is the reason it cannot
	// print (nil when ready).
	StatusEvery time.Duration
	// OnEvent is called from the spooler's goroutine, in order; it should
	// return quickly (hand the event to a channel or a log).
	OnEvent func(Event)
	// Now and After are the clock; nil means the real one. Tests pass a fake.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Spooler prints jobs in order on one goroutine so that callers never wait
// for the printer: Submit returns at once. A failed attempt is retried with
// a doubling backoff; the printer link is reopened on each attempt. A retried
// job is printed whole again, so a job cut off mid-way (cable pulled) can
// come out twice, once truncated: for a receipt that is the lesser harm.
type Spooler struct {
	p     *Printer
	opt   SpoolOptions
	jobs  chan Job
	ctx   context.Context
	stop  context.CancelFunc
	done  chan struct{}
	close sync.Once

	mu     sync.Mutex
	last   Event
	closed bool

	polled string // the last idle status check, as text
}

// NewSpooler starts a spooler for p.
func NewSpooler(p *Printer, opt SpoolOptions) *Spooler {
	if opt.Queue <= 0 {
		opt.Queue = 16
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 10
	}
	if opt.JobTimeout <= 0 {
		opt.JobTimeout = time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.After == nil {
		opt.After = time.After
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Spooler{p: p, opt: opt, jobs: make(chan Job, opt.Queue), ctx: ctx, stop: stop, done: make(chan struct{})}
	go s.run()
	return s
}

// Submit queues j and returns at once.
func (s *Spooler) Submit(j Job) error {
	n := 0
	if j.Slip != nil {
		n++
	}
	if j.Receipt != nil {
		n++
	}
	if j.SelfTest {
		n++
	}
	if j.Void != nil {
		n++
	}
	if j.Report != nil {
		n++
	}
	if j.Commissioning != nil {
		n++
	}
	if n != 1 {
		return fmt.Errorf("printer: job %q must have exactly one of Slip, Receipt, SelfTest, Void, Report, Commissioning", j.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.jobs <- j:
		return nil
	default:
		return fmt.Errorf("%w (%d jobs waiting; last error: %v)", ErrQueueFull, cap(s.jobs), s.last.Err)
	}
}

// Last is the most recent event: how the printer is doing, for a status line.
func (s *Spooler) Last() Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Pending is the number of jobs waiting (not counting the one printing).
func (s *Spooler) Pending() int { return len(s.jobs) }

// Close stops the spooler: the attempt in progress is cancelled and waiting
// jobs are reported Dropped. It does not close the Printer.
func (s *Spooler) Close() {
	s.close.Do(func() {
		s.mu.Lock()
		s.closed = true // no Submit can queue a job that nobody would report
		s.mu.Unlock()
		s.stop()
		<-s.done
		for {
			select {
			case j := <-s.jobs:
				s.emit(Event{Kind: Dropped, JobID: j.ID, Err: ErrClosed})
			default:
				return
			}
		}
	})
}

func (s *Spooler) emit(e Event) {
	s.mu.Lock()
	s.last = e
	s.mu.Unlock()
	if s.opt.OnEvent != nil {
		s.opt.OnEvent(e)
	}
}

func (s *Spooler) run() {
	defer close(s.done)
	for {
		var tick <-chan time.Time
		if s.opt.StatusEvery > 0 {
			tick = s.opt.After(s.opt.StatusEvery)
		}
		select {
		case <-s.ctx.Done():
			return
		case j := <-s.jobs:
			if !s.print(j) {
				return
			}
		case <-tick:
			s.poll()
		}
	}
}

// poll asks the idle printer for its status and reports a change.
func (s *Spooler) poll() {
	ctx, cancel := context.WithTimeout(s.ctx, s.opt.JobTimeout)
	defer cancel()
	st, err := s.p.Status(ctx)
	text := st.String()
	if err != nil {
		text = err.Error()
	} else {
		err = st.Err()
	}
	if s.ctx.Err() != nil || text == s.polled {
		return
	}
	s.polled = text
	s.emit(Event{Kind: StatusChanged, Err: err, Status: st})
}

// print tries j until it is printed, dropped or given up; false means the
// spooler is closing.
func (s *Spooler) print(j Job) bool {
	backoff := s.opt.MinBackoff
	for attempt := 1; ; attempt++ {
		if j.Slip != nil && !j.Slip.ExpiresAt.IsZero() && !s.opt.Now().Before(j.Slip.ExpiresAt) {
			s.emit(Event{Kind: Dropped, JobID: j.ID, Attempt: attempt, Err: errors.New("printer: slip expired before it could be printed")})
			return true
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.opt.JobTimeout)
		var err error
		switch {
		case j.Slip != nil:
			err = s.p.PrintSlip(ctx, *j.Slip)
		case j.Receipt != nil:
			err = s.p.PrintReceipt(ctx, *j.Receipt)
		case j.Void != nil:
			err = s.p.PrintVoid(ctx, *j.Void)
		case j.Report != nil:
			err = s.p.PrintReport(ctx, *j.Report)
		case j.Commissioning != nil:
			err = s.p.PrintCommissioning(ctx, *j.Commissioning)
		default:
			err = s.p.SelfTest(ctx)
		}
		cancel()
		if err == nil {
			s.emit(Event{Kind: Printed, JobID: j.ID, Attempt: attempt})
			return true
		}
		if s.ctx.Err() != nil {
			s.emit(Event{Kind: Dropped, JobID: j.ID, Attempt: attempt, Err: ErrClosed})
			return false
		}
		if isBadJob(err) || attempt >= s.opt.MaxAttempts {
			s.emit(Event{Kind: Failed, JobID: j.ID, Attempt: attempt, Err: err})
			return true
		}
		s.emit(Event{Kind: Retrying, JobID: j.ID, Attempt: attempt, Err: err, Backoff: backoff})
		select {
		case <-s.opt.After(backoff):
		case <-s.ctx.Done():
			s.emit(Event{Kind: Dropped, JobID: j.ID, Attempt: attempt, Err: ErrClosed})
			return false
		}
		backoff = min(2*backoff, s.opt.MaxBackoff)
	}
}

// isBadJob tells a job that can never print (bad data) from a printer that
// cannot print now: only the second is worth retrying.
func isBadJob(err error) bool {
	for _, e := range []error{ErrOffline, ErrPaperOut, ErrCoverOpen, ErrTimeout, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}
