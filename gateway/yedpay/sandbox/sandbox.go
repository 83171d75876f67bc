// Package sandbox is a Yedpay API server for tests, demos and the engine's
// chaos runs: it speaks the wire protocol of posagent/gateway/yedpay
// (Bearer token, form bodies, {success, data} envelopes), keeps a ledger of
// every order, and lets a test (or a person with a phone's browser) pay or
// decline an order.
//
// Paths, as on api.yedpay.com:
//
//	POST /v1/precreate/{store_id}          create a QR transaction (seed 004)
//	GET  /v1/transactions/{id}?query=...   show one (owner API "Show Transaction"; see below)
//	PUT  /v1/transactions/{id}/close       close a pending transaction (owner API "Close Transaction")
//	POST /v1/transactions/{id}/refund      refund all or part of a paid one (yedpay/php-library src/Client.php refund())
//
// and, from posagent/gateway/sandboxkit, for tests and scripts:
//
//	GET  /qr/{id}                          the QR payload: a page with Pay and Decline buttons
//	POST /sandbox/orders/{id}/pay          pay (id = Yedpay's id or the custom_id)
//	POST /sandbox/orders/{id}/decline      decline
//	GET  /sandbox/ledger                   gateway.Ledger as JSON
//	GET, POST /sandbox/faults              the fault injector (posagent/gateway/faults) and personalities
//
// The /v1/ handler is wrapped in a faults.Injector, so every fault the other
// sandboxes inject happens here too, on the wire or in memory.
//
// Where Yedpay's public documents are silent or disagree, the sandbox picks
// the unfriendliest plausible behaviour by default, and an Option switches
// to the other (issue 13, "Sandboxes that argue with us"):
//   - Lookup by custom_id. The owner API page lists `query` as a body field
//     of a GET, which many servers and proxies drop; yedpay/php-library looks
//     orders up elsewhere (GET /v1/online-payment/query?custom_id=…). By
//     default GET /v1/transactions/{custom_id}?query=custom_id answers 404:
//     the path finds Yedpay's own id only, and a GET body is never read.
//     Options.LookupByCustomID finds it.
//   - Reusing a custom_id. The precreate page only says "Unique ID Send By
//     Customer" (seed 004, line 27). By default a repeat is refused with 422
//     errors.custom_id "The custom id has already been taken." (Laravel's
//     unique rule; Yedpay's 401 body is Laravel's "Unauthenticated."),
//     whatever the amount. Options.IdempotentCustomID answers a repeat with
//     the same amount with the existing transaction.
//   - Repeated refunds. yedpay/php-library's refund() sends refund_reason and
//     amount and nothing that makes it idempotent. By default every refund
//     POST refunds. Options.RefundReasonIdempotent treats a refund whose
//     refund_reason equals an earlier one's as a repeat (same amount: the
//     transaction unchanged; another amount: 422).
//   - Unpaid transactions are cancelled after Options.OrderTTL (the QR
//     "has a lifetime of 24 hours", seed 004 line 3; terminals' tests want
//     minutes), and expired_at says when.
//   - The currency is HKD only, as in yedpay/php-library (CURRENCY_HKD).
//
// Personalities (sandboxkit.Personality):
//   - NoCancel: PUT .../close answers 404 {"success":false,"message":"Not
//     Found"}, as this API answers any path it does not have.
//   - CancelRefused: close of a pending transaction answers 400 "The request
//     is failed. Please try again." (the answer it gives a non-pending one)
//     and the transaction stays payable.
//   - LatePayAfterCancel: after a refused or absent close the payer pays,
//     half way between the close and the transaction's expiry.
//   - ConfirmedThenNotFound, ConflictThenNotFound: lookups by custom_id
//     answer 404 even with LookupByCustomID; a repeated precreate is 422
//     even with IdempotentCustomID. Lookups by Yedpay's id work.
//   - UnsignedErrors: nothing to do; Yedpay's answers are not signed.
//   - Error500AfterCommit: every second call is applied, then answered HTTP
//     500 {"success":false,"message":"Internal Error","status":500}, the
//     precreate page's example error (seed 004, line 89).
package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/sandboxkit"
	"posagent/gateway/yedpay"
)

