package storage

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkSale is the storage cost of one sale as the engine does it:
// CreateOrder (write first), then PutOrder for awaiting_payment and for
// the final state. Each commit is two fsyncs in bbolt.
func BenchmarkSale(b *testing.B) {
	e := newEnv(b)
	db := e.open(b)
	defer db.Close()
	c0 := db.Commits()
	n := 0
	for b.Loop() {
		o := Order{Gateway: "upay", AmountCents: 1250, Subject: "coffee", State: "submitting"}
		if err := db.CreateOrder(&o, "T1-"); err != nil {
			b.Fatal(err)
		}
		o.State, o.SN, o.QRCode = "awaiting_payment", "7894259244067349", "https://qr.shouqianba.com/7894259244067349"
		if err := db.PutOrder(&o); err != nil {
			b.Fatal(err)
		}
		o.State, o.Final, o.GatewayStatus = "paid", true, "PAID"
		if err := db.PutOrder(&o); err != nil {
			b.Fatal(err)
		}
		n++
	}
	commits := float64(db.Commits()-c0) / float64(n)
	b.ReportMetric(commits, "commits/op")
	b.ReportMetric(2*commits, "fsyncs/op")
}

// fillHistory writes n realistic final orders straight into the file in
// large transactions (n fsync'd commits would take minutes), and returns
// the path.
func fillHistory(b *testing.B, n int) string {
	path := b.TempDir() + "/posagent.db"
	db, err := Open(path, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	const batch = 5000
	for done := 0; done < n; {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			for i := 0; i < batch && done < n; i++ {
				done++
				at := start.Add(time.Duration(done) * 5 * time.Minute)
				o := Order{
					ClientSN: fmt.Sprintf("T1-%010d", done), Seq: uint64(done), Gateway: "upay", AmountCents: int64(100 + done%5000),
					Subject: "大杯拿铁", Operator: "amy", State: "paid", Final: true, GatewayStatus: "PAID",
					SN: fmt.Sprintf("78942592440%05d", done%100000), TradeNo: fmt.Sprintf("2025010122001%010d", done),
					QRCode: "https://qr.shouqianba.com/7894259244067349", Channel: "alipay",
					CreatedAt: at, UpdatedAt: at.Add(20 * time.Second), Deadline: at.Add(4 * time.Minute),
					History: []Transition{
						{At: at, To: "submitting"},
						{At: at.Add(time.Second), From: "submitting", To: "awaiting_payment"},
						{At: at.Add(20 * time.Second), From: "awaiting_payment", To: "paid", Note: "query PAID"},
					},
				}
				if err := putOrder(tx, &o, nil); err != nil {
					return err
				}
			}
			return putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, done)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkOpenCheck measures Open, as the service does it (default) and
// with the full check (meta check, page walk, Tx.Check, every record and
// index: what Verify and doctor --deep cost) on a history of N orders.
func BenchmarkOpenCheck(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		path := fillHistory(b, n)
		fi, _ := os.Stat(path)
		for _, mode := range []CheckMode{CheckAuto, CheckFull} {
			b.Run(fmt.Sprintf("orders=%d/full=%t", n, mode == CheckFull), func(b *testing.B) {
				opts := &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Check: mode}
				for b.Loop() {
					db, err := Open(path, opts)
					if err != nil {
						b.Fatal(err)
					}
					if db.Commits() != 0 {
						b.Fatal("a clean Open wrote to the file")
					}
					db.Close()
				}
				b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
			})
		}
	}
}

// BenchmarkEndOfDay exports one day's orders (288 at one every 5 minutes)
// out of a 100k-order history: the time index keeps it independent of
// the history's size.
func BenchmarkEndOfDay(b *testing.B) {
	path := fillHistory(b, 100_000)
	db, err := Open(path, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	day := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f := Filter{Since: day, Until: day.Add(24 * time.Hour)}
	for b.Loop() {
		if err := db.ExportCSV(io.Discard, f); err != nil {
			b.Fatal(err)
		}
	}
	list, _ := db.ListOrders(f)
	b.ReportMetric(float64(len(list)), "orders/day")
}

// BenchmarkOpenPhases splits Open's cost on a 100k-order history into the
// page-level part (walk + bbolt Tx.Check) and the index check, which
// decodes every order.
func BenchmarkOpenPhases(b *testing.B) {
	path := fillHistory(b, 100_000)
	db, err := Open(path, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.Run("pages+TxCheck", func(b *testing.B) {
		for b.Loop() {
			if err := db.checkPages(b.Context(), true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("indexes", func(b *testing.B) {
		for b.Loop() {
			if err := db.checkRecords(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkExport streams a 20k-order history as JSON and CSV.
func BenchmarkExport(b *testing.B) {
	e := newEnv(b)
	db := e.open(b)
	defer db.Close()
	fillSales(b, db, 20_000, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute)
	for _, format := range []string{"json", "csv"} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				var err error
				if format == "json" {
					err = db.ExportJSON(io.Discard, Filter{})
				} else {
					err = db.ExportCSV(io.Discard, Filter{})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(20_000*b.N)/b.Elapsed().Seconds(), "orders/s")
		})
	}
}

// BenchmarkMigrateV2 opens a schema v2 file (JSON records, as v2 wrote
// them with encoding/json) of 50k paid sales: the one-time cost of the
// upgrade to v3 at the first start.
func BenchmarkMigrateV2(b *testing.B) {
	const n = 50_000
	src := b.TempDir() + "/v2.db"
	bdb, err := bolt.Open(src, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		err := bdb.Update(func(tx *bolt.Tx) error {
			if done == 0 {
				for _, m := range migrations[:2] {
					if err := m.apply(tx, start); err != nil {
						return err
					}
				}
				if err := putJSON(tx.Bucket(bucketMeta), keySchemaVersion, 2); err != nil {
					return err
				}
			}
			for i := 0; i < 10_000; i++ {
				done++
				o := paidSale(done, start.Add(time.Duration(done)*time.Minute))
				o.ClientSN, o.Seq = fmt.Sprintf("T1-%010d", done), uint64(done)
				o.normalise()
				if err := putJSON(tx.Bucket(bucketOrders), []byte(o.ClientSN), o); err != nil {
					return err
				}
				if err := tx.Bucket(bucketByTime).Put(timeKey(o.CreatedAt, o.Seq), []byte(o.ClientSN)); err != nil {
					return err
				}
			}
			return putJSON(tx.Bucket(bucketCounters), keyClientSNSeq, done)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	bdb.Close()
	raw, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		path := b.TempDir() + "/v2.db"
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		db, err := Open(path, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		if st, _ := db.Stats(); st.Orders != n {
			b.Fatalf("%d orders after migration", st.Orders)
		}
		db.Close()
	}
	b.ReportMetric(float64(len(raw))/n, "v2-bytes/order")
}
