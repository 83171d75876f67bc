// Package metrics is the terminal's Prometheus instrumentation: what a fleet
// needs to see of each terminal without logging in to it.
//
// Everything lives in one registry owned by a *Metrics (never the
// client library's global default registry), so that tests and a second
// engine in one process do not share counters. The service feeds it through
// plain methods (Sale, SetOrders, CheckedIn, SetDevice, SetPaper, …) and
// through Transport, an http.RoundTripper wrapper around each gateway
// client's transport that times every call, counts transport errors and
// reads the clock offset from the gateway's Date header.
//
// A Raspberry Pi usually runs node_exporter with its textfile collector:
// WriteTextfile writes the registry to a *.prom file atomically (a
// temporary file renamed over the old one, mode 0644, as the collector's
// documentation asks). Handler serves the same registry on a local port.
//
// Every method is safe for concurrent use, and a nil *Metrics does nothing
// (Transport returns its argument), so callers need no "metrics enabled?"
// branches.
//
// The metric names, labels and the alert rules built on them are listed in
// docs/monitoring/README.md.
package metrics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"posagent/gateway"
	"posagent/storage"
)

// Options configure New.
type Options struct {
	// Version is the agent's version, exported as posagent_build_info.
	Version string
	// Now is the wall clock; nil means time.Now. Tests pass a fake one.
	Now func() time.Time
}

// Metrics holds the terminal's metrics and the registry they are in.
type Metrics struct {
	reg     *prometheus.Registry // posagent_*: the textfile and /metrics
	runtime *prometheus.Registry // go_*, process_*: /metrics only (see New)
	now     func() time.Time

	sales         *prometheus.CounterVec
	ordersOpen    prometheus.Gauge
	ordersQueued  prometheus.Gauge
	ordersUnres   prometheus.Gauge
	oldestCreated prometheus.Gauge
	latency       *prometheus.HistogramVec
	transportErrs *prometheus.CounterVec
	callErrs      *prometheus.CounterVec
	checkin       *prometheus.GaugeVec
	device        *prometheus.GaugeVec
	paper         *prometheus.GaugeVec
	clockOffset   prometheus.Gauge
	clockSynced   prometheus.Gauge

	mu     sync.Mutex
	oldest time.Time // creation time of the oldest unresolved order; zero: none
	dbPath string
}

// The order outcomes Sale is called with are the engine's final states
// (agent.State): paid, canceled, pay_failed, expired, failed, refunded,
// partial_refunded.

// Device names for SetDevice.
const (
	Keypad  = "keypad"
	Printer = "printer"
	Display = "display"
)

// Paper is what the printer says about its paper (ESC/POS DLE EOT 4:
// paper near end, paper out; field-notes.md "Printers").
type Paper string

// The paper states, exported as the state label of posagent_printer_paper.
const (
	PaperOK      Paper = "ok"
	PaperNearEnd Paper = "near_end"
	PaperOut     Paper = "out"
	PaperUnknown Paper = "unknown" // the printer cannot be asked (file driver, no status)
)

var paperStates = []Paper{PaperOK, PaperNearEnd, PaperOut, PaperUnknown}

// latencyBuckets span a LAN sandbox (milliseconds) to the agent's call
// deadline (tens of seconds, gateway client timeouts).
var latencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30}