// Options configures a Server.
type Options struct {
	// AccessToken is the Bearer token the API accepts; default
	// "sandbox-access-token".
	AccessToken string
	// StoreID is the one store precreate accepts; default "sandbox-store".
	StoreID string
	// OrderTTL: unpaid orders are cancelled this long after creation;
	// default 240s.
	OrderTTL time.Duration
	// Now is the clock (for TTL and timestamps); default time.Now.
	Now func() time.Time
	// BaseURL is where the sandbox is reachable, for QR payloads
	// (<BaseURL>/qr/<id>). Empty: taken from each request's Host.
	BaseURL string
	// Logger gets one line per API call; never a token. Default: discard.
	Logger *slog.Logger
	// LookupByCustomID, IdempotentCustomID and RefundReasonIdempotent
	// switch to the friendlier reading of what Yedpay's documents leave
	// open (see the package documentation).
	LookupByCustomID       bool
	IdempotentCustomID     bool
	RefundReasonIdempotent bool
}

// Server is the sandbox. It is an http.Handler and safe for concurrent use.
type Server struct {
	opts     Options
	kit      *sandboxkit.Kit
	mu       sync.Mutex
	seq      int
	byID     map[string]*order
	byCustom map[string]*order
	creates  map[string]int // precreates per custom_id, refused repeats included
}

type refund struct {
	reason string
	cents  int64
	at     time.Time
}

type order struct {
	id, customID, storeID, currency, wallet, extra string
	gatewayID                                      int
	cents, refunded                                int64
	status                                         string // pending, paid, cancelled, failed, refunded
	charges                                        int
	transactionID, referenceID                     string
	created, updated, paidAt, refundedAt           time.Time
	refunds                                        []refund
	cancelRemark, failRemark                       string
	latePayAt                                      time.Time // LatePayAfterCancel
}

// New returns a Server with opts' defaults filled in.
func New(opts Options) *Server {
	if opts.AccessToken == "" {
		opts.AccessToken = "sandbox-access-token"
	}
	if opts.StoreID == "" {
		opts.StoreID = "sandbox-store"
	}
	if opts.OrderTTL <= 0 {
		opts.OrderTTL = 240 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts: opts,
		byID: map[string]*order{}, byCustom: map[string]*order{}, creates: map[string]int{},
	}

	api := http.NewServeMux()
	api.HandleFunc("POST /v1/precreate/{store_id}", s.precreate)
	api.HandleFunc("GET /v1/transactions/{id}", s.show)
	api.HandleFunc("PUT /v1/transactions/{id}/close", s.close)
	api.HandleFunc("POST /v1/transactions/{id}/refund", s.refund)
	api.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "Not Found", nil)
	})

	s.kit = sandboxkit.New(sandboxkit.Config{
		Name:    "Yedpay",
		BaseURL: opts.BaseURL,
		API:     s.authenticated(api),
		IsAPI:   func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v1/") },
		Payer:   s,
		Page:    s.page,
		Ledger:  s.Ledger,
		Logger:  opts.Logger,
		Now:     opts.Now,
		ServerError: func(w http.ResponseWriter, r *http.Request) {
			fail(w, http.StatusInternalServerError, "Internal Error", nil) // seed 004, line 89
		},
	})
	return s
}

// ServeHTTP serves the API and the sandbox's control paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.kit.ServeHTTP(w, r) }

// Faults returns the injector wrapping the API.
func (s *Server) Faults() *faults.Injector { return s.kit.Faults() }

// SetPersonalities replaces the gateway personalities in force (see the
// package documentation); also POST /sandbox/faults {"personalities": [...]}.
func (s *Server) SetPersonalities(ps ...sandboxkit.Personality) error {
	return s.kit.SetPersonalities(ps...)
}

// SetBaseURL sets where the sandbox is reachable (for QR payloads), e.g.
// an httptest.Server's URL once it listens.
func (s *Server) SetBaseURL(u string) {
	s.kit.SetBaseURL(u)
}

