package metrics_test

import (
	"context"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"posagent/agent"
	"posagent/agent/metrics"
	"posagent/gateway"
	"posagent/storage"
)

// fakeClock hands out the times a test scripts; the metrics read it for
// latency, the order age and the clock offset.
type fakeClock struct {
	mu  sync.Mutex
	t   time.Time
	inc time.Duration // added after each reading
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.inc)
	return t
}

func (c *fakeClock) set(t time.Time, inc time.Duration) {
	c.mu.Lock()
	c.t, c.inc = t, inc
	c.mu.Unlock()
}

// parse reads the Prometheus text exposition format with the client
// library's own parser (github.com/prometheus/common/expfmt), the parser
// Prometheus itself used for the text format.
func parse(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	return mfs
}

// value returns the sample of family name whose labels include want, or
// NaN when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf, ok := mfs[name]
	if !ok {
		return math.NaN()
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Untyped != nil:
			return m.GetUntyped().GetValue()
		}
	}
	return math.NaN()
}

func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	return parse(t, resp.Body)
}

func TestScrape(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)}
	m := metrics.New(metrics.Options{Version: "1.2.3", Now: clock.Now})

	m.Sale("upay", "paid")
	m.Sale("upay", "paid")
	m.Sale("alipay", "canceled")
	oldest := clock.t.Add(-12 * time.Minute)
	m.SetOrders(metrics.Orders{Open: 4, Queued: 2, Unresolved: 1, Oldest: oldest})
	m.CheckedIn("upay", time.Unix(1_764_000_000, 0))
	m.CheckedIn("alipay", time.Time{}) // never: no series
	m.SetDevice(metrics.Keypad, true)
	m.SetDevice(metrics.Printer, false)
	m.SetPaper(metrics.PaperOut)
	m.SetClockSynced(true)
	m.GatewayError("upay", "query", &gateway.Error{Class: gateway.Unknown, Op: "query"})
	m.GatewayError("upay", "precreate", &gateway.Error{Class: gateway.NotSent, Op: "precreate"})
	m.GatewayError("upay", "precreate", errors.New("not a gateway.Error")) // ClassOf: unknown
	db := filepath.Join(t.TempDir(), "posagent.db")
	if err := os.WriteFile(db, make([]byte, 32768), 0o600); err != nil {
		t.Fatal(err)
	}
	m.DatabaseFile(db)

	mfs := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"posagent_sales_total", map[string]string{"gateway": "upay", "outcome": "paid"}, 2},
		{"posagent_sales_total", map[string]string{"gateway": "alipay", "outcome": "canceled"}, 1},
		{"posagent_orders_open", nil, 4},
		{"posagent_orders_queued", nil, 2},
		{"posagent_orders_unresolved", nil, 1},
		{"posagent_oldest_unresolved_order_created_timestamp_seconds", nil, float64(oldest.Unix())},
		{"posagent_oldest_unresolved_order_age_seconds", nil, 12 * 60},
		{"posagent_last_checkin_success_timestamp_seconds", map[string]string{"gateway": "upay"}, 1_764_000_000},
		{"posagent_device_up", map[string]string{"device": "keypad"}, 1},
		{"posagent_device_up", map[string]string{"device": "printer"}, 0},
		{"posagent_printer_paper", map[string]string{"state": "out"}, 1},
		{"posagent_printer_paper", map[string]string{"state": "ok"}, 0},
		{"posagent_printer_paper", map[string]string{"state": "near_end"}, 0},
		{"posagent_clock_synchronized", nil, 1},
		{"posagent_gateway_errors_total", map[string]string{"gateway": "upay", "op": "query", "class": "unknown"}, 1},
		{"posagent_gateway_errors_total", map[string]string{"gateway": "upay", "op": "precreate", "class": "not_sent"}, 1},
		{"posagent_gateway_errors_total", map[string]string{"gateway": "upay", "op": "precreate", "class": "unknown"}, 1},
		{"posagent_database_size_bytes", nil, 32768},
		{"posagent_build_info", map[string]string{"version": "1.2.3"}, 1},
	} {
		if got := value(mfs, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value(mfs, "posagent_last_checkin_success_timestamp_seconds", map[string]string{"gateway": "alipay"}); !math.IsNaN(got) {
		t.Errorf("a zero check-in time is exported as %v", got)
	}
	if mfs["posagent_sales_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("posagent_sales_total is a %v, want a counter", mfs["posagent_sales_total"].GetType())
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics (go_goroutines)")
	}

	// The age follows the clock at each scrape; no unresolved order: 0.
	clock.set(clock.t.Add(time.Minute), 0)
	if got := value(scrape(t, m), "posagent_oldest_unresolved_order_age_seconds", nil); got != 13*60 {
		t.Errorf("age a minute later = %v, want %v", got, 13*60)
	}
	m.SetOrders(metrics.Orders{Open: 1})
	mfs = scrape(t, m)
	if got := value(mfs, "posagent_oldest_unresolved_order_age_seconds", nil); got != 0 {
		t.Errorf("age with no unresolved order = %v", got)
	}
	if got := value(mfs, "posagent_oldest_unresolved_order_created_timestamp_seconds", nil); got != 0 {
		t.Errorf("oldest timestamp with no unresolved order = %v", got)
	}
}

// TestTextfile checks what node_exporter's textfile collector asks of a
// writer (node_exporter README, "Textfile Collector": write to a temporary
// file in the same directory, then rename it; the collector reads *.prom).
func TestTextfile(t *testing.T) {
	m := metrics.New(metrics.Options{Version: "t"})
	dir := t.TempDir()
	path := filepath.Join(dir, "posagent.prom")
	m.Sale("yedpay", "paid")
	if err := m.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("textfile mode %v, want 0644 (node_exporter runs as another user)", st.Mode().Perm())
	}
	// A reader that has the old file open keeps reading the old file: the
	// new one was renamed over it, not written into it.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	m.Sale("yedpay", "paid")
	if err := m.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	if got := value(parse(t, old), "posagent_sales_total", map[string]string{"gateway": "yedpay"}); got != 1 {
		t.Errorf("the file open before the second write reads %v sales, want 1: it was rewritten in place", got)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := value(parse(t, f), "posagent_sales_total", map[string]string{"gateway": "yedpay"}); got != 2 {
		t.Errorf("textfile after the second write: %v sales, want 2", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only posagent.prom (no temporary files left)", len(entries))
	}
	// An unwritable place is an error that names the package and the path.
	err = m.WriteTextfile(filepath.Join(dir, "missing", "posagent.prom"))
	if err == nil || !strings.HasPrefix(err.Error(), "metrics: ") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("write into a missing directory: %v", err)
	}
}

func TestWriteEvery(t *testing.T) {
	m := metrics.New(metrics.Options{})
	path := filepath.Join(t.TempDir(), "posagent.prom")
	ctx, cancel := context.WithCancel(context.Background())
	tick := make(chan time.Time) // unbuffered: a send returns once the loop took it
	done := make(chan struct{})
	go func() { m.WriteEvery(ctx, path, tick, func(err error) { t.Error(err) }); close(done) }()

	read := func() float64 {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return value(parse(t, f), "posagent_sales_total", map[string]string{"gateway": "upay", "outcome": "paid"})
	}
	m.Sale("upay", "paid")
	tick <- time.Time{}
	tick <- time.Time{} // taken only after the first tick's write finished
	if got := read(); got != 1 {
		t.Errorf("after a tick: %v sales, want 1", got)
	}
	m.Sale("upay", "paid")
	cancel()
	<-done
	if got := read(); got != 2 {
		t.Errorf("after stop: %v sales, want 2 (the last counts are written on the way out)", got)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *metrics.Metrics
	m.Sale("upay", "paid")
	m.SetOrders(metrics.Orders{Open: 1})
	m.SetPaper(metrics.PaperOut)
	if err := m.WriteTextfile(filepath.Join(t.TempDir(), "x.prom")); err != nil {
		t.Error(err)
	}
	if rt := m.Transport(http.DefaultTransport, "upay"); rt != http.DefaultTransport {
		t.Errorf("a nil Metrics wraps the transport: %T", rt)
	}
}

// TestTransport sends real requests over loopback through the wrapper.
// The sandbox answers with the Date header RFC 9110 §6.6.1 defines
// (IMF-fixdate, http.TimeFormat), and with the statuses and failures a
// gateway can give.
func TestTransport(t *testing.T) {
	local := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	clock := &fakeClock{}
	m := metrics.New(metrics.Options{Now: clock.Now})

	status := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The gateway's clock is 90 s ahead of the terminal's.
		w.Header().Set("Date", local.Add(90*time.Second).Format(http.TimeFormat))
		w.WriteHeader(status)
		io.WriteString(w, `{"result_code":"200"}`)
	}))
	defer srv.Close()
	client := &http.Client{Transport: m.Transport(srv.Client().Transport, "upay")}

	get := func(url string) error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	// Each call reads the clock twice (start, end): 300 ms apart.
	clock.set(local.Add(-150*time.Millisecond), 300*time.Millisecond)
	if err := get(srv.URL + "/upay/v2/query"); err != nil {
		t.Fatal(err)
	}
	mfs := scrape(t, m)
	if got := value(mfs, "posagent_clock_offset_seconds", nil); got != 90 {
		t.Errorf("clock offset %v, want 90 (gateway Date minus the request's midpoint)", got)
	}
	h := histogram(t, mfs, "upay")
	if h.GetSampleCount() != 1 || math.Abs(h.GetSampleSum()-0.3) > 1e-9 {
		t.Errorf("latency: %d samples, sum %v; want 1 of 0.3 s", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		if want := uint64(0); b.GetUpperBound() < 0.3 && b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want 0", b.GetUpperBound(), b.GetCumulativeCount())
		}
		if b.GetUpperBound() >= 0.3 && b.GetCumulativeCount() != 1 {
			t.Errorf("bucket le=%v holds %d, want 1", b.GetUpperBound(), b.GetCumulativeCount())
		}
	}

	status = 502
	get(srv.URL + "/upay/v2/query")
	status = 403
	get(srv.URL + "/upay/v2/query")

	// A refused connection: a port that was listening and is closed now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	if err := get(closed); err == nil {
		t.Fatal("request to a closed port succeeded")
	}
	// A deadline already past: the client gives up as on a slow gateway.
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	if _, err := client.Do(req); err == nil {
		t.Fatal("request past its deadline succeeded")
	}
	// A TLS server the client does not trust: certificate verification
	// stays on and fails.
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	strict := &http.Client{Transport: m.Transport(http.DefaultTransport.(*http.Transport).Clone(), "alipay")}
	if _, err := strict.Get(tlsSrv.URL); err == nil {
		t.Fatal("untrusted TLS server accepted")
	}

	mfs = scrape(t, m)
	for _, c := range []struct {
		gw, kind string
		want     float64
	}{
		{"upay", "http_5xx", 1}, {"upay", "http_4xx", 1}, {"upay", "network", 1}, {"upay", "timeout", 1}, {"alipay", "tls", 1},
	} {
		if got := value(mfs, "posagent_gateway_transport_errors_total", map[string]string{"gateway": c.gw, "kind": c.kind}); got != c.want {
			t.Errorf("transport errors {gateway=%s,kind=%s} = %v, want %v", c.gw, c.kind, got, c.want)
		}
	}
	if got := histogram(t, mfs, "upay").GetSampleCount(); got != 5 {
		t.Errorf("upay latency samples %d, want 5 (every request, failed ones too)", got)
	}
}