// New returns a Metrics with every metric registered in a fresh registry.
// Handler adds the Go runtime and process collectors (memory, goroutines,
// open files: what a long-running Pi service leaks first); on the
// textfile path node_exporter's own process metrics cover the machine.
func New(o Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), runtime: prometheus.NewRegistry(), now: o.Now}
	if m.now == nil {
		m.now = time.Now
	}
	f := factory{m.reg}
	m.sales = f.counterVec("posagent_sales_total",
		"Sales that reached a final state, by gateway and outcome (paid, canceled, pay_failed, expired, failed, refunded, partial_refunded).",
		"gateway", "outcome")
	m.ordersOpen = f.gauge("posagent_orders_open", "Orders not in a final state (the pending index).")
	m.ordersQueued = f.gauge("posagent_orders_queued", "Orders queued offline: the gateway has not heard of them yet.")
	m.ordersUnres = f.gauge("posagent_orders_unresolved",
		"Orders whose outcome the terminal cannot yet tell (submitting, unknown, canceling, unresolved, watching).")
	m.oldestCreated = f.gauge("posagent_oldest_unresolved_order_created_timestamp_seconds",
		"Creation time of the oldest unresolved order, Unix seconds; 0 when there is none.")
	f.gaugeFunc("posagent_oldest_unresolved_order_age_seconds",
		"Age of the oldest unresolved order at the time of the scrape or write; 0 when there is none.",
		m.oldestAge)
	m.latency = f.histogramVec("posagent_gateway_request_duration_seconds",
		"Time from sending a gateway request to its response headers (or its error), by gateway.",
		latencyBuckets, "gateway")
	m.transportErrs = f.counterVec("posagent_gateway_transport_errors_total",
		"Gateway HTTP requests that failed on the wire or with an HTTP error status, by gateway and kind (timeout, network, tls, http_4xx, http_5xx).",
		"gateway", "kind")
	m.callErrs = f.counterVec("posagent_gateway_errors_total",
		"Gateway calls that failed, by gateway, operation and failure class (not_sent, rejected, unknown; gateway.Class).",
		"gateway", "op", "class")
	m.checkin = f.gaugeVec("posagent_last_checkin_success_timestamp_seconds",
		"Time of the last successful check-in (terminal key rotation), Unix seconds, by gateway.", "gateway")
	m.device = f.gaugeVec("posagent_device_up",
		"1 when the device works (keypad open, printer ready, display drawing), 0 when it does not.", "device")
	m.paper = f.gaugeVec("posagent_printer_paper",
		"The printer's paper as a state set: 1 for the current state (ok, near_end, out, unknown), 0 for the others.", "state")
	m.clockOffset = f.gauge("posagent_clock_offset_seconds",
		"The gateway's clock (HTTP Date header) minus the terminal's, seconds; positive when the terminal is behind. Resolution 1 s.")
	m.clockSynced = f.gauge("posagent_clock_synchronized",
		"1 when the system clock is synchronised (systemd-timesyncd or the kernel's NTP state), else 0.")
	f.gaugeFunc("posagent_database_size_bytes", "Size of the bbolt order database file.", m.dbSize)

	build := f.gaugeVec("posagent_build_info", "Always 1; the labels say which posagent and Go built it.", "version", "goversion")
	build.WithLabelValues(o.Version, runtime.Version()).Set(1)
	// The Go runtime and process collectors go to /metrics only: in the
	// textfile they would collide with node_exporter's own go_* and
	// process_* series ("collected before with the same name", logged at
	// every scrape; TestNodeExporterReadsTextfile).
	m.runtime.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// factory registers each metric as it is made: MustRegister panics only on
// a programming error (a duplicate name), caught by every test.
type factory struct{ reg *prometheus.Registry }

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeFunc(name, help string, fn func() float64) {
	f.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// Registry is the registry of the posagent_* metrics (what the textfile
// holds), for callers that gather or serve it themselves.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in the Prometheus exposition format, for
// metrics.listen (a local address).
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(prometheus.Gatherers{m.reg, m.runtime}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve answers GET /metrics on ln until ctx ends (metrics.listen). It
// returns nil after ctx ends, or the server's error.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			srv.Close()
		case <-done:
		}
	}()
	err := srv.Serve(ln)
	close(done)
	if ctx.Err() != nil && errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("metrics: serving on %s: %w", ln.Addr(), err)
}