// ClientConfig returns a client configuration this sandbox accepts, for a
// sandbox served at baseURL. Add RootCAs (or an HTTPClient) for HTTPS.
func (s *Server) ClientConfig(baseURL string) yedpay.Config {
	return yedpay.Config{
		BaseURL:     baseURL,
		StoreID:     s.opts.StoreID,
		AccessToken: s.opts.AccessToken,
		GatewayID:   yedpay.GatewayAlipay,
		Currency:    "HKD",
	}
}

// authenticated checks the Bearer token before anything else, the way
// Yedpay's API answers an unknown token: 401 "Unauthenticated.". The
// check is constant-time and the header is never logged.
func (s *Server) authenticated(h http.Handler) http.Handler {
	want := []byte("Bearer " + s.opts.AccessToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			s.opts.Logger.Info("yedpay sandbox: refused token", "method", r.Method, "path", r.URL.Path, "had_header", len(got) > 0)
			fail(w, http.StatusUnauthorized, "Unauthenticated.", nil)
			return
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			ct := r.Header.Get("Content-Type")
			if ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
				fail(w, http.StatusUnsupportedMediaType, "Content-Type must be application/x-www-form-urlencoded", nil)
				return
			}
		}
		s.opts.Logger.Info("yedpay sandbox: call", "method", r.Method, "path", r.URL.Path)
		h.ServeHTTP(w, r)
	})
}

