package storage

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCreateOrderAssignsClientSN(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	o := Order{Gateway: "upay", AmountCents: 1250, Subject: "咖啡", Operator: "amy", State: "submitting",
		History: []Transition{{At: e.clock.Now(), To: "submitting"}}}
	c0 := db.Commits()
	if err := db.CreateOrder(&o, "POS7-"); err != nil {
		t.Fatal(err)
	}
	if got := db.Commits() - c0; got != 1 {
		t.Errorf("CreateOrder took %d commits, want 1", got)
	}
	if o.ClientSN != "POS7-0000000001" || o.Seq != 1 {
		t.Errorf("ClientSN %q Seq %d", o.ClientSN, o.Seq)
	}
	if !o.CreatedAt.Equal(e.clock.Now()) || !o.UpdatedAt.Equal(o.CreatedAt) {
		t.Errorf("times %v %v", o.CreatedAt, o.UpdatedAt)
	}
	got, err := db.GetOrder(o.ClientSN)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("GetOrder\n got %+v\nwant %+v", got, o)
	}
	o2 := mustCreate(t, db, 5)
	if o2.Seq != 2 || o2.ClientSN != "T1-0000000002" {
		t.Errorf("second order %q seq %d", o2.ClientSN, o2.Seq)
	}
	// The counter survives a reopen: client_sn is unique forever.
	db.Close()
	db = e.open(t)
	defer db.Close()
	if o3 := mustCreate(t, db, 5); o3.Seq != 3 {
		t.Errorf("seq after reopen %d, want 3", o3.Seq)
	}
}

func TestCreateOrderErrors(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	o := Order{ClientSN: "given-1", AmountCents: 1}
	if err := db.CreateOrder(&o, "ignored"); err != nil {
		t.Fatal(err)
	}
	if o.Seq != 1 || o.ClientSN != "given-1" {
		t.Errorf("given client_sn: %+v", o)
	}
	dup := Order{ClientSN: "given-1", AmountCents: 2}
	if err := db.CreateOrder(&dup, ""); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate = %v, want ErrExists", err)
	}
	if dup.Seq != 0 {
		t.Error("failed CreateOrder modified the order")
	}
	for _, tc := range []struct {
		o      Order
		prefix string
		want   string
	}{
		{Order{AmountCents: 1}, strings.Repeat("P", 23), "1..32"},
		{Order{ClientSN: strings.Repeat("x", 33), AmountCents: 1}, "", "1..32"},
		{Order{ClientSN: "a b", AmountCents: 1}, "", "not allowed"},
		{Order{AmountCents: 1}, "p/", "not allowed"},
		{Order{AmountCents: -1}, "", "negative"},
	} {
		err := db.CreateOrder(&tc.o, tc.prefix)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "storage: ") {
			t.Errorf("CreateOrder(%+v, %q) = %v, want %q", tc.o, tc.prefix, err, tc.want)
		}
	}
	if err := db.CreateOrder(nil, ""); err == nil {
		t.Error("nil order accepted")
	}
	// 22-char prefix + 10 digits is exactly 32.
	ok := Order{AmountCents: 1}
	if err := db.CreateOrder(&ok, strings.Repeat("P", 22)); err != nil || len(ok.ClientSN) != 32 {
		t.Errorf("32-char client_sn: %q %v", ok.ClientSN, err)
	}
}

func TestPutOrderLifecycle(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	a, b, c := mustCreate(t, db, 100), mustCreate(t, db, 200), mustCreate(t, db, 300)
	pendingSNs := func() string {
		p, err := db.PendingOrders()
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, o := range p {
			s = append(s, o.ClientSN)
		}
		return strings.Join(s, ",")
	}
	if got := pendingSNs(); got != strings.Join([]string{a.ClientSN, b.ClientSN, c.ClientSN}, ",") {
		t.Errorf("pending = %s", got)
	}
	e.clock.Advance(3 * time.Second)
	b.State, b.SN, b.QRCode, b.GatewayStatus = "awaiting_payment", "7894259244067349", "https://qr.example/x", "CREATED"
	b.History = append(b.History, Transition{At: e.clock.Now(), From: "submitting", To: "awaiting_payment"})
	b.CreatedAt = time.Time{} // the engine cannot move creation time
	c0 := db.Commits()
	if err := db.PutOrder(&b); err != nil {
		t.Fatal(err)
	}
	if db.Commits()-c0 != 1 {
		t.Errorf("PutOrder took %d commits", db.Commits()-c0)
	}
	if !b.UpdatedAt.Equal(e.clock.Now()) || b.CreatedAt.IsZero() {
		t.Errorf("times after put: created %v updated %v", b.CreatedAt, b.UpdatedAt)
	}
	got, _ := db.GetOrder(b.ClientSN)
	if !reflect.DeepEqual(got, b) {
		t.Errorf("after put\n got %+v\nwant %+v", got, b)
	}
	b.State, b.Final, b.GatewayStatus, b.TradeNo = "paid", true, "PAID", "2026112522001"
	if err := db.PutOrder(&b); err != nil {
		t.Fatal(err)
	}
	if got := pendingSNs(); got != a.ClientSN+","+c.ClientSN {
		t.Errorf("pending after paid = %s", got)
	}
	// Final is final.
	b.State, b.Final = "awaiting_payment", false
	if err := db.PutOrder(&b); err == nil || !strings.Contains(err.Error(), "cannot become non-final") {
		t.Errorf("final→non-final = %v", err)
	}
	if got, _ := db.GetOrder(b.ClientSN); got.State != "paid" || !got.Final {
		t.Errorf("refused put changed the order: %+v", got)
	}
	// Amount is fixed.
	c.AmountCents = 1
	if err := db.PutOrder(&c); err == nil || !strings.Contains(err.Error(), "amount is fixed") {
		t.Errorf("amount change = %v", err)
	}
	// Unknown order.
	x := Order{ClientSN: "nope", AmountCents: 1}
	if err := db.PutOrder(&x); !errors.Is(err, ErrNotFound) {
		t.Errorf("PutOrder unknown = %v", err)
	}
	if _, err := db.GetOrder("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetOrder unknown = %v", err)
	}
}

