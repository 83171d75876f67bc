package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/upay"
)

// BenchmarkEnterToQR measures what the cashier waits for: from Enter to the
// QR event, divided by one bare precreate round trip against the same
// sandbox with 20 ms of latency injected on every call. The difference is
// the engine's own cost: the order's commit (one fsync) and bookkeeping.
// Target ≤ 1.10.
func BenchmarkEnterToQR(b *testing.B) {
	bd := newBed(b, "upay", Config{})
	bd.faults.Configure(faults.Config{Seed: 1, Rates: map[faults.Kind]float64{faults.Latency: 1}, LatencyMS: 20})
	var qrAt time.Time
	bd.eng.emit = func(ev Event) {
		if ev.Kind == EventAwaitingPayment {
			qrAt = time.Now()
		}
	}
	var engine, bare time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := bd.eng.Sale(ctx, 100); err != nil {
			b.Fatal(err)
		}
		engine += qrAt.Sub(t0)
		bd.eng.active = "" // next customer; the open order is left to poll
		t1 := time.Now()
		if _, err := bd.gw.Precreate(ctx, gateway.PrecreateRequest{ClientSN: fmt.Sprintf("BARE%d", i), AmountCents: 100, Subject: "bench"}); err != nil {
			b.Fatal(err)
		}
		bare += time.Since(t1)
	}
	b.ReportMetric(float64(engine)/float64(bare), "enter-to-qr/precreate")
	b.ReportMetric(float64(engine.Microseconds())/float64(b.N), "µs-enter-to-qr")
	b.ReportMetric(float64(bare.Microseconds())/float64(b.N), "µs-bare-precreate")
}

// BenchmarkSaleLifecycle runs complete sales (Enter, QR, three unanswered
// polls, payment, PAID) and reports the database commits per sale; each
// bbolt commit is two fsyncs (data pages, then the meta page).
func BenchmarkSaleLifecycle(b *testing.B) {
	bd := newBed(b, "upay", Config{})
	c0 := bd.db.Commits()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sellOne(b, bd, i)
	}
	b.StopTimer()
	commits := float64(bd.db.Commits()-c0) / float64(b.N)
	b.ReportMetric(commits, "commits/sale")
	b.ReportMetric(2*commits, "fsyncs/sale")
}

// BenchmarkThousandSales runs 1,000 complete sales in a row and reports the
// peak RSS of this process, which holds the engine, the bbolt store and the
// HTTP client: the sandbox runs as a separate process (cmd/upay-sandbox),
// as the gateway would. Target ≤ 20 MB.
func BenchmarkThousandSales(b *testing.B) {
	base, stop := externalSandbox(b)
	defer stop()
	for i := 0; i < b.N; i++ {
		clock := NewFakeClock(time.Now())
		c, err := upay.New(upay.Config{BaseURL: base, VendorSN: "91800001", VendorKey: "sandbox-vendor-key"})
		if err != nil {
			b.Fatal(err)
		}
		term, err := c.Activate(ctx, upay.ActivateRequest{AppID: "bench", Code: "bench", DeviceID: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		c.SetTerminal(term.SN, term.Key)
		bd := &bed{t: b, clock: clock, gw: c}
		bd.pay = func(id string) error {
			resp, err := http.Post(base+"/sandbox/orders/"+id+"/pay", "application/json", nil)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("pay: %s", resp.Status)
			}
			return nil
		}
		bd.openDB(filepath.Join(b.TempDir(), "posagent.db"))
		bd.eng = New(Config{Prefix: fmt.Sprintf("B%d", i)}, bd.db, c, clock, nil, nil)
		for j := 0; j < 1000; j++ {
			sellOne(b, bd, j)
		}
	}
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
	}
}