// WriteTextfile writes every metric to path for node_exporter's textfile
// collector: into a temporary file in the same directory, made 0644 and
// renamed over path, so the collector never reads half a file
// (prometheus.WriteToTextfile). path must end in .prom to be collected.
func (m *Metrics) WriteTextfile(path string) error {
	if m == nil {
		return nil
	}
	if err := prometheus.WriteToTextfile(path, m.reg); err != nil {
		return errors.New("metrics: writing " + path + ": " + err.Error())
	}
	return nil
}

// WriteEvery writes the textfile now, then at every tick, until ctx ends,
// and once more on the way out so the file holds the final counts. Errors
// go to report (nil: dropped); a failing write does not stop the loop: the
// next tick tries again.
func (m *Metrics) WriteEvery(ctx context.Context, path string, tick <-chan time.Time, report func(error)) {
	if m == nil {
		return
	}
	write := func() {
		if err := m.WriteTextfile(path); err != nil && report != nil {
			report(err)
		}
	}
	write()
	for {
		select {
		case <-ctx.Done():
			write()
			return
		case <-tick:
			write()
		}
	}
}

// Sale counts a sale that reached its final state.
func (m *Metrics) Sale(gatewayName, outcome string) {
	if m == nil {
		return
	}
	m.sales.WithLabelValues(gatewayName, outcome).Inc()
}

// Orders is a snapshot of the pending orders.
type Orders struct {
	Open       int       // every non-final order
	Queued     int       // never reached the gateway yet
	Unresolved int       // outcome not known yet (see posagent_orders_unresolved)
	Oldest     time.Time // creation time of the oldest unresolved order; zero: none
}

// SetOrders replaces the pending-order gauges with o.
func (m *Metrics) SetOrders(o Orders) {
	if m == nil {
		return
	}
	m.ordersOpen.Set(float64(o.Open))
	m.ordersQueued.Set(float64(o.Queued))
	m.ordersUnres.Set(float64(o.Unresolved))
	m.mu.Lock()
	m.oldest = o.Oldest
	m.mu.Unlock()
	if o.Oldest.IsZero() {
		m.oldestCreated.Set(0)
	} else {
		m.oldestCreated.Set(unixSeconds(o.Oldest))
	}
}

func (m *Metrics) oldestAge() float64 {
	m.mu.Lock()
	oldest := m.oldest
	m.mu.Unlock()
	if oldest.IsZero() {
		return 0
	}
	if age := m.now().Sub(oldest).Seconds(); age > 0 {
		return age
	}
	return 0
}

// GatewayError counts a failed gateway call by its class (gateway.ClassOf).
// op is the call: precreate, query, cancel, refund, checkin, …
func (m *Metrics) GatewayError(gatewayName, op string, err error) {
	if m == nil || err == nil {
		return
	}
	class := "unknown"
	switch gateway.ClassOf(err) {
	case gateway.NotSent:
		class = "not_sent"
	case gateway.Rejected:
		class = "rejected"
	}
	m.callErrs.WithLabelValues(gatewayName, op, class).Inc()
}

// CheckedIn records a successful check-in at t (also called at start with
// the last one from the database, so a restart does not hide an old one).
// A zero t (never checked in) leaves the series out rather than exporting
// 1970, which would read as a check-in 56 years late.
func (m *Metrics) CheckedIn(gatewayName string, t time.Time) {
	if m == nil || t.IsZero() {
		return
	}
	m.checkin.WithLabelValues(gatewayName).Set(unixSeconds(t))
}

// SetDevice records whether a device works: Keypad, Printer or Display.
func (m *Metrics) SetDevice(device string, ok bool) {
	if m == nil {
		return
	}
	v := 0.0
	if ok {
		v = 1
	}
	m.device.WithLabelValues(device).Set(v)
}

// SetPaper records the printer's paper state.
func (m *Metrics) SetPaper(p Paper) {
	if m == nil {
		return
	}
	for _, s := range paperStates {
		v := 0.0
		if s == p {
			v = 1
		}
		m.paper.WithLabelValues(string(s)).Set(v)
	}
}

