package faults

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server returns a loopback server whose handler counts the requests it
// committed and answers a small JSON document.
func server(t *testing.T) (*httptest.Server, *Injector, *atomic.Int32) {
	t.Helper()
	var committed atomic.Int32
	in := &Injector{Skip: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/sandbox/") }}
	mux := http.NewServeMux()
	mux.Handle("/sandbox/faults", in.Handler())
	mux.Handle("/", in.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		committed.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"result_code":"200","biz_response":{"result_code":"SUCCESS"}}`)
	})))
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s, in, &committed
}

func post(t *testing.T, s *httptest.Server, timeout time.Duration) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/upay/v2/query", strings.NewReader(`{"a":"b"}`))
	resp, err := s.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestEachKind(t *testing.T) {
	const ok = `{"result_code":"200","biz_response":{"result_code":"SUCCESS"}}`
	for _, tc := range []struct {
		kind      Kind
		committed int32
		check     func(code int, body string, err error) error
	}{
		{None, 1, func(code int, body string, err error) error {
			if err != nil || code != 200 || body != ok {
				return errors.New("want a clean answer")
			}
			return nil
		}},
		{Latency, 1, func(code int, body string, err error) error {
			if err != nil || body != ok {
				return errors.New("want a clean late answer")
			}
			return nil
		}},
		{Status502, 0, func(code int, body string, err error) error {
			if err != nil || code != 502 {
				return errors.New("want 502")
			}
			return nil
		}},
		{Status500After, 1, func(code int, body string, err error) error {
			if err != nil || code != 500 {
				return errors.New("want 500")
			}
			return nil
		}},
		{DropBefore, 0, func(code int, body string, err error) error {
			if err == nil {
				return errors.New("want a transport error")
			}
			return nil
		}},
		{DropAfter, 1, func(code int, body string, err error) error {
			if err == nil {
				return errors.New("want a transport error")
			}
			return nil
		}},
		{HangAfter, 1, func(code int, body string, err error) error {
			if !errors.Is(err, context.DeadlineExceeded) {
				return errors.New("want the client's deadline to fire")
			}
			return nil
		}},
		{Malformed, 1, func(code int, body string, err error) error {
			if err != nil || code != 200 || json.Valid([]byte(body)) {
				return errors.New("want 200 with invalid JSON")
			}
			return nil
		}},
		{Truncated, 1, func(code int, body string, err error) error {
			if err != nil || code != 200 || json.Valid([]byte(body)) || !strings.HasPrefix(ok, body) {
				return errors.New("want 200 with a prefix of the real body")
			}
			return nil
		}},
		{Duplicate, 2, func(code int, body string, err error) error {
			if err != nil || body != ok {
				return errors.New("want the second answer")
			}
			return nil
		}},
	} {
		t.Run(string(tc.kind)+"_", func(t *testing.T) {
			s, in, committed := server(t)
			in.Script(tc.kind)
			timeout := 5 * time.Second
			if tc.kind == HangAfter {
				timeout = 200 * time.Millisecond
			}
			code, body, err := post(t, s, timeout)
			if e := tc.check(code, body, err); e != nil {
				t.Fatalf("%s: %v (code %d body %q err %v)", tc.kind, e, code, body, err)
			}
			if tc.kind == HangAfter {
				// The handler committed before hanging; wait for the
				// server side to notice the client went away.
				s.Close()
			}
			if got := committed.Load(); got != tc.committed {
				t.Fatalf("%s: handler committed %d times, want %d", tc.kind, got, tc.committed)
			}
			// The next request is clean again.
			if code, body, err := post(t, s, 5*time.Second); tc.kind != HangAfter && (err != nil || code != 200 || body != ok) {
				t.Fatalf("after %s: %d %q %v", tc.kind, code, body, err)
			}
		})
	}
}

func TestSeededRatesReproduce(t *testing.T) {
	pick := func(seed uint64) []Kind {
		var in Injector
		if err := in.Configure(Config{Seed: seed, Rates: map[Kind]float64{DropAfter: 0.2, Status502: 0.2, Malformed: 0.1}}); err != nil {
			t.Fatal(err)
		}
		var ks []Kind
		for range 200 {
			k, _ := in.next()
			ks = append(ks, k)
		}
		return ks
	}
	a, b, c := pick(7), pick(7), pick(8)
	n := map[Kind]int{}
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 7 differs at %d: %q vs %q", i, a[i], b[i])
		}
		if a[i] != c[i] {
			same = false
		}
		n[a[i]]++
	}
	if same {
		t.Fatal("seeds 7 and 8 gave the same sequence")
	}
	// 50% of 200 requests faulted; allow a wide band, the point is that the rates act.
	if n[None] < 60 || n[None] > 140 || n[DropAfter] == 0 || n[Status502] == 0 || n[Malformed] == 0 {
		t.Fatalf("distribution off: %v", n)
	}
}

func TestControlEndpoint(t *testing.T) {
	s, _, _ := server(t)
	resp, err := http.Post(s.URL+"/sandbox/faults", "application/json", strings.NewReader(`{"seed":1,"next":["502"]}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("configure: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, _, _ := post(t, s, 5*time.Second); code != 502 {
		t.Fatalf("scripted fault not applied: %d", code)
	}
	for _, bad := range []string{`{"rates":{"nope":0.1}}`, `{"rates":{"502":1.5}}`, `{"bogus":1}`, `not json`} {
		resp, err := http.Post(s.URL+"/sandbox/faults", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", bad, resp.StatusCode)
		}
	}
}
