// Package faults injects the failures a payment terminal meets in the field
// into a sandbox gateway's HTTP handler: slow answers, 5xx from a proxy,
// connections that drop before the gateway saw the request or after it
// committed it, malformed or truncated bodies, and duplicated delivery.
//
// The faults are applied by the server, on the real wire, so the client code
// under test goes through the same net/http paths it would in a shop. They
// are chosen by a seeded random source (reproducible runs) and can also be
// scripted one request at a time for tests of a single path.
//
// Every sandbox (upay, alipay, yedpay) wraps its API handler in an Injector
// and serves its control endpoint at POST /sandbox/faults, so the engine's
// chaos tests run unchanged against each gateway.
//
// Transport serves a sandbox in memory with the same faults, for chaos runs
// of hundreds of seeds on a fake clock: no sockets and no real timeouts. Its
// test holds every fault kind in memory against the same kind on the wire.
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"time"
)

// Kind is one kind of fault.
type Kind string

// The faults. "After" faults run the real handler first, so the gateway has
// committed whatever the request asked for; the client must not be able to
// tell that from a failure.
const (
	None Kind = ""
	// Latency delays the answer by Injector.Latency.
	Latency Kind = "latency"
	// Status502 answers 502 with an HTML body, as a broken proxy would,
	// without passing the request on.
	Status502 Kind = "502"
	// Status500After commits the request, then answers 500 with an HTML body.
	Status500After Kind = "500_after"
	// DropBefore closes the connection without running the handler.
	DropBefore Kind = "drop_before"
	// DropAfter runs the handler, then closes the connection without answering.
	DropAfter Kind = "drop_after"
	// HangAfter runs the handler, then holds the connection open until the
	// client gives up (its deadline), answering nothing.
	HangAfter Kind = "hang_after"
	// Malformed runs the handler and answers 200 with a body that is not JSON.
	Malformed Kind = "malformed"
	// Truncated runs the handler and answers 200 with the first half of its body.
	Truncated Kind = "truncated"
	// Duplicate runs the handler twice (a retried delivery) and answers with
	// the second response.
	Duplicate Kind = "duplicate"
)

// All lists every fault kind, for chaos tests and flag help.
var All = []Kind{Latency, Status502, Status500After, DropBefore, DropAfter, HangAfter, Malformed, Truncated, Duplicate}

// Injector wraps an http.Handler and applies faults to its requests.
// The zero value injects nothing. It is safe for concurrent use.
type Injector struct {
	mu      sync.Mutex
	rng     *rand.Rand
	rates   map[Kind]float64
	script  []Kind
	latency time.Duration
	counts  map[Kind]int
	// Skip, if set, exempts requests from faults (e.g. the sandbox's own
	// /sandbox/ control paths).
	Skip func(*http.Request) bool
}

// Config is what POST /sandbox/faults accepts and GET returns.
type Config struct {
	Seed      uint64           `json:"seed"`
	Rates     map[Kind]float64 `json:"rates,omitempty"`   // probability per request, 0..1
	Next      []Kind           `json:"next,omitempty"`    // scripted faults for the next requests, in order
	LatencyMS int              `json:"latency_ms"`        // for Latency; default 20
	Counts    map[Kind]int     `json:"counts,omitempty"`  // faults applied so far (read only)
	Pending   int              `json:"pending,omitempty"` // scripted faults still to come (read only)
}

