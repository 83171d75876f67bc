package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
)

// The chaos test, in the shape of bbolt's simulation test: a seeded run of
// sales against a sandbox gateway with random faults on the wire, random
// payer behaviour, network outages and engine restarts, checked at the end
// against the design's invariant (bed.checkInvariant).
//
//	go test ./agent -run TestChaos                                  # a few seeds (make test)
//	make chaos SEEDS=1000 GATEWAY=upay                              # many
//	POSAGENT_CHAOS_SEED=1234 go test ./agent -run TestChaos -v      # replay one seed
const chaosSales = 20

func TestChaos(t *testing.T) {
	seeds := envInt("POSAGENT_CHAOS_SEEDS", 3)
	first := uint64(1)
	if s := os.Getenv("POSAGENT_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("POSAGENT_CHAOS_SEED: %v", err)
		}
		first, seeds = v, 1
	}
	// Every gateway with a sandbox, unless POSAGENT_CHAOS_GATEWAY names some.
	names := keys(gateways)
	if g := os.Getenv("POSAGENT_CHAOS_GATEWAY"); g != "" && g != "all" {
		names = strings.Split(g, ",")
	}
	for _, gw := range names {
		if gateways[gw] == nil {
			t.Fatalf("no gateway %q in the chaos test (have %v)", gw, keys(gateways))
		}
		stats := map[string]int{}
		for seed := first; seed < first+uint64(seeds); seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", gw, seed), func(t *testing.T) {
				for k, v := range chaosRun(t, gw, seed) {
					stats[k] += v
				}
			})
		}
		t.Logf("%s: %d seeds × %d sales: %v", gw, seeds, chaosSales, stats)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// hookGateway lets the payer act at the moment a cancel goes out.
type hookGateway struct {
	gateway.Gateway
	beforeCancel func(clientSN string)
}

func (g *hookGateway) Cancel(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	sn := ref.ClientSN
	g.beforeCancel(sn)
	return g.Gateway.Cancel(ctx, gateway.Ref{ClientSN: sn})
}

type payer int

const (
	payInTime payer = iota
	payLate         // after the window: must fail, order cancelled
	payNever
	payDecline
	payDuringCancel
)

func chaosRun(t *testing.T, gw string, seed uint64) map[string]int {
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	b := newBed(t, gw, Config{CallTimeout: 300 * time.Millisecond, Seed: seed, QueueTTL: 3 * time.Minute})
	rates := map[faults.Kind]float64{}
	for _, k := range faults.All {
		if rng.IntN(2) == 0 {
			// A sale makes dozens of calls (polls), so a few percent per
			// call is plenty; a hang costs a real CallTimeout, so fewer.
			rates[k] = 0.005 + 0.025*rng.Float64()
			if k == faults.HangAfter {
				rates[k] /= 4
			}
		}
	}
	if err := b.faults.Configure(faults.Config{Seed: seed, Rates: rates, LatencyMS: 5}); err != nil {
		t.Fatal(err)
	}
	behaviour := map[string]payer{}
	hook := &hookGateway{Gateway: b.gw, beforeCancel: func(sn string) {
		if behaviour[sn] == payDuringCancel {
			b.pay(sn)
		}
	}}
	cfg := b.eng.Config()
	cfg.Seed = seed
	newEngine := func() *Engine { return New(cfg, b.db, hook, b.clock, nil, nil) }
	b.eng = newEngine()
	stats := map[string]int{}
	for i := 0; i < chaosSales; i++ {
		outage := rng.IntN(10) == 0
		b.setDown(outage)
		amount := 1 + rng.Int64N(200000)
		o, err := b.eng.Sale(ctx, amount)
		if err != nil {
			t.Fatalf("sale %d: %v", i, err)
		}
		p := payer(rng.IntN(5))
		behaviour[o.ClientSN] = p
		payAt := b.clock.Now().Add(time.Duration(1+rng.IntN(200)) * time.Second)
		if p == payLate {
			payAt = b.clock.Now().Add(cfg.PaymentWindow + 30*time.Second)
		}
		crashAt := time.Time{}
		if rng.IntN(6) == 0 {
			crashAt = b.clock.Now().Add(time.Duration(rng.IntN(250)) * time.Second)
		}
		restoreAt := b.clock.Now().Add(time.Duration(10+rng.IntN(60)) * time.Second)
		paid := false
		end := b.clock.Now().Add(10 * time.Minute)
		for b.clock.Now().Before(end) {
			now := b.clock.Now()
			if outage && !now.Before(restoreAt) {
				b.setDown(false)
				outage = false
			}
			if !paid && !now.Before(payAt) {
				paid = true
				switch p {
				case payInTime, payLate:
					b.pay(o.ClientSN)
				case payDecline:
					b.decl(o.ClientSN)
				}
			}
			if !crashAt.IsZero() && !now.Before(crashAt) {
				// A crash between two steps: the old engine is gone, its
				// memory with it; a new one starts from the database.
				crashAt = time.Time{}
				b.eng = newEngine()
				if _, err := b.eng.Reconcile(ctx); err != nil {
					t.Fatal(err)
				}
				stats["restarts"]++
			}
			if err := b.eng.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			cur := b.order(o.ClientSN)
			if State(cur.State).Final() {
				stats[cur.State]++
				break
			}
			next, ok, _ := b.eng.Next()
			if !ok {
				break
			}
			// Wake for whichever comes first: the engine, the payer, the
			// network coming back, or the crash.
			for _, at := range []time.Time{payAt, restoreAt, crashAt} {
				if !at.IsZero() && at.After(now) && at.Before(next) {
					next = at
				}
			}
			if next.After(now) {
				b.clock.Set(next)
			}
		}
	}
	// The network heals and faults stop: everything must settle.
	b.setDown(false)
	b.faults.Configure(faults.Config{})
	b.runUntilIdle(time.Hour)
	if err := b.checkInvariant(); err != nil {
		t.Fatalf("seed %d: %v\nreplay: POSAGENT_CHAOS_SEED=%d POSAGENT_CHAOS_GATEWAY=%s go test ./agent -run TestChaos -v", seed, err, seed, gw)
	}
	for k, v := range b.faults.Snapshot().Counts {
		stats["fault:"+string(k)] += v
	}
	return stats
}
