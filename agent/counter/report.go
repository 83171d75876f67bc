package counter

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"os"
	"sort"
	"time"

	"posagent/agent"
	"posagent/agent/report"
	"posagent/gateway"
	"posagent/storage"
)

// queryTimeout bounds each gateway question of a report, and reportTimeout
// all of them: an unreachable gateway makes the report say "no answer", it
// does not hang the menu.
const (
	queryTimeout  = 10 * time.Second
	reportTimeout = 30 * time.Second
)

// zState is what the Z file keeps: when the last Z report was made.
type zState struct {
	LastZ time.Time `json:"last_z"`
}

// Report builds the X or Z report: the orders created and the refunds
// made since the last Z report (at most since the start of today),
// streamed from the store, and every order that is not final with the
// gateway's current answer for it. A Z report also moves the start of the next period to now.
func (c *Counter) Report(ctx context.Context, kind report.Kind) (report.Summary, error) {
	now := c.o.Now()
	from := startOfDay(now)
	var z zState
	if c.o.ZPath != "" {
		if b, err := os.ReadFile(c.o.ZPath); err == nil && json.Unmarshal(b, &z) == nil && z.LastZ.After(from) && !z.LastZ.After(now) {
			from = z.LastZ
		}
	}
	s, err := BuildReport(ctx, kind, from, now, c.o.Scan, c.o.Refunds, c.o.Store.PendingOrders, c.o.Gateway)
	if err != nil {
		return s, err
	}
	s.Terminal, s.Merchant, s.Currency = c.o.Terminal, c.o.Config.Merchant, c.o.Config.Currency
	if kind == report.Z && c.o.ZPath != "" {
		if err := writeJSON(c.o.ZPath, zState{LastZ: now}); err != nil {
			return s, err
		}
	}
	return s, nil
}

// startOfDay is local midnight: the shop's day is the device's day.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// BuildReport sums the orders created in [from, to) and the refunds made
// in [from, to), and asks the gateway about every open order. scan
// streams the period's orders (one order in memory at a time); refunds
// streams the refunds made in the period, whatever day their orders were
// created (nil: none); pending lists the open orders (few: the engine
// keeps them few); gw may be nil (then open orders say "no answer").
//
// Refunds go by the day they were made, as the shop's till and the
// gateways' settlement statements count them: a refund today of
// yesterday's sale is in today's report, and a refund tomorrow of today's
// sale does not change today's report when it is made again.
func BuildReport(ctx context.Context, kind report.Kind, from, to time.Time,
	scan func(storage.Filter) iter.Seq2[storage.Order, error],
	refunds func(since, until time.Time) iter.Seq2[storage.Refund, error],
	pending func() ([]storage.Order, error), gw Querier) (report.Summary, error) {
	s := report.Summary{Kind: kind, From: from, To: to}
	outcome := map[string]*report.Line{}
	channel := map[string]*report.Line{}
	operator := map[string]*report.Line{}
	add := func(m map[string]*report.Line, key string, cents int64) {
		l := m[key]
		if l == nil {
			l = &report.Line{Key: key}
			m[key] = l
		}
		l.Count++
		l.Cents += cents
	}
	if scan != nil {
		for o, err := range scan(storage.Filter{Since: from, Until: to}) {
			if err == nil {
				err = ctx.Err()
			}
			if err != nil {
				return s, err
			}
			add(outcome, o.State, o.AmountCents)
			switch agent.State(o.State) {
			case agent.Paid, agent.PartialRefunded, agent.Refunded:
				ch := o.Channel
				if ch == "" {
					ch = "unknown"
				}
				add(channel, ch, o.AmountCents)
				op := o.Operator
				if op == "" {
					op = "-"
				}
				add(operator, op, o.AmountCents)
				s.NetCents += o.AmountCents
			}
		}
	}
	if refunds != nil {
		for r, err := range refunds(from, to) {
			if err == nil {
				err = ctx.Err()
			}
			if err != nil {
				return s, err
			}
			// A negative entry is a gateway's correction of an earlier
			// refund: it changes the sum, it is not a refund of its own.
			if r.Cents > 0 {
				s.Refunds.Count++
			}
			s.Refunds.Cents += r.Cents
		}
	}
	s.NetCents -= s.Refunds.Cents
	s.Refunds.Key = "refunds"
	s.ByOutcome, s.ByChannel, s.ByOperator = lines(outcome), lines(channel), lines(operator)
	open, err := pending()
	if err != nil {
		return s, err
	}
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	for _, o := range open {
		ro := report.Order{ClientSN: o.ClientSN, AmountCents: o.AmountCents, CreatedAt: o.CreatedAt, Device: o.State}
		diff := false
		if gw == nil {
			ro.Gateway = "no answer"
		} else {
			qctx, cancel := context.WithTimeout(ctx, queryTimeout)
			g, err := gw.Query(qctx, gateway.Ref{ClientSN: o.ClientSN, SN: o.SN})
			cancel()
			switch {
			case err == nil:
				ro.Gateway = string(g.Status)
				// The gateway has decided and the device has not caught up:
				// the engine will adopt it, but the report says so now.
				diff = g.Status.Final()
			case errors.Is(err, gateway.ErrOrderNotFound):
				ro.Gateway = "not found"
				diff = agent.State(o.State) != agent.Queued && agent.State(o.State) != agent.Submitting
			default:
				ro.Gateway = "no answer: " + errID(err)
			}
		}
		s.Open = append(s.Open, ro)
		if diff {
			s.Differences = append(s.Differences, ro)
		}
	}
	return s, nil
}

func lines(m map[string]*report.Line) []report.Line {
	out := make([]report.Line, 0, len(m))
	for _, l := range m {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
