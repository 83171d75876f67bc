// Package yedpay is a gateway.Gateway for Yedpay (Hong Kong; Alipay, WeChat
// Pay and UnionPay QR codes) over its REST API at https://api.yedpay.com/v1.
//
// # The endpoints and where they come from
//
// All calls carry "Authorization: Bearer <access_token>" and, where they have
// a body, an application/x-www-form-urlencoded one. Answers are JSON
// envelopes: {"success": true, "data": {transaction}} or {"success": false,
// "message": "...", "status": 401}.
//
//   - Precreate: POST /v1/precreate/{store_id} with gateway_id, amount,
//     currency, custom_id, extra_parameters (the "Pre-Create Transaction" page,
//     /work/shared/seeds/004_b6811b5c2678deac.txt).
//   - Query: GET /v1/transactions/{id} with Yedpay's own id once any answer
//     gave it (gateway.Ref.SN); only an order whose precreate answer never
//     arrived is looked up by GET /v1/transactions/{custom_id}?query=custom_id
//     (the "Show Transaction" page: the path takes the transaction's id, and
//     the query field "may be transaction_id or custom_id"; it goes in the
//     URL's query string, as yedpay/php-library sends the parameters of a
//     GET). A gateway that drops the GET body, or finds transactions in the
//     path only by its own id, answers 404 to that (field-notes.md): such a
//     not-found proves nothing, and its error says which key was used.
//   - Cancel: PUT /v1/transactions/{id}/close with remark (the "Close
//     Transaction" page: "Close the selected precreated/pending transaction";
//     it answers {success, message} without data).
//   - Refund: POST /v1/transactions/{id}/refund with refund_reason and amount
//     (the "Refund Transaction" page; also yedpay/php-library's refund()).
//
// The terminal's client_sn is sent as custom_id ("Unique ID Send By
// Customer", letters, digits, _ and -, at most 36), so every order can be
// found again by the terminal's own name for it where the gateway allows
// it. Close and refund take Yedpay's own id: from the Ref when the engine
// has it, else from a lookup by custom_id. Order.ExpiresAt is the answer's
// expired_at, else 24 h after creation (seed 004: "This qr code has a
// lifetime of 24 hours"): an order that could not be closed is payable
// until then.
//
// Amounts are HKD dollars with two decimals on the wire ("12.50") and int64
// cents in Go. Timestamps are Hong Kong time.
//
// # Assumed, not from the docs
//
// Yedpay documents no idempotency for precreate or refund. The client makes
// both idempotent by itself, and these are the only places that rest on
// assumptions (see customIDTaken in wire.go and Client.Refund):
//
//   - A second precreate with a custom_id already used is refused (422 "The
//     custom id has already been taken.", as Laravel's unique rule answers).
//     The client then queries by custom_id: the same amount and currency
//     means it is the same order (returned as success), anything else is a
//     gateway.ErrConflict.
//   - Refunds have no idempotency key (yedpay/php-library src/Client.php:
//     refund() sends refund_reason and amount only); RefundIdempotent says
//     so to the engine, which must query before any resend.
//   - A refund's refund_reason is "posagent:<RequestNo>", and Yedpay's
//     refund_details lists each refund's remark (the doc names the field
//     "remark: reason of the sending request"). Before refunding, the client
//     queries the order and does not refund again when a refund with the
//     same remark is listed.
//
// # Failures
//
// Every error is a *gateway.Error. NotSent: validation failed, or the
// connection failed before a byte of the request was written. Rejected: the
// gateway answered with its error envelope (401/403 wrap gateway.ErrAuth, 404
// on a transaction wraps gateway.ErrOrderNotFound). Unknown: everything else,
// including 5xx with an envelope, since Yedpay does not say "Internal Error"
// means nothing happened. The access token never appears in an error.
//
// The sandbox in posagent/gateway/yedpay/sandbox speaks the same protocol.
package yedpay

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"posagent/gateway"
)