func histogram(t *testing.T, mfs map[string]*dto.MetricFamily, gw string) *dto.Histogram {
	t.Helper()
	for _, m := range mfs["posagent_gateway_request_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "gateway" && l.GetValue() == gw {
				return m.GetHistogram()
			}
		}
	}
	t.Fatalf("no latency histogram for gateway %s", gw)
	return nil
}

// TestOrdersOf classifies orders by the engine's own state constants
// (agent/state.go), so a renamed state breaks this test, not the alert.
func TestOrdersOf(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	pending := []storage.Order{
		{State: string(agent.Awaiting), CreatedAt: at(-30)}, // a QR on screen: not unresolved
		{State: string(agent.Queued), CreatedAt: at(-40)},
		{State: string(agent.Queued), CreatedAt: at(-1)},
		{State: string(agent.Unknown), CreatedAt: at(-5)},
		{State: string(agent.Watching), CreatedAt: at(-20)},
		{State: string(agent.Canceling), CreatedAt: at(-3)},
		{State: string(agent.Unresolved), CreatedAt: at(-7)},
		{State: string(agent.Submitting), CreatedAt: at(-2)},
	}
	got := metrics.OrdersOf(pending)
	want := metrics.Orders{Open: 8, Queued: 2, Unresolved: 5, Oldest: at(-20)}
	if got != want {
		t.Errorf("OrdersOf = %+v, want %+v", got, want)
	}
	for _, s := range []agent.State{agent.Submitting, agent.Queued, agent.Unknown, agent.Awaiting, agent.Canceling, agent.Unresolved, agent.Watching} {
		if s.Final() {
			t.Errorf("%s is final: OrdersOf would count a final state", s)
		}
	}
	if got := metrics.OrdersOf(nil); got != (metrics.Orders{}) {
		t.Errorf("OrdersOf(nil) = %+v", got)
	}
}

func TestServe(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.Sale("alipay", "paid")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mfs := parse(t, resp.Body)
	resp.Body.Close()
	if got := value(mfs, "posagent_sales_total", map[string]string{"gateway": "alipay"}); got != 1 {
		t.Errorf("served sales = %v, want 1", got)
	}
	if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET / = %s, want 404: only /metrics is served", resp.Status)
		}
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
}
