package agent

import (
	"context"
	"time"
)

// idleWake bounds how long Run sleeps with nothing to do, so that a
// pending order written by another path is never forgotten for long.
const idleWake = 30 * time.Second

// Run drives the engine until ctx ends: it reconciles what the last run
// left, then ticks whenever work is due or Wake is called. Sales and the
// Cancel key come in through Sale and CancelActive from other goroutines.
func (e *Engine) Run(ctx context.Context) error {
	if _, err := e.Reconcile(ctx); err != nil && ctx.Err() == nil {
		e.log.Error("reconcile", "err", err)
	}
	e.findOpenRefunds()
	for {
		wait := idleWake
		if next, ok, err := e.Next(); err != nil {
			e.log.Error("reading pending orders", "err", err)
		} else if ok {
			wait = min(max(next.Sub(e.clock.Now()), 0), idleWake)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.clock.After(wait):
		case <-e.wakeCh():
		}
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("tick", "err", err)
		}
	}
}

// Wake makes Run look at the orders now (after a sale or a cancel).
func (e *Engine) Wake() {
	select {
	case e.wakeCh() <- struct{}{}:
	default:
	}
}

func (e *Engine) wakeCh() chan struct{} {
	e.wakeOnce.Do(func() { e.wake = make(chan struct{}, 1) })
	return e.wake
}