func TestHistoryBounded(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	o := mustCreate(t, db, 1)
	for i := 0; i < MaxHistory+10; i++ {
		o.History = append(o.History, Transition{At: e.clock.Now(), From: "s", To: fmt.Sprint(i)})
	}
	if err := db.PutOrder(&o); err != nil {
		t.Fatal(err)
	}
	got, _ := db.GetOrder(o.ClientSN)
	if len(got.History) != MaxHistory || got.History[0].To != "10" || got.History[MaxHistory-1].To != fmt.Sprint(MaxHistory+9) {
		t.Errorf("history len %d first %+v", len(got.History), got.History[0])
	}
	if len(o.History) != MaxHistory {
		t.Errorf("caller's copy not trimmed: %d", len(o.History))
	}
}

func TestListOrdersFilter(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	start := e.clock.Now()
	var all []Order
	for i := 0; i < 10; i++ {
		o := mustCreate(t, db, int64(i+1)*100)
		if i%2 == 0 {
			o.State, o.Final = "paid", true
			if err := db.PutOrder(&o); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, o)
		e.clock.Advance(time.Hour)
	}
	sns := func(list []Order) string {
		var s []string
		for _, o := range list {
			s = append(s, fmt.Sprint(o.Seq))
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, "10,9,8,7,6,5,4,3,2,1"},
		{Filter{Limit: 3}, "10,9,8"},
		{Filter{State: "paid"}, "9,7,5,3,1"},
		{Filter{State: "paid", Limit: 2}, "9,7"},
		{Filter{Since: start.Add(2 * time.Hour)}, "10,9,8,7,6,5,4,3"},
		{Filter{Until: start.Add(2 * time.Hour)}, "2,1"},
		{Filter{Since: start.Add(2 * time.Hour), Until: start.Add(5 * time.Hour)}, "5,4,3"},
		{Filter{Since: start.Add(90 * time.Minute), Until: start.Add(200 * time.Minute)}, "4,3"},
		{Filter{Since: start.Add(100 * time.Hour)}, ""},
		{Filter{Until: start.Add(-time.Hour)}, ""},
	} {
		got, err := db.ListOrders(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if sns(got) != tc.want {
			t.Errorf("ListOrders(%+v) = %s, want %s", tc.f, sns(got), tc.want)
		}
	}
}

// A Pi without RTC may boot in 1970; such orders still list, oldest last.
func TestListOrdersClockBefore1970(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer db.Close()
	for _, at := range []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), time.Unix(0, 0)} {
		o := Order{AmountCents: 1, CreatedAt: at}
		if err := db.CreateOrder(&o, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := db.ListOrders(Filter{})
	if len(got) != 3 || got[0].Seq != 1 || got[1].Seq != 3 || got[2].Seq != 2 {
		t.Errorf("order by time: %+v", got)
	}
}

// TestConcurrentUse runs creators, updaters and readers at once (under
// -race in CI) and checks that every Seq and client_sn is unique and that
// every successful call is exactly one commit.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	db := e.open(t)
	defer func() { db.Close() }()
	const workers, perWorker = 4, 15
	c0 := db.Commits()
	var wg sync.WaitGroup
	results := make(chan Order, workers*perWorker)
	errs := make(chan error, workers*perWorker*3)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				o := Order{AmountCents: int64(w*1000 + i + 1), State: "submitting"}
				if err := db.CreateOrder(&o, "C-"); err != nil {
					errs <- err
					return
				}
				o.State, o.Final = "paid", i%2 == 0
				if err := db.PutOrder(&o); err != nil {
					errs <- err
					return
				}
				results <- o
			}
		}()
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Add(1)
	go func() {
		defer rg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := db.PendingOrders(); err != nil {
				errs <- err
			}
			if _, err := db.ListOrders(Filter{Limit: 5}); err != nil {
				errs <- err
			}
			if _, err := db.Stats(); err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(stop)
	rg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seqs, sns := map[uint64]bool{}, map[string]bool{}
	nonFinal := 0
	for o := range results {
		if seqs[o.Seq] || sns[o.ClientSN] {
			t.Errorf("duplicate seq %d / client_sn %s", o.Seq, o.ClientSN)
		}
		seqs[o.Seq], sns[o.ClientSN] = true, true
		if !o.Final {
			nonFinal++
		}
	}
	if len(seqs) != workers*perWorker {
		t.Errorf("%d orders, want %d", len(seqs), workers*perWorker)
	}
	if got := db.Commits() - c0; got != 2*workers*perWorker {
		t.Errorf("commits = %d, want %d", got, 2*workers*perWorker)
	}
	st, _ := db.Stats()
	if st.Pending != nonFinal || st.Orders != workers*perWorker || st.LastSeq != workers*perWorker {
		t.Errorf("stats %+v, want %d pending", st, nonFinal)
	}
	// The file passes the full check afterwards with nothing to repair.
	if err := db.Verify(t.Context()); err != nil {
		t.Error(err)
	}
	if strings.Contains(e.logs.String(), "rebuilt") {
		t.Errorf("indexes needed a repair after concurrent use:\n%s", e.logs)
	}
}