// Configure replaces the injector's settings.
func (in *Injector) Configure(c Config) error {
	for k, r := range c.Rates {
		if !known(k) {
			return fmt.Errorf("faults: unknown fault kind %q", k)
		}
		if r < 0 || r > 1 {
			return fmt.Errorf("faults: rate for %q must be within 0..1, got %v", k, r)
		}
	}
	for _, k := range c.Next {
		if k != None && !known(k) {
			return fmt.Errorf("faults: unknown fault kind %q", k)
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rng = rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	in.rates = c.Rates
	in.script = append([]Kind(nil), c.Next...)
	in.latency = time.Duration(c.LatencyMS) * time.Millisecond
	if in.latency == 0 {
		in.latency = 20 * time.Millisecond
	}
	return nil
}

// Script queues faults for the next requests, one each, before any random ones.
func (in *Injector) Script(kinds ...Kind) {
	in.mu.Lock()
	in.script = append(in.script, kinds...)
	in.mu.Unlock()
}

// Snapshot returns the current settings and counts.
func (in *Injector) Snapshot() Config {
	in.mu.Lock()
	defer in.mu.Unlock()
	c := Config{Rates: map[Kind]float64{}, Counts: map[Kind]int{}, LatencyMS: int(in.latency / time.Millisecond), Pending: len(in.script)}
	for k, v := range in.rates {
		c.Rates[k] = v
	}
	for k, v := range in.counts {
		c.Counts[k] = v
	}
	return c
}

func known(k Kind) bool {
	for _, a := range All {
		if a == k {
			return true
		}
	}
	return false
}

// next picks the fault for one request.
func (in *Injector) next() (Kind, time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	k := None
	if len(in.script) > 0 {
		k, in.script = in.script[0], in.script[1:]
	} else if in.rng != nil && len(in.rates) > 0 {
		// Iterate in a fixed order so a seed reproduces exactly.
		kinds := make([]string, 0, len(in.rates))
		for kk := range in.rates {
			kinds = append(kinds, string(kk))
		}
		sort.Strings(kinds)
		x := in.rng.Float64()
		for _, kk := range kinds {
			r := in.rates[Kind(kk)]
			if x < r {
				k = Kind(kk)
				break
			}
			x -= r
		}
	}
	if k != None {
		if in.counts == nil {
			in.counts = map[Kind]int{}
		}
		in.counts[k]++
	}
	lat := in.latency
	if lat == 0 {
		lat = 20 * time.Millisecond
	}
	return k, lat
}

// Wrap returns h with faults applied.
func (in *Injector) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in.Skip != nil && in.Skip(r) {
			h.ServeHTTP(w, r)
			return
		}
		kind, latency := in.next()
		mc := memCallOf(r.Context())
		if mc != nil {
			mc.kind = kind
		}
		switch kind {
		case None:
			h.ServeHTTP(w, r)
		case Latency:
			if mc != nil {
				// In memory there is no wire to be slow on; the
				// answer arrives within the caller's deadline.
				h.ServeHTTP(w, r)
				return
			}
			t := time.NewTimer(latency)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
			}
			h.ServeHTTP(w, r)
		case Status502:
			http.Error(w, "<html><body><h1>502 Bad Gateway</h1></body></html>", http.StatusBadGateway)
		case DropBefore:
			if mc != nil {
				return
			}
			drop(w)
		case Status500After, DropAfter, HangAfter, Malformed, Truncated, Duplicate:
			body := readAll(r)
			rec := run(h, r, body)
			if kind == Duplicate {
				rec = run(h, r, body)
			}
			switch kind {
			case Status500After:
				http.Error(w, "<html><body>500 Internal Server Error</body></html>", http.StatusInternalServerError)
			case DropAfter:
				if mc != nil {
					return
				}
				drop(w)
			case HangAfter:
				if mc != nil {
					return
				}
				<-r.Context().Done()
				drop(w)
			case Malformed:
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"result_code":"200","biz_response":{<html>oops`))
			case Truncated:
				b := rec.Body.Bytes()
				w.Header().Set("Content-Type", "application/json")
				w.Write(b[:len(b)/2])
			case Duplicate:
				copyResponse(w, rec)
			}
		}
	})
}

func readAll(r *http.Request) []byte {
	var buf bytes.Buffer
	if r.Body != nil {
		buf.ReadFrom(r.Body)
		r.Body.Close()
	}
	return buf.Bytes()
}

func run(h http.Handler, r *http.Request, body []byte) *httptest.ResponseRecorder {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r2)
	return rec
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	// HTTP/2 or a recorder: abort the handler; net/http resets the stream.
	panic(http.ErrAbortHandler)
}

// Handler serves the control endpoint: GET returns the settings and counts,
// POST replaces them with a JSON Config.
func (in *Injector) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost:
			var c Config
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				http.Error(w, "faults: bad config: "+err.Error(), http.StatusBadRequest)
				return
			}
			if err := in.Configure(c); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		default:
			http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(in.Snapshot())
	})
}