// GatewayID is Yedpay's gateway_id: which wallet the QR code is for.
type GatewayID int

// Gateway ids. 1, 4 and 8 are the precreate page's list. 10 is "UnionPay
// Merchant Presented Code" (gateway_code 10_1, "UnionPay EMV Code") from the
// gateway_code lists of the Show/Create Transaction pages; the precreate page
// does not list it, so check with Yedpay before enabling it for a store.
const (
	GatewayAlipay       GatewayID = 1
	GatewayAlipayOnline GatewayID = 4 // needs ReturnURL and NotifyURL
	GatewayWeChatPay    GatewayID = 8
	GatewayUnionPayQR   GatewayID = 10
)

// Documented limits.
const (
	maxCustomID  = 36  // custom_id String(36)
	maxExtra     = 200 // extra_parameters: "max lenght of 200 characters"
	maxURL       = 255 // return_url, notify_url String(255)
	maxRequestNo = 64  // ours: refund_reason has no documented limit
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API's scheme and host, without /v1:
	// https://api.yedpay.com (production) or https://api-staging.yedpay.com.
	// Plain http is accepted only for loopback hosts (the sandbox in tests):
	// the access token must not cross a network in the clear.
	BaseURL string
	// StoreID is the {store_id} of precreate ("Store's ID" in Yedpay's back
	// office).
	StoreID string
	// AccessToken is the Bearer token ("Login Token"). A secret: it is
	// never logged and never part of an error.
	AccessToken string
	// GatewayID selects the wallet; default GatewayAlipay.
	GatewayID GatewayID
	// Currency is the transaction currency; default "HKD".
	Currency string
	// Wallet is the Alipay wallet, "HK" or "CN"; "" sends none (Yedpay's
	// default is HK). Only sent for the Alipay gateways.
	Wallet string
	// NotifyURL and ReturnURL are optional (mandatory for Alipay Online);
	// at most 255 characters; notify_url only on ports 80 and 443.
	NotifyURL, ReturnURL string

	// HTTPClient, if set, is used as is (its Transport, its Timeout).
	HTTPClient *http.Client
	// Transport, if set, replaces the default transport (e.g. for a proxy
	// or a test). Cannot be combined with RootCAs.
	Transport http.RoundTripper
	// RootCAs, if set, is the pool of CAs trusted for the server's
	// certificate (tests use the sandbox's). TLS verification is never
	// turned off.
	RootCAs *x509.CertPool
	// Timeout bounds each call whose context has no deadline; default 15s.
	Timeout time.Duration
	// MaxBodyBytes bounds a response body; default 1 MiB. A larger answer
	// is an Unknown outcome.
	MaxBodyBytes int64
	// Now is the clock for Order.ExpiresAt when an answer gives no
	// expired_at or created_at. Default time.Now.
	Now func() time.Time
}

// Client talks to Yedpay. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	storeID  string
	auth     string // "Bearer <token>": kept out of every message
	gw       GatewayID
	currency string
	wallet   string
	notify   string
	ret      string
	hc       *http.Client
	timeout  time.Duration
	maxBody  int64
	now      func() time.Time
	date     gateway.DateKeeper
}

// LastDate is the Date header of the gateway's latest answer (zero before
// any): a bound for a clock that may be stale after boot.
func (c *Client) LastDate() time.Time { return c.date.LastDate() }

var _ gateway.Gateway = (*Client)(nil)

