package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"posagent/agent"
	"posagent/agent/metrics"
	"posagent/printer"
	"posagent/storage"
)

// metricsEvery is how often the order gauges are refreshed and the
// textfile rewritten: node_exporter reads the file at each scrape
// (typically every 15 to 60 s).
const metricsEvery = 15 * time.Second

// startMetrics returns the terminal's metrics, written to metrics.textfile
// and/or served on metrics.listen; nil (which accepts every call and does
// nothing) when neither is configured. stop ends both, after a last write
// of the textfile so that it holds the final counts.
func startMetrics(ctx context.Context, cfg Config, db *storage.DB, log *slog.Logger) (m *metrics.Metrics, stop func(), err error) {
	if cfg.Metrics.Textfile == "" && cfg.Metrics.Listen == "" {
		return nil, func() {}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	stop = func() { cancel(); <-done }
	m = metrics.New(metrics.Options{Version: version})
	m.DatabaseFile(db.Path())
	if cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("metrics.listen %s: %w", cfg.Metrics.Listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		context.AfterFunc(ctx, func() { srv.Close() })
		log.Info("metrics served", "addr", ln.Addr().String())
	}
	if cfg.Metrics.Textfile == "" {
		close(done)
	} else {
		tick := time.NewTicker(metricsEvery)
		go func() {
			defer close(done)
			defer tick.Stop()
			var last string
			m.WriteEvery(ctx, cfg.Metrics.Textfile, tick.C, func(err error) {
				if err != nil && err.Error() != last { // once per kind of failure, not every 15 s
					log.Warn("metrics textfile not written", "path", cfg.Metrics.Textfile, "err", err)
				}
				last = fmt.Sprint(err)
			})
		}()
	}
	return m, stop, nil
}

// metricsEmit counts each sale once, when the engine reports it final,
// and follows the engine's clock check, then passes the event on.
func metricsEmit(m *metrics.Metrics, gw string, next func(agent.Event)) func(agent.Event) {
	if m == nil {
		return next
	}
	return func(ev agent.Event) {
		switch ev.Kind {
		case agent.EventClockWait:
			m.SetClockSynced(false)
		case agent.EventClockOK:
			m.SetClockSynced(true)
		case agent.EventPaid, agent.EventLatePaid, agent.EventCanceled, agent.EventFailed, agent.EventRefunded:
			refundNews := ev.Outcome == agent.OutcomeRefundRefused || ev.Outcome == agent.OutcomeRefundPending
			if s := agent.State(ev.Order.State); s.Final() && !refundNews {
				m.Sale(gw, string(s))
			}
		}
		next(ev)
	}
}

// unresolvedStates are the orders whose outcome the terminal cannot tell
// yet (agent/metrics: posagent_orders_unresolved).
var unresolvedStates = map[agent.State]bool{agent.Submitting: true, agent.Unknown: true, agent.Canceling: true,
	agent.Unresolved: true, agent.Watching: true}

// pollMetrics refreshes the gauges that are states rather than events:
// pending orders, and the devices as the terminal last reported them.
func pollMetrics(ctx context.Context, m *metrics.Metrics, db *storage.DB, statusPath string, tick <-chan time.Time) {
	if m == nil {
		return
	}
	for {
		var o metrics.Orders
		if pending, err := db.PendingOrders(); err == nil {
			o.Open = len(pending)
			for _, p := range pending {
				s := agent.State(p.State)
				if s == agent.Queued {
					o.Queued++
				}
				if unresolvedStates[s] {
					o.Unresolved++
					if o.Oldest.IsZero() || p.CreatedAt.Before(o.Oldest) {
						o.Oldest = p.CreatedAt
					}
				}
			}
			m.SetOrders(o)
		}
		if b, err := os.ReadFile(statusPath); err == nil { // written by the terminal; absent before its first report
			var st Status
			if json.Unmarshal(b, &st) == nil {
				if st.Keypad != "none" {
					m.SetDevice(metrics.Keypad, st.Keypad == "connected")
				}
				if st.Printer != "none" {
					m.SetDevice(metrics.Printer, st.Printer == "ready" || st.Printer == "configured")
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// paperState reads the printer's paper from a spooler event (ESC/POS
// DLE EOT 4, field-notes.md "Printers").
func paperState(ev printer.Event) metrics.Paper {
	switch {
	case errors.Is(ev.Err, printer.ErrPaperOut) || ev.Status.PaperOut:
		return metrics.PaperOut
	case ev.Status.Known && ev.Status.PaperNearEnd:
		return metrics.PaperNearEnd
	case ev.Err == nil && ev.Status.Known:
		return metrics.PaperOK
	case ev.Err == nil:
		return metrics.PaperUnknown // a job went through, the printer was not asked (file driver, no_status)
	}
	return metrics.PaperUnknown
}
