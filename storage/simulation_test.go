package storage

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSimulation drives random creates, updates and reopens against an
// in-memory model (the shape of bbolt's own simulation test) and checks
// after every reopen that the file and the model agree: orders, pending
// set in Seq order, newest-first listing and the counter.
func TestSimulation(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			e := newEnv(t)
			db := e.open(t)
			defer func() { db.Close() }()
			model := map[string]Order{}
			var lastSeq uint64
			states := []string{"submitting", "queued", "awaiting_payment", "paid", "canceled"}
			for step := 0; step < 120; step++ {
				e.clock.Advance(time.Duration(rng.IntN(600)) * time.Second)
				switch r := rng.IntN(10); {
				case r < 4 || len(model) == 0:
					o := Order{AmountCents: int64(1 + rng.IntN(100000)), State: "submitting", Subject: "s"}
					if err := db.CreateOrder(&o, "S-"); err != nil {
						t.Fatal(err)
					}
					lastSeq++
					if o.Seq != lastSeq {
						t.Fatalf("seq %d, want %d", o.Seq, lastSeq)
					}
					model[o.ClientSN] = o
				case r < 9:
					var keys []string
					for k := range model {
						keys = append(keys, k)
					}
					o := model[keys[rng.IntN(len(keys))]]
					o.History = append(o.History, Transition{At: e.clock.Now(), From: o.State})
					o.State = states[rng.IntN(len(states))]
					o.History[len(o.History)-1].To = o.State
					wantFinal := o.State == "paid" || o.State == "canceled"
					wasFinal := o.Final
					o.Final = wantFinal
					err := db.PutOrder(&o)
					if wasFinal && !wantFinal {
						if err == nil {
							t.Fatal("final order made non-final")
						}
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					model[o.ClientSN] = o
				default:
					db.Close()
					db = e.open(t)
					if strings.Contains(e.logs.String(), "rebuilt") || strings.Contains(e.logs.String(), "CORRUPT") {
						t.Fatalf("reopen found problems:\n%s", e.logs)
					}
					compare(t, db, model, lastSeq)
				}
			}
			compare(t, db, model, lastSeq)
		})
	}
}

func compare(t *testing.T, db *DB, model map[string]Order, lastSeq uint64) {
	t.Helper()
	for sn, want := range model {
		got, err := db.GetOrder(sn)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("order %s\n got %+v (%v)\nwant %+v", sn, got, err, want)
		}
	}
	pend, err := db.PendingOrders()
	if err != nil {
		t.Fatal(err)
	}
	var prev uint64
	n := 0
	for _, o := range pend {
		if o.Final || o.Seq <= prev {
			t.Fatalf("pending list wrong at %s (final %t, seq %d after %d)", o.ClientSN, o.Final, o.Seq, prev)
		}
		prev = o.Seq
	}
	for _, o := range model {
		if !o.Final {
			n++
		}
	}
	if len(pend) != n {
		t.Fatalf("%d pending, model has %d", len(pend), n)
	}
	all, _ := db.ListOrders(Filter{})
	if len(all) != len(model) {
		t.Fatalf("listed %d, model %d", len(all), len(model))
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.After(all[i-1].CreatedAt) {
			t.Fatalf("list not newest first at %d", i)
		}
	}
	if st, _ := db.Stats(); st.LastSeq != lastSeq || st.Orders != len(model) || st.Pending != n {
		t.Fatalf("stats %+v, model seq %d orders %d pending %d", st, lastSeq, len(model), n)
	}
}

func TestClosedHandle(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	o := Order{AmountCents: 1}
	for name, err := range map[string]error{
		"create": db.CreateOrder(&o, ""),
		"put":    db.PutOrder(&Order{ClientSN: "x"}),
		"get":    func() error { _, err := db.GetOrder("x"); return err }(),
		"list":   func() error { _, err := db.ListOrders(Filter{}); return err }(),
		"creds":  func() error { _, err := db.Credentials(); return err }(),
		"stats":  func() error { _, err := db.Stats(); return err }(),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "storage: ") {
			t.Errorf("%s on a closed handle = %v", name, err)
		}
	}
}