// New checks cfg and returns a Client. Errors name the field at fault.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("yedpay: BaseURL %q must be an absolute http(s) URL such as https://api.yedpay.com", cfg.BaseURL)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("yedpay: BaseURL %q: plain http is only allowed for loopback hosts; use https", cfg.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("yedpay: BaseURL %q must not have a query or fragment", cfg.BaseURL)
	}
	if cfg.StoreID == "" || !isIDText(cfg.StoreID, 64) {
		return nil, errors.New("yedpay: StoreID must be 1..64 letters, digits, '_' or '-' (the store's ID from Yedpay's back office)")
	}
	if cfg.AccessToken == "" {
		return nil, errors.New("yedpay: AccessToken is empty (the Bearer login token)")
	}
	for _, r := range cfg.AccessToken {
		if r <= ' ' || r >= 0x7f {
			// Don't echo the token: it is a secret even when wrong.
			return nil, errors.New("yedpay: AccessToken contains spaces or non-printable characters (check for a trailing newline in the credentials file)")
		}
	}
	if cfg.GatewayID == 0 {
		cfg.GatewayID = GatewayAlipay
	}
	switch cfg.GatewayID {
	case GatewayAlipay, GatewayWeChatPay, GatewayUnionPayQR:
	case GatewayAlipayOnline:
		if cfg.ReturnURL == "" || cfg.NotifyURL == "" {
			return nil, errors.New("yedpay: GatewayAlipayOnline needs ReturnURL and NotifyURL (mandatory for Alipay Online)")
		}
	default:
		return nil, fmt.Errorf("yedpay: GatewayID %d is not one of 1 (Alipay), 4 (Alipay Online), 8 (WeChat Pay), 10 (UnionPay QR)", cfg.GatewayID)
	}
	if cfg.Currency == "" {
		cfg.Currency = "HKD"
	}
	if len(cfg.Currency) != 3 || strings.ToUpper(cfg.Currency) != cfg.Currency || !isIDText(cfg.Currency, 3) {
		return nil, fmt.Errorf("yedpay: Currency %q must be a 3-letter upper-case code such as HKD", cfg.Currency)
	}
	switch cfg.Wallet {
	case "", "HK", "CN":
	default:
		return nil, fmt.Errorf("yedpay: Wallet %q must be \"\", \"HK\" or \"CN\"", cfg.Wallet)
	}
	if err := checkURL("NotifyURL", cfg.NotifyURL, true); err != nil {
		return nil, err
	}
	if err := checkURL("ReturnURL", cfg.ReturnURL, false); err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 || cfg.MaxBodyBytes < 0 {
		return nil, errors.New("yedpay: Timeout and MaxBodyBytes must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		rt := cfg.Transport
		switch {
		case rt != nil && cfg.RootCAs != nil:
			return nil, errors.New("yedpay: set RootCAs or Transport, not both (put the CA pool into your transport's TLS config)")
		case rt == nil:
			rt = gateway.NewTransport(cfg.RootCAs)
		}
		hc = &http.Client{
			Transport: rt,
			// A redirect would replay a POST as a GET, or carry the token
			// elsewhere: report it instead of following it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Client{
		base: u, storeID: cfg.StoreID, auth: "Bearer " + cfg.AccessToken,
		gw: cfg.GatewayID, currency: cfg.Currency, wallet: cfg.Wallet,
		notify: cfg.NotifyURL, ret: cfg.ReturnURL,
		hc: hc, timeout: cfg.Timeout, maxBody: cfg.MaxBodyBytes, now: now,
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkURL(field, s string, notify bool) error {
	if s == "" {
		return nil
	}
	if utf8.RuneCountInString(s) > maxURL {
		return fmt.Errorf("yedpay: %s is longer than %d characters", field, maxURL)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("yedpay: %s %q must be an absolute http(s) URL", field, s)
	}
	if notify && u.Port() != "" && u.Port() != "80" && u.Port() != "443" {
		return fmt.Errorf("yedpay: %s %q: Yedpay only notifies ports 80 and 443", field, s)
	}
	return nil
}

// isIDText reports whether s is 1..max of [A-Za-z0-9_-], the documented
// alphabet of custom_id.
func isIDText(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func invalid(op, format string, args ...any) error {
	return &gateway.Error{Class: gateway.NotSent, Op: op, Err: fmt.Errorf("%w: "+format, append([]any{gateway.ErrInvalid}, args...)...)}
}

func checkClientSN(op, sn string) error {
	if sn == "" {
		return invalid(op, "client_sn is empty")
	}
	if len(sn) > maxCustomID {
		return invalid(op, "client_sn is %d characters; Yedpay's custom_id takes at most %d", len(sn), maxCustomID)
	}
	if !isIDText(sn, maxCustomID) {
		return invalid(op, "client_sn %q: Yedpay's custom_id accepts only letters, digits, '_' and '-'", sn)
	}
	return nil
}

// Precreate creates a QR-code transaction named by req.ClientSN.
func (c *Client) Precreate(ctx context.Context, req gateway.PrecreateRequest) (gateway.Order, error) {
	const op = "yedpay precreate"
	if err := checkClientSN(op, req.ClientSN); err != nil {
		return gateway.Order{}, err
	}
	if req.AmountCents <= 0 {
		return gateway.Order{}, invalid(op, "amount must be positive, got %d cents", req.AmountCents)
	}
	if req.AmountCents >= 1e15 {
		return gateway.Order{}, invalid(op, "amount %d cents is out of range", req.AmountCents)
	}
	form := url.Values{
		"gateway_id": {fmt.Sprint(int(c.gw))},
		"amount":     {formatDollars(req.AmountCents)},
		"currency":   {c.currency},
		"custom_id":  {req.ClientSN},
	}
	if req.Subject != "" || req.Operator != "" || req.Description != "" {
		b, err := json.Marshal(extra{Subject: req.Subject, Operator: req.Operator, Description: req.Description})
		if err != nil {
			return gateway.Order{}, invalid(op, "extra_parameters: %v", err)
		}
		if n := utf8.RuneCount(b); n > maxExtra {
			return gateway.Order{}, invalid(op, "subject, operator and description make extra_parameters %d characters as JSON; Yedpay takes at most %d", n, maxExtra)
		}
		form.Set("extra_parameters", string(b))
	}
	if c.wallet != "" && (c.gw == GatewayAlipay || c.gw == GatewayAlipayOnline) {
		form.Set("wallet", c.wallet)
	}
	if c.notify != "" {
		form.Set("notify_url", c.notify)
	}
	if c.ret != "" {
		form.Set("return_url", c.ret)
	}
	sent := c.now()
	env, err := c.do(ctx, op, false, http.MethodPost, "/v1/precreate/"+c.storeID, nil, form)
	if err != nil {
		var re *rejectedError
		if errors.As(err, &re) && re.api.customIDTaken() {
			return c.samePrecreate(ctx, op, req, err)
		}
		return gateway.Order{}, err
	}
	t, err := c.txnFrom(op, env)
	if err != nil {
		return gateway.Order{}, err
	}
	if err := c.matches(op, t, req.ClientSN, req.AmountCents); err != nil {
		return gateway.Order{}, err
	}
	if t.Order.ExpiresAt.IsZero() {
		t.Order.ExpiresAt = sent.Add(QRLifetime) // seed 004, line 3
	}
	return t.Order, nil
}

// samePrecreate resolves a precreate refused because its custom_id exists:
// the same order again (a retried request whose first answer was lost) is
// success, anything else is a conflict.
//
// The refusal itself is evidence that an order with this custom_id exists
// at Yedpay. When the lookup by custom_id cannot find it (a gateway that
// finds transactions in the path by its own id only, field-notes.md), the
// refusal is returned: Rejected, wrapping gateway.ErrConflict, never
// ErrOrderNotFound.
func (c *Client) samePrecreate(ctx context.Context, op string, req gateway.PrecreateRequest, refusal error) (gateway.Order, error) {
	t, err := c.fetch(ctx, op, gateway.Ref{ClientSN: req.ClientSN})
	if err != nil {
		if errors.Is(err, gateway.ErrOrderNotFound) {
			// Refused as taken but not found: report the refusal.
			return gateway.Order{}, refusal
		}
		return gateway.Order{}, err
	}
	if t.Order.AmountCents != req.AmountCents || (t.Currency != "" && t.Currency != c.currency) {
		return gateway.Order{}, &gateway.Error{Class: gateway.Rejected, Op: op,
			Message: fmt.Sprintf("client_sn %s already names an order of %s %s", req.ClientSN, formatDollars(t.Order.AmountCents), t.Currency),
			Err:     gateway.ErrConflict}
	}
	return t.Order, nil
}

// Query returns the transaction ref names: by Yedpay's own id once known
// (ref.SN), by custom_id (ref.ClientSN) only before any answer gave the id.
// A not-found wraps gateway.ErrOrderNotFound and says which key was used.
func (c *Client) Query(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	const op = "yedpay query"
	if err := checkRef(op, ref); err != nil {
		return gateway.Order{}, err
	}
	t, err := c.fetch(ctx, op, ref)
	if err != nil {
		return gateway.Order{}, err
	}
	return t.Order, nil
}

func checkRef(op string, ref gateway.Ref) error {
	if err := checkClientSN(op, ref.ClientSN); err != nil {
		return err
	}
	if ref.SN != "" && !isIDText(ref.SN, 128) {
		return invalid(op, "Yedpay id %q: only letters, digits, '_' and '-' fit in a path", clip(ref.SN, 40))
	}
	return nil
}

// fetch looks a transaction up. With Yedpay's id: GET /v1/transactions/{id}
// ("Show Transaction", the path takes the transaction's id). Without it:
// GET /v1/transactions/{custom_id}?query=custom_id, the query field in the
// URL since a GET body is dropped by many servers and proxies
// (field-notes.md, Yedpay); some gateways still answer 404 to it.
func (c *Client) fetch(ctx context.Context, op string, ref gateway.Ref) (*txn, error) {
	path, q, key := "/v1/transactions/"+ref.SN, url.Values(nil), "Yedpay id "+ref.SN
	if ref.SN == "" {
		path, q, key = "/v1/transactions/"+ref.ClientSN, url.Values{"query": {"custom_id"}}, "custom_id "+ref.ClientSN
	}
	env, err := c.do(ctx, op, true, http.MethodGet, path, q, nil)
	if err != nil {
		var ge *gateway.Error
		if errors.Is(err, gateway.ErrOrderNotFound) && errors.As(err, &ge) {
			ge.Message = strings.TrimSpace(ge.Message + " (looked up by " + key + ")")
		}
		return nil, err
	}
	t, err := c.txnFrom(op, env)
	if err != nil {
		return nil, err
	}
	if t.Order.ClientSN != ref.ClientSN || (ref.SN != "" && t.Order.SN != ref.SN) {
		return nil, &gateway.Error{Class: gateway.Unknown, Op: op,
			Err: fmt.Errorf("asked for %s (custom_id %q), the answer is about %q (custom_id %q)", key, ref.ClientSN, clip(t.Order.SN, 40), clip(t.Order.ClientSN, 40))}
	}
	return t, nil
}

// Cancel closes the order if it is still waiting for the payer, by Yedpay's
// id (PUT /v1/transactions/{id}/close, "Close Transaction"). It returns the
// order's state after the attempt: CANCELED when the close took effect;
// the order as it is (PAID, say) when it was already final, including when
// a payment won the race against the close. When the order is still open
// after a refused close, or the close path is not there (404 for a
// transaction just found by the same id), the error is Rejected wrapping
// gateway.ErrCancelUnsupported: the QR stays payable until it expires.
func (c *Client) Cancel(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	const op = "yedpay cancel"
	if err := checkRef(op, ref); err != nil {
		return gateway.Order{}, err
	}
	t, err := c.fetch(ctx, op, ref)
	if err != nil {
		return gateway.Order{}, err
	}
	ref.SN = t.Order.SN
	if t.Order.Status != gateway.StatusCreated {
		return t.Order, nil
	}
	if err := usableID(op, t.Order.SN); err != nil {
		return gateway.Order{}, err
	}
	_, cerr := c.do(ctx, op, true, http.MethodPut, "/v1/transactions/"+t.Order.SN+"/close",
		nil, url.Values{"remark": {"posagent: payment deadline passed"}})
	if cerr != nil && gateway.ClassOf(cerr) != gateway.Rejected {
		return gateway.Order{}, cerr
	}
	after, ferr := c.fetch(ctx, op, ref)
	if cerr == nil {
		if ferr != nil || after.Order.Status == gateway.StatusCreated {
			// Yedpay said the close succeeded; a closed order cannot be
			// paid any more, whatever a lagging read shows.
			o := t.Order
			o.Status = gateway.StatusCanceled
			return o, nil
		}
		return after.Order, nil
	}
	if ferr == nil && after.Order.Status != gateway.StatusCreated {
		return after.Order, nil // lost the race: the payment (or expiry) came first
	}
	if ferr == nil {
		// Refused, and the order is still open: the close does not
		// exist here or is refused for good. A 404 is about the path,
		// not the transaction, which was just found by the same id.
		var ge *gateway.Error
		if errors.As(cerr, &ge) {
			e := *ge
			e.Err = gateway.ErrCancelUnsupported
			e.Message = strings.TrimSpace(e.Message + " (transaction " + ref.SN + " still open after the close was refused)")
			return gateway.Order{}, &e
		}
	}
	return gateway.Order{}, cerr
}

// RefundIdempotent reports whether a refund can be repeated safely by
// resending it. For Yedpay it cannot: the public library's refund takes
// only refund_reason and amount, no idempotency key (yedpay/php-library
// src/Client.php, refund() and setRefundParameters()). Refund itself
// queries first and does not resend a refund whose reason is already
// listed, but a caller must not resend blind after an unknown outcome: it
// queries first (Query) and resends only if the refund is not there.
func (c *Client) RefundIdempotent() bool { return false }

// Refund refunds req.AmountCents of a paid order. req.RequestNo makes it
// idempotent: it becomes the refund_reason "posagent:<RequestNo>", and a
// refund whose remark is already listed in the order's refund_details is
// not sent again (see the package documentation).
func (c *Client) Refund(ctx context.Context, req gateway.RefundRequest) (gateway.Order, error) {
	const op = "yedpay refund"
	if err := checkClientSN(op, req.ClientSN); err != nil {
		return gateway.Order{}, err
	}
	if req.RequestNo == "" || len(req.RequestNo) > maxRequestNo || !isRequestNo(req.RequestNo) {
		return gateway.Order{}, invalid(op, "request_no %q must be 1..%d letters, digits, '_', '-', '.' or ':'", clip(req.RequestNo, 80), maxRequestNo)
	}
	if req.AmountCents <= 0 {
		return gateway.Order{}, invalid(op, "refund amount must be positive, got %d cents", req.AmountCents)
	}
	reason := refundReason(req.RequestNo)
	ref := gateway.Ref{ClientSN: req.ClientSN, SN: req.SN}
	if err := checkRef(op, ref); err != nil {
		return gateway.Order{}, err
	}
	t, err := c.fetch(ctx, op, ref)
	if err != nil {
		return gateway.Order{}, err
	}
	for _, r := range t.RefundRemarks {
		if r == reason {
			return t.Order, nil // this refund was made before
		}
	}
	if !t.Order.Status.Paid() {
		return gateway.Order{}, invalid(op, "order %s is %s; only a paid order can be refunded", req.ClientSN, t.Order.Status)
	}
	if req.AmountCents > t.Order.NetAmountCents {
		return gateway.Order{}, invalid(op, "refund of %s exceeds the %s left on order %s",
			formatDollars(req.AmountCents), formatDollars(t.Order.NetAmountCents), req.ClientSN)
	}
	if err := usableID(op, t.Order.SN); err != nil {
		return gateway.Order{}, err
	}
	form := url.Values{"refund_reason": {reason}, "amount": {formatDollars(req.AmountCents)}}
	env, err := c.do(ctx, op, true, http.MethodPost, "/v1/transactions/"+t.Order.SN+"/refund", nil, form)
	if err != nil {
		return gateway.Order{}, err
	}
	rt, err := c.txnFrom(op, env)
	if err != nil {
		return gateway.Order{}, err
	}
	if rt.Order.SN != t.Order.SN {
		return gateway.Order{}, &gateway.Error{Class: gateway.Unknown, Op: op,
			Err: fmt.Errorf("refunded transaction %q, the answer is about %q", t.Order.SN, clip(rt.Order.SN, 40))}
	}
	if rt.Order.ClientSN == "" {
		rt.Order.ClientSN = req.ClientSN
	}
	return rt.Order, nil
}

// usableID checks Yedpay's transaction id before it goes into a path.
func usableID(op, id string) error {
	if !isIDText(id, 128) {
		return &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("%w: transaction id %q is not usable in a URL", errMalformed, clip(id, 40))}
	}
	return nil
}

func refundReason(requestNo string) string { return "posagent:" + requestNo }

func isRequestNo(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func (c *Client) txnFrom(op string, env *envelope) (*txn, error) {
	t, err := parseTxn(env.Data)
	if err != nil {
		return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: err}
	}
	return t, nil
}

// matches checks that a precreate's answer is about the order asked for.
func (c *Client) matches(op string, t *txn, clientSN string, amount int64) error {
	if t.Order.ClientSN != clientSN || t.Order.AmountCents != amount {
		return &gateway.Error{Class: gateway.Unknown, Op: op,
			Err: fmt.Errorf("asked for %s of %s, the answer is about %q of %s",
				clientSN, formatDollars(amount), clip(t.Order.ClientSN, 40), formatDollars(t.Order.AmountCents))}
	}
	return nil
}

// do sends one request and classifies the outcome. txnPath says that a 404
// means "no such transaction".
func (c *Client) do(ctx context.Context, op string, txnPath bool, method, path string, query, form url.Values) (*envelope, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	// wrote turns true as soon as the request's headers are on their way:
	// from then on a failure may have reached Yedpay.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	})
	// Every path segment is checked to be [A-Za-z0-9_-] before it gets
	// here (store id, custom_id, Yedpay's id), so nothing needs escaping.
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, &gateway.Error{Class: gateway.NotSent, Op: op, Err: fmt.Errorf("%w: %v", gateway.ErrInvalid, err)}
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "posagent-yedpay/1")
	resp, err := c.hc.Do(req)
	if resp != nil {
		c.date.Note(resp.Header)
	}
	if err != nil {
		class := gateway.Unknown
		if !wrote.Load() {
			class = gateway.NotSent
		}
		return nil, &gateway.Error{Class: class, Op: op, Err: c.scrub(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("HTTP %d, reading body: %w", resp.StatusCode, c.scrub(err))}
	}
	if int64(len(b)) > c.maxBody {
		return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("HTTP %d: response larger than %d bytes", resp.StatusCode, c.maxBody)}
	}
	return classify(op, txnPath, resp.StatusCode, b)
}

// scrub keeps the error's meaning and drops what does not belong in a
// log. net/http's errors hold the method, the URL (no secret in it) and the
// cause; the Authorization header is never part of them, but a custom
// Transport might say anything, so the token is also cut out of its text.
func (c *Client) scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer before the deadline: %w", context.DeadlineExceeded)
	}
	if tok := strings.TrimPrefix(c.auth, "Bearer "); strings.Contains(err.Error(), tok) {
		return errors.New(strings.ReplaceAll(err.Error(), tok, "[access token]"))
	}
	return err
}
