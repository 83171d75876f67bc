package sandboxkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
)

// payer is a one-order payer for the tests.
type payer struct{ paid atomic.Bool }

func (p *payer) Pay(id string) error {
	if id != "o1" {
		return fmt.Errorf("no order %q", id)
	}
	if p.paid.Swap(true) {
		return fmt.Errorf("o1: %w", ErrNotPayable)
	}
	return nil
}

func (p *payer) Decline(id string) error { return errors.New("declines refused here") }

func newKit(t *testing.T) (*Kit, *httptest.Server, *atomic.Int32, *payer) {
	t.Helper()
	var applied atomic.Int32
	p := &payer{}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		applied.Add(1)
		io.WriteString(w, `{"ok":true}`)
	})
	k := New(Config{
		Name: "Test", API: api, Payer: p,
		ServerError: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"ok":false,"message":"Internal Error"}`)
		},
		Page: func(id string) (Page, bool) {
			if id != "o1" {
				return Page{}, false
			}
			return Page{ID: "o1", Amount: "12.50", Currency: "¥", Subject: "<script>x</script>", Status: "CREATED", Payable: !p.paid.Load()}, true
		},
		Ledger: func() gateway.Ledger {
			return gateway.Ledger{Orders: []gateway.LedgerEntry{{ClientSN: "o1", Charges: 1}}}
		},
	})
	srv := httptest.NewServer(k)
	t.Cleanup(srv.Close)
	return k, srv, &applied, p
}

func post(t *testing.T, url, ctype, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestControl: personalities ride on /sandbox/faults beside the faults
// (issue 13, item 8: personalities switchable per run), "personalities"
// absent leaves them as they were, and unknown names are refused.
func TestControl(t *testing.T) {
	k, srv, _, _ := newKit(t)
	if code, body := post(t, srv.URL+"/sandbox/faults", "application/json", `{"seed":3,"rates":{"502":0.1},"personalities":["no_cancel","late_pay_after_cancel"]}`); code != 200 {
		t.Fatalf("configure: %d %s", code, body)
	}
	want := []Personality{LatePayAfterCancel, NoCancel}
	if got := k.Personalities(); !reflect.DeepEqual(got, want) {
		t.Fatalf("personalities %v, want %v", got, want)
	}
	post(t, srv.URL+"/sandbox/faults", "application/json", `{"seed":4}`)
	if got := k.Personalities(); !reflect.DeepEqual(got, want) {
		t.Fatalf("a faults-only POST changed the personalities: %v", got)
	}
	for _, bad := range []string{`{"personalities":["friendly"]}`, `{"bogus":1}`, `{"rates":{"nope":1}}`} {
		if code, _ := post(t, srv.URL+"/sandbox/faults", "application/json", bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	resp, _ := http.Get(srv.URL + "/sandbox/faults")
	var snap struct {
		Personalities []Personality `json:"personalities"`
		Rates         map[string]float64
	}
	json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if !reflect.DeepEqual(snap.Personalities, want) {
		t.Fatalf("GET: %+v", snap)
	}
	if err := k.SetPersonalities("nope"); err == nil {
		t.Fatal("unknown personality accepted")
	}
}

// TestLatePayImpliesRefusal: a late payment needs an order left open, so
// LatePayAfterCancel alone refuses the cancel; with NoCancel there is no
// cancel to refuse.
func TestLatePayImpliesRefusal(t *testing.T) {
	k, _, _, _ := newKit(t)
	k.SetPersonalities(LatePayAfterCancel)
	if !k.Has(CancelRefused) {
		t.Fatal("LatePayAfterCancel alone does not refuse the cancel")
	}
	k.SetPersonalities(LatePayAfterCancel, NoCancel)
	if k.Has(CancelRefused) {
		t.Fatal("NoCancel and CancelRefused both in force")
	}
	k.SetPersonalities(ConflictThenNotFound)
	if !k.ClientLookupBlind() {
		t.Fatal("ConflictThenNotFound must blind lookups by the terminal's number")
	}
}

// TestError500AfterCommit: every second API call is applied and answered
// with the gateway's server error; the kit's own paths are not counted.
func TestError500AfterCommit(t *testing.T) {
	k, srv, applied, _ := newKit(t)
	k.SetPersonalities(Error500AfterCommit)
	var codes []int
	for i := 0; i < 4; i++ {
		code, _ := post(t, srv.URL+"/api/call", "application/json", "{}")
		codes = append(codes, code)
		http.Get(srv.URL + "/sandbox/ledger") // not an API call
	}
	if want := []int{200, 500, 200, 500}; !reflect.DeepEqual(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if n := applied.Load(); n != 4 {
		t.Fatalf("applied %d calls, want 4 (the 500s come after the call ran)", n)
	}
}

// TestPayerEndpoint: the README's "curl -X POST …/sandbox/orders/<sn>/pay"
// and the page's buttons.
func TestPayerEndpoint(t *testing.T) {
	_, srv, _, _ := newKit(t)
	if code, body := post(t, srv.URL+"/sandbox/orders/o1/pay", "", ""); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("pay: %d %s", code, body)
	}
	if code, _ := post(t, srv.URL+"/sandbox/orders/o1/pay", "", ""); code != http.StatusConflict {
		t.Fatalf("second pay: %d, want 409", code)
	}
	if code, _ := post(t, srv.URL+"/sandbox/orders/zz/pay", "", ""); code != http.StatusNotFound {
		t.Fatalf("unknown order: %d, want 404", code)
	}
	if code, _ := post(t, srv.URL+"/sandbox/orders/o1/refund", "", ""); code != http.StatusNotFound {
		t.Fatalf("unknown action: %d, want 404", code)
	}
	// A button on the page: back to the page, which shows the outcome.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Post(srv.URL+"/sandbox/orders/o1/decline", "application/x-www-form-urlencoded", strings.NewReader("from=page"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/qr/o1" {
		t.Fatalf("from the page: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestPage(t *testing.T) {
	_, srv, _, p := newKit(t)
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/qr/o1")
	if code != 200 || !strings.Contains(body, "¥12.50") || !strings.Contains(body, `action="/sandbox/orders/o1/pay"`) {
		t.Fatalf("page: %d\n%s", code, body)
	}
	if strings.Contains(body, "<script>") {
		t.Fatal("subject not escaped")
	}
	p.Pay("o1")
	if _, body := get("/qr/o1"); strings.Contains(body, "<button") {
		t.Fatal("a paid order still shows buttons")
	}
	if code, _ := get("/qr/zz"); code != 404 {
		t.Fatalf("unknown: %d", code)
	}
}

func TestWriteLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.json")
	l := gateway.Ledger{Orders: []gateway.LedgerEntry{{Terminal: "b", ClientSN: "2"}, {Terminal: "a", ClientSN: "9"}, {Terminal: "b", ClientSN: "1"}}}
	SortLedger(&l)
	if err := WriteLedger(path, l); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back gateway.Ledger
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, o := range back.Orders {
		order = append(order, o.Terminal+o.ClientSN)
	}
	if want := []string{"a9", "b1", "b2"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatal("temporary file left behind")
	}
	if err := WriteLedger("", l); err != nil {
		t.Fatal("an empty path must write nothing")
	}
}

// TestDate: API answers carry the sandbox's clock as their Date (RFC 9110
// §6.6.1), through the faults too, so a clock guard can be tested on a
// fake clock.
func TestDate(t *testing.T) {
	fake := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	k := New(Config{Name: "T", API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), Now: func() time.Time { return fake }})
	srv := httptest.NewServer(k)
	defer srv.Close()
	k.Faults().Script(faults.Status502, faults.Duplicate, faults.None)
	for i := 0; i < 3; i++ {
		resp, err := http.Post(srv.URL+"/api", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, err := http.ParseTime(resp.Header.Get("Date")); err != nil || !got.Equal(fake) {
			t.Fatalf("answer %d: Date %q, want %v", i, resp.Header.Get("Date"), fake)
		}
	}
}
