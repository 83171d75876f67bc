package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"posagent/storage"
)

// TestRetentionArchivesOnlyOldFinalOrders: the retention setting moves final
// orders older than the retention into the archive at start and at each
// tick, and leaves a recent order and an old open one in the database
// (issue 14: "never archives a non-final order").
func TestRetentionArchivesOnlyOldFinalOrders(t *testing.T) {
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, "posagent.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	mk := func(age time.Duration, state string) string {
		o := storage.Order{AmountCents: 1250, CreatedAt: now.Add(-age), State: state, Final: state == "paid"}
		if err := db.CreateOrder(&o, "T1"); err != nil {
			t.Fatal(err)
		}
		return o.ClientSN
	}
	oldPaid := mk(40*24*time.Hour, "paid")
	oldOpen := mk(40*24*time.Hour, "awaiting_payment")
	recent := mk(2*24*time.Hour, "paid")

	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	u := &upkeep{db: db, log: slog.New(slog.DiscardHandler), retention: 30 * 24 * time.Hour,
		dir: filepath.Join(dir, "archive"), now: func() time.Time { return now }}
	go func() { u.archiveEvery(ctx, tick); close(done) }()
	tick <- now // the first run has happened once the loop takes a tick
	cancel()
	<-done

	st, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Archived != 1 {
		t.Fatalf("archived %d orders, want 1 (the old paid one)", st.Archived)
	}
	for _, sn := range []string{oldPaid, oldOpen, recent} {
		if _, err := db.GetOrder(sn); err != nil {
			t.Errorf("order %s not found after archiving (archived orders must still answer): %v", sn, err)
		}
	}
}
