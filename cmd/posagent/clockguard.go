package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"posagent/agent"
	"posagent/gateway"
	"posagent/provision"
)

// clockGuard is the engine's clock check in the service (issue 13, item 6):
// no signed call, deadline or Alipay timestamp before the wall clock is
// known to be right. The system's word comes first (timesyncd's flag, the
// kernel's sync state, not before the newest order: agent.SyncedClock).
// Without it, the gateway's own clock decides: the Date header of a plain
// GET of one of its real endpoints (the doctor's probe), within the
// doctor's MaxClockSkew. A terminal whose time daemon is not running but
// whose clock is right still sells; one that booted at a stale time waits,
// and its screen says why.
func clockGuard(system agent.ClockCheck, gatewayTime func(context.Context) (time.Time, error), now func() time.Time) agent.ClockCheck {
	return func() (bool, string) {
		ok, why := system()
		if ok {
			return true, ""
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		t0 := now()
		ref, err := gatewayTime(ctx)
		if err != nil {
			return false, why + "; the gateway's time is not known either"
		}
		local := t0.Add(now().Sub(t0) / 2)
		if skew := local.Sub(ref); skew.Abs() > provision.MaxClockSkew {
			return false, fmt.Sprintf("the clock is %s off the gateway's", skew.Abs().Round(time.Minute))
		}
		return true, ""
	}
}

// serviceClockGuard builds the guard for cfg: newest order as the lower
// bound, the gateway reached the way its client reaches it.
func serviceClockGuard(cfg Config, newest time.Time, rt http.RoundTripper) agent.ClockCheck {
	if rt == nil {
		roots, _ := httpRootCAs(cfg.Gateway.CAFile) // already loaded once by buildGateway
		rt = gateway.NewTransport(roots)
	}
	hc := &http.Client{Transport: rt}
	probe := provision.ProbeURL(cfg.Gateway.Kind, cfg.Gateway.URL)
	return clockGuard(agent.SyncedClock(newest), provision.DateRef(probe, hc), time.Now)
}