// externalSandbox builds and starts cmd/upay-sandbox on a free loopback port.
func externalSandbox(b *testing.B) (string, func()) {
	bin := filepath.Join(b.TempDir(), "upay-sandbox")
	if out, err := exec.Command("go", "build", "-o", bin, "posagent/cmd/upay-sandbox").CombinedOutput(); err != nil {
		b.Fatalf("building the sandbox: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-activation-code", "bench:1000")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line) // "upay-sandbox listening on http://127.0.0.1:N"
	if err != nil || len(f) < 4 {
		cmd.Process.Kill()
		b.Fatalf("sandbox did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return f[3], func() { cmd.Process.Kill(); cmd.Wait() }
}

func sellOne(b *testing.B, bd *bed, i int) {
	o, err := bd.eng.Sale(ctx, 100+int64(i%1000))
	if err != nil {
		b.Fatal(err)
	}
	for range 3 {
		next, _, _ := bd.eng.Next()
		bd.clock.Set(next)
		bd.eng.Tick(ctx)
	}
	if err := bd.pay(o.ClientSN); err != nil {
		b.Fatal(err)
	}
	next, _, _ := bd.eng.Next()
	bd.clock.Set(next)
	bd.eng.Tick(ctx)
	if got := bd.order(o.ClientSN); got.State != string(Paid) {
		b.Fatalf("sale %d: %s", i, got.State)
	}
}

// BenchmarkIdleCPU runs the engine's loop on the real clock with nothing
// to do and reports the CPU time it used per second of wall time.
func BenchmarkIdleCPU(b *testing.B) {
	bd := newBed(b, "upay", Config{})
	eng := New(Config{}, bd.db, bd.gw, SystemClock{}, nil, nil)
	for i := 0; i < b.N; i++ {
		c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		u0 := cpuTime()
		t0 := time.Now()
		eng.Run(c)
		cancel()
		b.ReportMetric(float64(cpuTime()-u0)/float64(time.Since(t0)), "cpu-s/s-idle")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM is the process's peak resident set in KiB (Linux).
func vmHWM() int64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// slowGateway answers every call after d of real time, as a gateway (or a
// congested uplink) answering in 2 s does.
type slowGateway struct {
	gateway.Gateway
	d time.Duration
}

func (g slowGateway) wait(ctx context.Context) error {
	select {
	case <-time.After(g.d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g slowGateway) Precreate(ctx context.Context, r gateway.PrecreateRequest) (gateway.Order, error) {
	if err := g.wait(ctx); err != nil {
		return gateway.Order{}, &gateway.Error{Class: gateway.Unknown, Op: "precreate", Err: err}
	}
	return g.Gateway.Precreate(ctx, r)
}

func (g slowGateway) Query(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	if err := g.wait(ctx); err != nil {
		return gateway.Order{}, &gateway.Error{Class: gateway.Unknown, Op: "query", Err: err}
	}
	return g.Gateway.Query(ctx, ref)
}

func (g slowGateway) Cancel(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	if err := g.wait(ctx); err != nil {
		return gateway.Order{}, &gateway.Error{Class: gateway.Unknown, Op: "cancel", Err: err}
	}
	return g.Gateway.Cancel(ctx, ref)
}

// BenchmarkSaleBehindOpenOrders is issue 14's backlog case: 200 open orders
// are being polled through a gateway that answers every call in 2 s while
// the cashier presses Enter. It reports Enter → order committed (target ≤
// 20 ms) and Enter → QR divided by one bare precreate through the same slow
// gateway (target ≤ 1.10): the new sale waits for nobody.
//
//	go test ./agent -run '^$' -bench SaleBehindOpenOrders -benchtime 5x
func BenchmarkSaleBehindOpenOrders(b *testing.B) {
	const open, latency = 200, 2 * time.Second
	bd := newBed(b, "upay", Config{})
	var mu sync.Mutex
	var committedAt, qrAt time.Time
	var current uint64 // Seq of the sale being measured
	eng := New(Config{Gateway: "upay", CallTimeout: 10 * time.Second}, bd.db, bd.gw, SystemClock{}, nil, func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Order.Seq != current {
			return
		}
		switch ev.Kind {
		case EventSubmitting:
			committedAt = time.Now()
		case EventAwaitingPayment:
			qrAt = time.Now()
		}
	})
	for range open {
		if _, err := eng.Sale(ctx, 100); err != nil {
			b.Fatal(err)
		}
		eng.mu.Lock()
		eng.active = "" // left open, polled in the background
		eng.mu.Unlock()
	}
	slow := slowGateway{Gateway: bd.gw, d: latency}
	eng.gw = slow
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { eng.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	// Let the backlog build: the first polls fall due FastPoll after the
	// sales and take every conversation slot for 2 s at a time.
	time.Sleep(3 * time.Second) // real time: the load to measure under
	eng.mu.Lock()
	eng.active = "" // Run's start-up recovery took the newest open order
	eng.mu.Unlock()
	var commits []time.Duration
	var qr, bare time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mu.Lock()
		current = uint64(open + 1 + i)
		mu.Unlock()
		t0 := time.Now()
		if _, err := eng.Sale(ctx, 100); err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		c, q := committedAt, qrAt
		mu.Unlock()
		commits = append(commits, c.Sub(t0))
		qr += q.Sub(t0)
		eng.mu.Lock()
		eng.active = ""
		eng.mu.Unlock()
		t1 := time.Now()
		if _, err := slow.Precreate(ctx, gateway.PrecreateRequest{ClientSN: fmt.Sprintf("BARE%d", i), AmountCents: 100, Subject: "bench"}); err != nil {
			b.Fatal(err)
		}
		bare += time.Since(t1)
	}
	b.StopTimer()
	// The median: a commit is one fsync, and on a disk shared with other
	// work a single fsync can take tens of milliseconds whatever the
	// engine does; the maximum is reported beside it.
	slices.Sort(commits)
	b.ReportMetric(float64(commits[len(commits)/2].Microseconds())/1000, "ms-enter-to-commit-median")
	b.ReportMetric(float64(commits[len(commits)-1].Microseconds())/1000, "ms-enter-to-commit-max")
	b.ReportMetric(float64(qr)/float64(bare), "enter-to-qr/precreate")
	b.ReportMetric(float64(open), "open-orders")
}
