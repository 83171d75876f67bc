package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"posagent/storage"
)

// upkeep is the service's housekeeping on the order database, off the sale
// path: the integrity check that storage owes after an unclean shutdown
// (issue 14: Open no longer walks the whole file), and the retention
// setting, which moves old final orders into archive files once a day.
type upkeep struct {
	db        *storage.DB
	log       *slog.Logger
	retention time.Duration // 0: keep everything in the database
	dir       string        // archive directory
	now       func() time.Time
	// damaged is told when the background check finds the file corrupt;
	// the terminal shows it, so the cashier calls support before the next
	// sale rather than after a lost one.
	damaged func(error)
}

// checkAfterCrash waits for storage's background check (a no-op after a
// clean shutdown). Sales go on meanwhile: the check reads, it does not lock
// writers out.
func (u *upkeep) checkAfterCrash(ctx context.Context) {
	err := <-u.db.CheckInBackground(ctx)
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	u.log.Error("the order database is damaged: it is moved aside when the service stops; restore a copy or call support",
		"path", u.db.Path(), "err", err)
	if u.damaged != nil {
		u.damaged(err)
	}
}

// archiveEvery runs the retention archive now and at every tick until ctx
// ends. Archive keeps every order that is not final or has a refund not yet
// confirmed, so a sale in progress is never touched.
func (u *upkeep) archiveEvery(ctx context.Context, tick <-chan time.Time) {
	if u.retention <= 0 {
		return
	}
	for {
		u.archiveOnce()
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

func (u *upkeep) archiveOnce() {
	before := u.now().Add(-u.retention)
	res, err := u.db.Archive(before, u.dir)
	if err != nil {
		u.log.Warn("retention: archive failed; orders stay in the database", "before", before.Format(time.DateOnly), "err", err)
		return
	}
	if res.Archived > 0 || res.Kept > 0 {
		u.log.Info("retention: archived old orders", "before", before.Format(time.DateOnly),
			"archived", res.Archived, "kept", res.Kept, "size_before", res.SizeBefore, "size_after", res.SizeAfter)
	}
}
