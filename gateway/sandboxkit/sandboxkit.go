// Package sandboxkit holds what the three sandbox gateways (upay, alipay,
// yedpay) share and used to write three times: the payer's page behind a QR
// code, POST /sandbox/orders/{id}/pay|decline, GET /sandbox/ledger and the
// ledger file, the fault injector in front of the API with its control at
// /sandbox/faults, and gateway personalities.
//
// A personality is a way a real gateway can behave that the terminal must
// survive and that a friendly sandbox would never show: no cancel call at
// all, a cancel refused for good, an order that cannot be found by the
// terminal's own number although the gateway confirmed it, a 5xx after the
// call was applied. Each sandbox implements them in its own protocol (which
// answer a real gateway gives to an unknown method, say) and cites the
// source of each answer; the kit only keeps the switch, serves it at
// /sandbox/faults beside the faults, and applies the one that is the same
// everywhere (Error500AfterCommit).
//
// Layout of a sandbox built on the kit:
//
//	<API paths>                        the gateway API, wrapped by faults.Injector
//	GET  /qr/{id}                      the payer's page (Pay and Decline buttons)
//	POST /sandbox/orders/{id}/{action} pay, decline (and a sandbox's own actions)
//	GET  /sandbox/ledger               gateway.Ledger as JSON
//	GET|POST /sandbox/faults           faults.Config plus "personalities"
package sandboxkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"posagent/gateway"
	"posagent/gateway/faults"
)

// Personality is one way a gateway may behave; see the package doc. Each
// sandbox's package doc says what each one does there.
type Personality string

// The personalities (issue 13, "Gateway personalities in the chaos test").
const (
	// NoCancel: the cancel/close call does not exist; the gateway answers
	// as it answers any unknown method or path.
	NoCancel Personality = "no_cancel"
	// CancelRefused: the cancel/close call exists and refuses, for good,
	// an order that is still open.
	CancelRefused Personality = "cancel_refused"
	// LatePayAfterCancel: after a refused or absent cancel, the payer pays
	// anyway before the gateway's own expiry. It implies CancelRefused
	// when NoCancel is not set, so that there is something to pay.
	LatePayAfterCancel Personality = "late_pay_after_cancel"
	// ConfirmedThenNotFound: lookups by the terminal's number answer "not
	// found", even for orders the gateway confirmed; lookups by the
	// gateway's own number work.
	ConfirmedThenNotFound Personality = "confirmed_then_not_found"
	// ConflictThenNotFound: a repeated precreate is refused as a conflict
	// (whatever its details), and lookups by the terminal's number answer
	// "not found".
	ConflictThenNotFound Personality = "conflict_then_not_found"
	// UnsignedErrors: refusals come without a signature where the gateway
	// signs answers (Alipay), and some calls are answered by an unsigned
	// system error after they were applied.
	UnsignedErrors Personality = "unsigned_errors"
	// Error500AfterCommit: every second API call is applied and then
	// answered with the gateway's own server error (Upay result_code
	// "500", Alipay isp.unknow-error, Yedpay HTTP 500 "Internal Error"),
	// on every kind of call, refunds included.
	Error500AfterCommit Personality = "error_500_after_commit"
)

// AllPersonalities lists every personality, for chaos tests and flag help.
var AllPersonalities = []Personality{NoCancel, CancelRefused, LatePayAfterCancel,
	ConfirmedThenNotFound, ConflictThenNotFound, UnsignedErrors, Error500AfterCommit}

func knownPersonality(p Personality) bool {
	for _, a := range AllPersonalities {
		if a == p {
			return true
		}
	}
	return false
}

// Payer is the simulated customer. id is any number the sandbox knows the
// order by (its own, the terminal's, the QR token).
type Payer interface {
	Pay(id string) error
	Decline(id string) error
}

// ErrNotPayable is wrapped by Pay and Decline errors for an order that is
// not waiting for payment; the payer endpoint answers 409 for it and 404
// for anything else.
var ErrNotPayable = errors.New("order is not waiting for payment")

// Page is what the payer's page shows.
type Page struct {
	Gateway  string // "Upay", "Alipay", "Yedpay"
	ID       string // the id the buttons post to
	Amount   string // "12.50"
	Currency string // "¥", "HKD"
	Subject  string
	Lines    []string // further lines: order numbers and the like
	Status   string
	Payable  bool
}