var (
	amountRE   = regexp.MustCompile(`^[0-9]{1,13}(\.[0-9]{1,2})?$`)
	customIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,36}$`)
)

// dollars parses a validated amount into cents.
func dollars(s string) int64 {
	whole, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	f := (frac + "00")[:2]
	m, _ := strconv.ParseInt(f, 10, 64)
	return n*100 + m
}

func money(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

// precreate checks the body fields of seed 004 (lines 15-31): gateway_id
// 1, 4 or 8 (10: the gateway_code lists), amount with at most 2 decimals
// (line 19), return_url and notify_url at most 255 (lines 21-23, both
// mandatory for Alipay Online), wallet HK or CN (line 24), extra_parameters
// JSON of at most 200 (line 26), custom_id letters, digits, _ and -, at
// most 36 (line 27). Errors are the Laravel 422 envelope with errors.
func (s *Server) precreate(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "The request body is not a form.", nil)
		return
	}
	f := r.PostForm
	if r.PathValue("store_id") != s.opts.StoreID {
		fail(w, http.StatusNotFound, "Store not found.", nil)
		return
	}
	invalid := map[string]string{}
	gw, err := strconv.Atoi(f.Get("gateway_id"))
	if err != nil || (gw != 1 && gw != 4 && gw != 8 && gw != 10) {
		invalid["gateway_id"] = "The selected gateway id is invalid."
	}
	amount := f.Get("amount")
	if !amountRE.MatchString(amount) || dollars(amount) == 0 {
		invalid["amount"] = "The amount must be a number greater than 0 with at most 2 decimal places."
	}
	if f.Get("currency") != "HKD" {
		invalid["currency"] = "The selected currency is invalid."
	}
	custom := f.Get("custom_id")
	if custom != "" && !customIDRE.MatchString(custom) {
		invalid["custom_id"] = "The custom id may only contain letters, numbers, dashes and underscores, at most 36."
	}
	extra := f.Get("extra_parameters")
	if extra != "" && (utf8.RuneCountInString(extra) > 200 || !json.Valid([]byte(extra))) {
		invalid["extra_parameters"] = "The extra parameters must be JSON of at most 200 characters."
	}
	for _, k := range []string{"return_url", "notify_url"} {
		if utf8.RuneCountInString(f.Get(k)) > 255 {
			invalid[k] = "The " + strings.ReplaceAll(k, "_", " ") + " may not be greater than 255 characters."
		}
	}
	if gw == 4 && (f.Get("return_url") == "" || f.Get("notify_url") == "") {
		invalid["return_url"] = "The return url and notify url are required for Alipay Online."
	}
	if wallet := f.Get("wallet"); wallet != "" && wallet != "HK" && wallet != "CN" {
		invalid["wallet"] = "The selected wallet is invalid."
	}
	if len(invalid) > 0 {
		fail(w, http.StatusUnprocessableEntity, firstMessage(invalid), invalid)
		return
	}

	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if custom != "" {
		s.creates[custom]++
		if o := s.byCustom[custom]; o != nil && s.opts.IdempotentCustomID && !s.kit.Has(sandboxkit.ConflictThenNotFound) && o.cents == dollars(amount) {
			s.tickLocked(o)
			writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": s.render(o, r)})
			return
		}
		if _, taken := s.byCustom[custom]; taken {
			msg := "The custom id has already been taken."
			fail(w, http.StatusUnprocessableEntity, msg, map[string]string{"custom_id": msg})
			return
		}
	}
	s.seq++
	o := &order{
		id:       fmt.Sprintf("YP%010dSBX", s.seq),
		customID: custom, storeID: s.opts.StoreID, currency: "HKD", wallet: f.Get("wallet"), extra: extra,
		gatewayID: gw, cents: dollars(amount), status: "pending",
		created: now, updated: now,
	}
	s.byID[o.id] = o
	if custom != "" {
		s.byCustom[custom] = o
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": s.render(o, r)})
}

// find looks an order up by Yedpay's id, or by the field named in query.
// It expires it first if its time is up. Callers hold s.mu.
func (s *Server) findLocked(id, query string) *order {
	var o *order
	switch query {
	case "custom_id":
		if s.opts.LookupByCustomID && !s.kit.ClientLookupBlind() {
			o = s.byCustom[id]
		}
	case "transaction_id":
		for _, x := range s.byID {
			if x.transactionID != "" && x.transactionID == id {
				o = x
			}
		}
	default:
		o = s.byID[id]
	}
	if o != nil {
		s.tickLocked(o)
	}
	return o
}

// tickLocked cancels o if it is unpaid and older than the TTL, after the
// late payer of LatePayAfterCancel had its turn.
func (s *Server) tickLocked(o *order) {
	now := s.opts.Now()
	if o.status == "pending" && !o.latePayAt.IsZero() && !now.Before(o.latePayAt) {
		s.payLocked(o, o.latePayAt)
	}
	if o.status == "pending" && !now.Before(o.created.Add(s.opts.OrderTTL)) {
		o.status = "cancelled"
		o.cancelRemark = "timeout"
		o.updated = o.created.Add(s.opts.OrderTTL)
	}
}

// show is "Show Transaction" (field-notes.md lines 42-43), with the lookup
// by custom_id as the package doc says.
func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("query") // a GET body is never read
	if q != "" && q != "custom_id" && q != "transaction_id" {
		fail(w, http.StatusUnprocessableEntity, "The selected query is invalid.", map[string]string{"query": "The selected query is invalid."})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.findLocked(r.PathValue("id"), q)
	if o == nil {
		fail(w, http.StatusNotFound, "Transaction not found.", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": s.render(o, r)})
}

// close is "Close Transaction": "precreated/pending" only (field-notes.md
// lines 43-44); anything else answers 400.
func (s *Server) close(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kit.Has(sandboxkit.NoCancel) {
		if o := s.findLocked(r.PathValue("id"), ""); o != nil {
			s.refusedCloseLocked(o)
		}
		fail(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	o := s.findLocked(r.PathValue("id"), "")
	if o == nil {
		fail(w, http.StatusNotFound, "Transaction not found.", nil)
		return
	}
	if o.status == "pending" && s.kit.Has(sandboxkit.CancelRefused) {
		s.refusedCloseLocked(o)
		fail(w, http.StatusBadRequest, "The request is failed. Please try again.", nil)
		return
	}
	if o.status != "pending" {
		fail(w, http.StatusBadRequest, "The request is failed. Please try again.", nil)
		return
	}
	o.status = "cancelled"
	o.cancelRemark = r.PostForm.Get("remark")
	o.updated = s.opts.Now()
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Successfully close the transaction"})
}

// refund is yedpay/php-library src/Client.php refund(): POST with
// refund_reason and amount (all that is left when amount is absent).
func (s *Server) refund(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "The request body is not a form.", nil)
		return
	}
	reason := r.PostForm.Get("refund_reason")
	amount := r.PostForm.Get("amount")
	if amount != "" && (!amountRE.MatchString(amount) || dollars(amount) == 0) {
		fail(w, http.StatusUnprocessableEntity, "The amount must be a number greater than 0 with at most 2 decimal places.",
			map[string]string{"amount": "invalid"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.findLocked(r.PathValue("id"), "")
	if o == nil {
		fail(w, http.StatusNotFound, "Transaction not found.", nil)
		return
	}
	left := o.cents - o.refunded
	cents := left
	if amount != "" {
		cents = dollars(amount)
	}
	if reason != "" && s.opts.RefundReasonIdempotent {
		for _, p := range o.refunds {
			if p.reason != reason {
				continue
			}
			if amount == "" || p.cents == cents {
				writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": s.render(o, r)})
				return
			}
			fail(w, http.StatusUnprocessableEntity, "The refund reason was used for a refund of another amount.",
				map[string]string{"refund_reason": "already used"})
			return
		}
	}
	if (o.status != "paid" && o.status != "refunded") || left <= 0 {
		fail(w, http.StatusBadRequest, "The transaction cannot be refunded.", nil)
		return
	}
	if cents > left {
		fail(w, http.StatusUnprocessableEntity, "The refund amount exceeds the refundable amount.", map[string]string{"amount": "too large"})
		return
	}
	now := s.opts.Now()
	o.refunded += cents
	o.refunds = append(o.refunds, refund{reason: reason, cents: cents, at: now})
	o.status = "refunded"
	o.refundedAt, o.updated = now, now
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": s.render(o, r)})
}

// refusedCloseLocked notes a close that did not happen: with
// LatePayAfterCancel the payer pays half way to the expiry.
func (s *Server) refusedCloseLocked(o *order) {
	if o.status == "pending" && o.latePayAt.IsZero() && s.kit.Has(sandboxkit.LatePayAfterCancel) {
		now := s.opts.Now()
		o.latePayAt = sandboxkit.LatePayAt(now, o.created.Add(s.opts.OrderTTL))
	}
}

// Pay charges the payer for an unpaid order (id = Yedpay's id or the
// custom_id). Paying an order that is not pending fails, so Charges never
// exceeds 1.
func (s *Server) Pay(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookupLocked(id)
	if o == nil {
		return fmt.Errorf("sandbox: no order %q", id)
	}
	if o.status != "pending" {
		return fmt.Errorf("sandbox: order %s is %s, it cannot be paid: %w", o.id, o.status, sandboxkit.ErrNotPayable)
	}
	s.payLocked(o, s.opts.Now())
	return nil
}

func (s *Server) payLocked(o *order, now time.Time) {
	o.status = "paid"
	o.charges++
	o.transactionID = fmt.Sprintf("%015d", 250000000000000+s.seqFor(o))
	o.referenceID = fmt.Sprintf("2026%016d", s.seqFor(o))
	o.paidAt, o.updated = now, now
}

// Decline makes an unpaid order fail, as when the payer's wallet refuses.
func (s *Server) Decline(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookupLocked(id)
	if o == nil {
		return fmt.Errorf("sandbox: no order %q", id)
	}
	if o.status != "pending" {
		return fmt.Errorf("sandbox: order %s is %s, it cannot be declined: %w", o.id, o.status, sandboxkit.ErrNotPayable)
	}
	o.status = "failed"
	o.failRemark = "declined by the payer"
	o.updated = s.opts.Now()
	return nil
}

func (s *Server) seqFor(o *order) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(o.id, "YP"), "SBX"), 10, 64)
	return n
}

func (s *Server) lookupLocked(id string) *order {
	o := s.byID[id]
	if o == nil {
		o = s.byCustom[id]
	}
	if o != nil {
		s.tickLocked(o)
	}
	return o
}

// Ledger returns every order, sorted by id.
func (s *Server) Ledger() gateway.Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.byID))
	for id := range s.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	l := gateway.Ledger{Orders: []gateway.LedgerEntry{}}
	for _, id := range ids {
		o := s.byID[id]
		s.tickLocked(o)
		l.Orders = append(l.Orders, gateway.LedgerEntry{
			Terminal: o.storeID, ClientSN: o.customID, SN: o.id, Status: ledgerStatus(o),
			AmountCents: o.cents, RefundedCents: o.refunded, Charges: o.charges, Creates: s.creates[o.customID],
		})
	}
	return l
}

// ledgerStatus is the sandbox's own reading of its orders in the engine's
// vocabulary, written apart from the client's mapping so that a test
// comparing the two compares two opinions.
func ledgerStatus(o *order) gateway.Status {
	switch o.status {
	case "pending":
		return gateway.StatusCreated
	case "paid":
		return gateway.StatusPaid
	case "cancelled":
		return gateway.StatusCanceled
	case "failed":
		return gateway.StatusPayCanceled
	case "refunded":
		if o.refunded == o.cents {
			return gateway.StatusRefunded
		}
		return gateway.StatusPartialRefunded
	}
	return gateway.Status("UNKNOWN:" + o.status)
}

func hk(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(time.FixedZone("HKT", 8*3600)).Format("2006-01-02 15:04:05")
}

var gatewayNames = map[int]string{1: "Alipay", 4: "Alipay Online", 8: "WeChat Pay", 10: "UnionPay Merchant Presented Code"}

// render is the documented transaction object. Callers hold s.mu.
func (s *Server) render(o *order, r *http.Request) map[string]any {
	qr := s.kit.BaseURL(r, "") + "/qr/" + o.id
	d := map[string]any{
		"id": o.id, "user_id": "sandbox-user", "company_id": "sandbox-company", "store_id": o.storeID,
		"gateway_id": o.gatewayID, "gateway_sub_id": 1, "gateway_sub_name": gatewayNames[o.gatewayID],
		"gateway_code": fmt.Sprintf("%d_1", o.gatewayID), "barcode_id": "",
		"status": o.status, "amount": money(o.cents), "currency": o.currency,
		"charge": 0, "refunded": money(o.refunded), "refund_charge": "0.00",
		"net": money(o.cents - o.refunded), "tips": "0.00", "forex": 1,
		"paid_at": hk(o.paidAt), "can_settle_after": "", "is_balance_settled": false, "settled_at": "",
		"transaction_id": o.transactionID, "reference_id": o.referenceID, "payer": "", "buyer_id": "",
		"wallet_type": o.wallet, "extra_parameters": o.extra, "custom_id": o.customID, "fixed_id": "",
		"refunded_at": hk(o.refundedAt), "created_at": hk(o.created), "updated_at": hk(o.updated),
		"expired_at": hk(o.created.Add(s.opts.OrderTTL)),
		"_links":     []map[string]string{{"rel": "checkout", "href": qr}, {"rel": "qrcode", "href": qr}},
	}
	if len(o.refunds) > 0 {
		var details []map[string]any
		for _, p := range o.refunds {
			details = append(details, map[string]any{"request_user_id": "sandbox-user", "first_name": "Sandbox",
				"last_name": "Terminal", "remark": p.reason, "amount": money(p.cents)})
		}
		d["refund_details"] = details
	}
	if o.status == "cancelled" {
		d["cancellation_details"] = map[string]any{"request_user_id": "sandbox-user", "remark": o.cancelRemark}
	}
	if o.status == "failed" {
		d["fail_details"] = map[string]any{"remark": o.failRemark}
	}
	return d
}

func firstMessage(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return m[keys[0]]
}

// fail writes Yedpay's error envelope.
func fail(w http.ResponseWriter, status int, msg string, fields map[string]string) {
	body := map[string]any{"success": false, "message": msg, "status": status}
	if len(fields) > 0 {
		errs := map[string][]string{}
		for k, v := range fields {
			errs[k] = []string{v}
		}
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// page is the payer's page behind a QR code (served by sandboxkit).
func (s *Server) page(id string) (sandboxkit.Page, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookupLocked(id)
	if o == nil {
		return sandboxkit.Page{}, false
	}
	return sandboxkit.Page{
		ID: o.id, Currency: o.currency + " ", Amount: money(o.cents),
		Lines: []string{"order " + o.id + " (" + o.customID + ")"}, Status: o.status, Payable: o.status == "pending",
	}, true
}
