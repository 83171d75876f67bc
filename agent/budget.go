package agent

import (
	"time"

	"posagent/storage"
)

// The request budget (issue 13, point 2). Whatever the gateway answers —
// contradictions, conflicts, 500s after commit — one order must not turn
// into a flood: the Yedpay loop of issue 13 sent about 7,500 requests in
// 13 s for one sale. Every gateway call of the engine passes spend first,
// so the limit lives in one place rather than in each retry path.

// orderCalls is one open order's spending.
type orderCalls struct {
	recent []time.Time // calls in the last minute, oldest first
	total  int         // calls before the order's gateway expiry
}

// CallStats is what the engine has spent since it started, for tests,
// benchmarks and the status line.
type CallStats struct {
	Calls int // gateway calls made for orders
	// MaxPerMinute is the highest number of calls one order made within
	// any 60 s; never above Config.MaxCallsPerMinute.
	MaxPerMinute int
	// MaxBeforeExpiry is the most calls one order made before its gateway
	// expiry; never above Config.MaxCallsPerOrder.
	MaxBeforeExpiry int
	// Refused counts calls the budget held back.
	Refused int
}

// CallStats returns the engine's spending so far.
func (e *Engine) CallStats() CallStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// Calls returns how many calls an open order has made in this run, and
// how many in the last minute.
func (e *Engine) Calls(clientSN string) (total, lastMinute int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.calls[clientSN]; c != nil {
		return c.total, len(c.recent)
	}
	return 0, 0
}

// admit spends one call of o's budget now, or, when the budget is used up,
// schedules o for when it allows the next call and reports false: the
// step before every scheduled gateway call of the engine.
func (e *Engine) admit(o *storage.Order) bool {
	at, ok := e.spend(o, e.clock.Now())
	if !ok {
		e.scheduleAt(o, at)
	}
	return ok
}

// spend records one gateway call for o at now, or refuses it and says when
// the budget allows the next one.
func (e *Engine) spend(o *storage.Order, now time.Time) (time.Time, bool) {
	x := e.expiry(o)
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.calls[o.ClientSN]
	if c == nil {
		c = &orderCalls{}
		e.calls[o.ClientSN] = c
	}
	cut := now.Add(-time.Minute)
	i := 0
	for i < len(c.recent) && !c.recent[i].After(cut) {
		i++
	}
	c.recent = c.recent[i:]
	if len(c.recent) >= e.cfg.MaxCallsPerMinute {
		e.stats.Refused++
		return c.recent[0].Add(time.Minute), false
	}
	before := now.Before(x)
	if before && c.total >= e.cfg.MaxCallsPerOrder {
		e.stats.Refused++
		return x, false
	}
	c.recent = append(c.recent, now)
	if before {
		c.total++
		e.stats.MaxBeforeExpiry = max(e.stats.MaxBeforeExpiry, c.total)
	}
	e.stats.Calls++
	e.stats.MaxPerMinute = max(e.stats.MaxPerMinute, len(c.recent))
	return now, true
}

// closeCalls forgets a final order's spending. Call with e.mu held.
func (e *Engine) closeCalls(clientSN string) {
	if _, open := e.refunds[clientSN]; !open {
		delete(e.calls, clientSN)
	}
}