// Config is what a sandbox gives the kit.
type Config struct {
	// Name names the gateway in pages and logs.
	Name string
	// API serves the gateway's own paths; the kit wraps it in the fault
	// injector and in Error500AfterCommit.
	API http.Handler
	// IsAPI tells the API's requests from everything else (default: any
	// path not under /sandbox/ or /qr/).
	IsAPI func(*http.Request) bool
	// ServerError writes the gateway's own "server error" answer, for
	// Error500AfterCommit. Nil: HTTP 500 with an HTML page.
	ServerError func(w http.ResponseWriter, r *http.Request)
	// Payer pays and declines; Actions adds a sandbox's own payer actions
	// (Alipay's "scan").
	Payer   Payer
	Actions map[string]func(id string) error
	// Page returns the payer's page for id, or false if there is none.
	Page func(id string) (Page, bool)
	// Ledger returns the sandbox's orders.
	Ledger func() gateway.Ledger
	// Logger gets errors writing the ledger file. Default: discard.
	Logger *slog.Logger
	// BaseURL is where the sandbox is reachable, for QR payloads; it can
	// be set later with SetBaseURL (once an httptest.Server listens).
	BaseURL string
	// Now is the sandbox's clock: API answers carry it as their Date
	// header (RFC 9110 §6.6.1), on the wire and in memory alike, so a
	// clock guard can be tested on a fake clock. Default time.Now.
	Now func() time.Time
}

// Kit serves a sandbox's shared paths and holds its faults and
// personalities. It is an http.Handler and safe for concurrent use.
type Kit struct {
	cfg    Config
	faults *faults.Injector
	mux    *http.ServeMux

	mu    sync.Mutex
	base  string
	on    map[Personality]bool
	calls int // API calls seen, for Error500AfterCommit
}

// New returns a Kit for cfg.
func New(cfg Config) *Kit {
	if cfg.IsAPI == nil {
		cfg.IsAPI = func(r *http.Request) bool {
			return !strings.HasPrefix(r.URL.Path, "/sandbox/") && !strings.HasPrefix(r.URL.Path, "/qr/")
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := &Kit{cfg: cfg, on: map[Personality]bool{}, base: strings.TrimRight(cfg.BaseURL, "/")}
	isAPI := cfg.IsAPI
	k.faults = &faults.Injector{Skip: func(r *http.Request) bool { return !isAPI(r) }}
	k.mux = http.NewServeMux()
	api := k.faults.Wrap(k.after500(cfg.API))
	k.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !isAPI(r) {
			http.NotFound(w, r)
			return
		}
		// Outside the faults, so that every answer, a proxy's 502 too,
		// is dated by the sandbox's clock.
		w.Header().Set("Date", k.cfg.Now().UTC().Format(http.TimeFormat))
		api.ServeHTTP(w, r)
	})
	k.mux.HandleFunc("GET /qr/{id}", k.page)
	k.mux.HandleFunc("POST /sandbox/orders/{id}/{action}", k.payer)
	k.mux.HandleFunc("GET /sandbox/ledger", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(cfg.Ledger())
	})
	k.mux.HandleFunc("/sandbox/faults", k.control)
	return k
}

// ServeHTTP serves the API (through the faults) and the kit's paths.
func (k *Kit) ServeHTTP(w http.ResponseWriter, r *http.Request) { k.mux.ServeHTTP(w, r) }

// SetBaseURL sets where the sandbox is reachable, for QR payloads.
func (k *Kit) SetBaseURL(u string) {
	k.mu.Lock()
	k.base = strings.TrimRight(u, "/")
	k.mu.Unlock()
}

// BaseURL is where QR payloads point: the URL set, else the scheme and Host
// of r (when there is a request), else fallback.
func (k *Kit) BaseURL(r *http.Request, fallback string) string {
	k.mu.Lock()
	base := k.base
	k.mu.Unlock()
	switch {
	case base != "":
		return base
	case r != nil && r.Host != "":
		if r.TLS != nil {
			return "https://" + r.Host
		}
		return "http://" + r.Host
	}
	return fallback
}

// Handle adds a path of the sandbox's own (e.g. GET /sandbox/uploads).
func (k *Kit) Handle(pattern string, h http.Handler) { k.mux.Handle(pattern, h) }

// Faults returns the injector in front of the API.
func (k *Kit) Faults() *faults.Injector { return k.faults }

// SetPersonalities replaces the personalities in force.
func (k *Kit) SetPersonalities(ps ...Personality) error {
	on := map[Personality]bool{}
	for _, p := range ps {
		if !knownPersonality(p) {
			return fmt.Errorf("sandboxkit: unknown personality %q", p)
		}
		on[p] = true
	}
	k.mu.Lock()
	k.on = on
	k.mu.Unlock()
	return nil
}

// Personalities returns the personalities in force, sorted.
func (k *Kit) Personalities() []Personality {
	k.mu.Lock()
	defer k.mu.Unlock()
	ps := make([]Personality, 0, len(k.on))
	for p := range k.on {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// Has reports whether p is in force. LatePayAfterCancel implies
// CancelRefused unless NoCancel is set (see LatePayAfterCancel).
func (k *Kit) Has(p Personality) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p == CancelRefused && k.on[LatePayAfterCancel] && !k.on[NoCancel] {
		return true
	}
	return k.on[p]
}

// ClientLookupBlind reports whether lookups by the terminal's own number
// must answer "not found" (ConfirmedThenNotFound or ConflictThenNotFound).
func (k *Kit) ClientLookupBlind() bool {
	return k.Has(ConfirmedThenNotFound) || k.Has(ConflictThenNotFound)
}

// after500 applies Error500AfterCommit: every second API call runs, then
// its answer is replaced by the gateway's server error.
func (k *Kit) after500(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		hit := false
		if k.on[Error500AfterCommit] {
			k.calls++
			hit = k.calls%2 == 0
		}
		k.mu.Unlock()
		if !hit {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(httptest.NewRecorder(), r) // applied, answer lost
		if k.cfg.ServerError != nil {
			k.cfg.ServerError(w, r)
			return
		}
		http.Error(w, "<html><body>500 Internal Server Error</body></html>", http.StatusInternalServerError)
	})
}

