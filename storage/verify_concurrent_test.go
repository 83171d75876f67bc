package storage

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestVerifyWhileSelling: the check owed after an unclean shutdown runs
// while the terminal sells (CheckInBackground). bbolt's Tx.Check in a read
// transaction is "not safe" with concurrent writers (bbolt tx_check.go, the
// doc of Tx.Check): it compares pages with the live freelist and reports
// commits made meanwhile as "reachable freed" / "unreachable unfreed". A
// sound file must never be called corrupt for that: it would be moved
// aside at the next stop, with every order in it (found by
// cmd/posagent's crash test).
func TestVerifyWhileSelling(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "posagent.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for i := range 200 {
		o := Order{AmountCents: 100, CreatedAt: base.Add(time.Duration(i) * time.Second), State: "paid", Final: true}
		if err := db.CreateOrder(&o, "T1"); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the counter keeps selling: each sale is several commits
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			o := Order{AmountCents: 250, State: "submitting"}
			if err := db.CreateOrder(&o, "T1"); err != nil {
				t.Error(err)
				return
			}
			o.State, o.Final = "paid", true
			if err := db.PutOrder(&o); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 30 {
		check := db.Verify // exact: writers wait for bbolt's Tx.Check
		if i%2 == 0 {
			// CheckInBackground's check: no Tx.Check beside commits
			check = func(ctx context.Context) error { return db.verify(ctx, false) }
		}
		if err := check(context.Background()); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("check %d called a sound file corrupt while orders were committed: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
}