// SetClockOffset records how far the terminal's clock is from a reference
// (reference minus local). Transport calls it with each gateway answer.
func (m *Metrics) SetClockOffset(d time.Duration) {
	if m == nil {
		return
	}
	m.clockOffset.Set(d.Seconds())
}

// SetClockSynced records whether the system clock is synchronised
// (agent.TimeSync's answer).
func (m *Metrics) SetClockSynced(ok bool) {
	if m == nil {
		return
	}
	v := 0.0
	if ok {
		v = 1
	}
	m.clockSynced.Set(v)
}

// DatabaseFile names the bbolt file whose size posagent_database_size_bytes
// reports, read at each scrape or write.
func (m *Metrics) DatabaseFile(path string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.dbPath = path
	m.mu.Unlock()
}

func (m *Metrics) dbSize() float64 {
	m.mu.Lock()
	p := m.dbPath
	m.mu.Unlock()
	if p == "" {
		return 0
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return float64(st.Size())
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// Transport wraps next (nil: http.DefaultTransport) so that every request
// to the gateway is timed in posagent_gateway_request_duration_seconds,
// failures are counted in posagent_gateway_transport_errors_total, and the
// answer's Date header updates posagent_clock_offset_seconds. The request
// and response pass through untouched: signatures are computed on bytes
// this wrapper never reads.
func (m *Metrics) Transport(next http.RoundTripper, gatewayName string) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	return &transport{m: m, next: next, gateway: gatewayName}
}

type transport struct {
	m       *Metrics
	next    http.RoundTripper
	gateway string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := t.m.now()
	resp, err := t.next.RoundTrip(req)
	end := t.m.now()
	t.m.latency.WithLabelValues(t.gateway).Observe(end.Sub(start).Seconds())
	if err != nil {
		t.m.transportErrs.WithLabelValues(t.gateway, errKind(err)).Inc()
		return resp, err
	}
	switch {
	case resp.StatusCode >= 500:
		t.m.transportErrs.WithLabelValues(t.gateway, "http_5xx").Inc()
	case resp.StatusCode >= 400:
		t.m.transportErrs.WithLabelValues(t.gateway, "http_4xx").Inc()
	}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		// The server stamped its Date somewhere between start and end;
		// the midpoint is the best local guess. The header has whole
		// seconds (RFC 9110 §5.6.7), and so has the offset.
		mid := start.Add(end.Sub(start) / 2)
		t.m.SetClockOffset(d.Sub(mid).Round(time.Second))
	}
	return resp, nil
}

// errKind sorts a transport error for posagent_gateway_transport_errors_total.
func errKind(err error) string {
	var (
		ne  net.Error
		ce  *tls.CertificateVerificationError
		ue  x509.UnknownAuthorityError
		he  x509.HostnameError
		rhe tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ce), errors.As(err, &ue), errors.As(err, &he), errors.As(err, &rhe):
		return "tls"
	}
	return "network"
}

// String helps tests and logs print a Paper.
func (p Paper) String() string { return string(p) }

// OrdersOf counts pending orders (storage's pending index: every order not
// in a final state) into an Orders snapshot. The state names are the
// engine's (agent/state.go): queued orders never reached the gateway;
// submitting, unknown, canceling, unresolved and watching ones have an
// outcome the terminal cannot tell yet; awaiting_payment is a QR on the
// screen, which the payment window bounds.
func OrdersOf(pending []storage.Order) Orders {
	o := Orders{Open: len(pending)}
	for _, p := range pending {
		switch p.State {
		case "queued":
			o.Queued++
		case "submitting", "unknown", "canceling", "unresolved", "watching":
			o.Unresolved++
			if o.Oldest.IsZero() || p.CreatedAt.Before(o.Oldest) {
				o.Oldest = p.CreatedAt
			}
		}
	}
	return o
}