// control is /sandbox/faults: the injector's own control (faults.Config),
// with one more member, "personalities" (absent: unchanged). The
// personalities are checked before anything changes, and the rest is
// handed to the injector's handler as is.
func (k *Kit) control(w http.ResponseWriter, r *http.Request) {
	var ps []Personality
	set := false
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
		var m map[string]json.RawMessage
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if raw, ok := m["personalities"]; ok && err == nil {
			err = json.Unmarshal(raw, &ps)
			for _, p := range ps {
				if err == nil && !knownPersonality(p) {
					err = fmt.Errorf("unknown personality %q", p)
				}
			}
			delete(m, "personalities")
			set = true
		}
		if err != nil {
			http.Error(w, "sandbox: bad faults config: "+err.Error(), http.StatusBadRequest)
			return
		}
		b, _ = json.Marshal(m)
		r = r.Clone(r.Context())
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	}
	rec := httptest.NewRecorder()
	k.faults.Handler().ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		copyRecorded(w, rec)
		return
	}
	if set {
		k.SetPersonalities(ps...)
	}
	var snap map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil {
		http.Error(w, "sandbox: "+err.Error(), http.StatusInternalServerError)
		return
	}
	snap["personalities"], _ = json.Marshal(k.Personalities())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(snap)
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for key, v := range rec.Header() {
		w.Header()[key] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func (k *Kit) payer(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	var act func(string) error
	switch action {
	case "pay":
		act = k.cfg.Payer.Pay
	case "decline":
		act = k.cfg.Payer.Decline
	default:
		act = k.cfg.Actions[action]
	}
	if act == nil {
		http.Error(w, "sandbox: unknown action "+action, http.StatusNotFound)
		return
	}
	err := act(id)
	if r.FormValue("from") == "page" || strings.Contains(r.Header.Get("Accept"), "text/html") {
		// A button on the payer's page: back to it, it shows the outcome.
		http.Redirect(w, r, "/qr/"+id, http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusNotFound
		if errors.Is(err, ErrNotPayable) {
			code = http.StatusConflict
		}
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "action": action, "id": id})
}

var pageTmpl = template.Must(template.New("qr").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Gateway}} sandbox · {{.ID}}</title>
<style>body{font-family:sans-serif;max-width:24em;margin:2em auto}button{font-size:1.4em;padding:.4em 1.2em;margin:.3em}</style>
</head><body>
<h1>{{.Currency}}{{.Amount}}</h1>
<p>{{.Subject}}{{range .Lines}}<br>{{.}}{{end}}</p>
<p>Status: <b id="status">{{.Status}}</b></p>
{{if .Payable}}
<form method="post" action="/sandbox/orders/{{.ID}}/pay"><input type="hidden" name="from" value="page"><button type="submit" id="pay">Pay</button></form>
<form method="post" action="/sandbox/orders/{{.ID}}/decline"><input type="hidden" name="from" value="page"><button type="submit" id="decline">Decline</button></form>
{{end}}
<p><small>posagent {{.Gateway}} sandbox: no real money moves.</small></p>
</body></html>
`))

func (k *Kit) page(w http.ResponseWriter, r *http.Request) {
	p, ok := k.cfg.Page(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	p.Gateway = k.cfg.Name
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTmpl.Execute(w, p)
}

// LatePayAt is when LatePayAfterCancel's payer pays an order whose cancel
// was refused or absent at refusedAt: half way to the gateway's own expiry,
// so that the late payment lands after the terminal gave up on the QR and
// before the gateway would have closed the order itself.
func LatePayAt(refusedAt, expiresAt time.Time) time.Time {
	return refusedAt.Add(expiresAt.Sub(refusedAt) / 2)
}

// WriteLedger writes l as JSON to path, atomically (temporary file, then
// rename), so a reader never sees half a ledger. An empty path writes
// nothing.
func WriteLedger(path string, l gateway.Ledger) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("sandboxkit: writing ledger: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("sandboxkit: writing ledger: %w", err)
	}
	return nil
}

// SortLedger orders entries by terminal, then client number: the same
// ledger reads the same whatever map it came from.
func SortLedger(l *gateway.Ledger) {
	sort.Slice(l.Orders, func(i, j int) bool {
		a, b := l.Orders[i], l.Orders[j]
		if a.Terminal != b.Terminal {
			return a.Terminal < b.Terminal
		}
		return a.ClientSN < b.ClientSN
	})
}
