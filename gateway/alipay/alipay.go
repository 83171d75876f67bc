// Package alipay is a client for Alipay face-to-face QR payment (当面付,
// "scan to pay") on the open platform gateway: alipay.trade.precreate to
// get the QR code, alipay.trade.query to follow it, alipay.trade.close to
// give up on it and alipay.trade.refund to give money back. *Client
// implements posagent/gateway.Gateway; the sandbox in ./sandbox speaks the
// same protocol for tests.
//
// Wire format (seed 002 and the open platform docs): one form-encoded POST
// to the gateway URL, charset utf-8, with the common parameters (app_id,
// method, charset, sign_type, timestamp, version, sign) and the business
// parameters as a JSON object in biz_content. Amounts are yuan with two
// decimals on the wire and int64 cents in Go. timestamp is Beijing time.
//
// Signatures (field-notes.md): a request is signed over its sorted,
// non-URL-encoded key=value string with the app's private key, RSA2
// (SHA256withRSA) or RSA (SHA1withRSA), PKCS#1 v1.5. An answer is verified
// over the raw bytes of its *_response member with Alipay's public key; an
// answer that does not verify is outcome unknown, never success and never
// failure.
//
// Choices the engine must know about:
//
//   - A precreated trade does not exist at Alipay until the payer scans the
//     code. Until then Query answers ACQ.TRADE_NOT_EXIST, which this
//     stateless client reports as a Rejected error wrapping
//     gateway.ErrOrderNotFound. After a successful Precreate the engine
//     must read that as "not scanned yet" and keep waiting.
//   - Cancel uses alipay.trade.close, not alipay.trade.cancel: close only
//     closes an unpaid trade and fails on a paid one, so a cancel that
//     races a payment leaves the order PAID (Cancel then queries and
//     returns the PAID order). alipay.trade.cancel would refund the payer.
//   - Close of a trade nobody scanned answers ACQ.TRADE_NOT_EXIST, yet
//     Alipay locks the code ("本笔交易已关闭" when scanned later). Cancel
//     reports that as CANCELED. A later Query still says not found: after
//     a successful Cancel, not found means CANCELED.
//   - Precreate sends timeout_express: the request's PayWindow (the
//     terminal's payment window) in whole minutes, rounded up, else
//     Config.OrderTimeout (default 5m), so Alipay closes the trade by itself
//     when the QR leaves the screen, not before (seed 002, lines 58-61:
//     "1m" to "15d", "The value of the number must be integer. We can set
//     the value to 90m instead of 1.5 hour"). Order.ExpiresAt says when.
//   - Each parameter is sent once, laid out as the official Java SDK does
//     (alipay/alipay-sdk-java-all v2/src/main/java/com/alipay/api/
//     AbstractAlipayClient.java: getRequestHolderWithSign puts method,
//     version, app_id, sign_type, charset, timestamp, sign and format in the
//     protocol parameters, getRequestUrl writes those into the URL's query
//     string, and doPost sends the application parameters, biz_content and
//     app_auth_token, as the form body). A gateway that sees a parameter
//     twice may refuse the call (issue 13: charset in both places got
//     40002 isv.invalid-parameter).
//   - Refusals that arrive without a signature (field-notes.md: e.g.
//     isv.invalid-app-id; the Java SDK checks the sign of a failed answer
//     only when there is one, AbstractAlipayClient.checkResponseSign) are
//     read per call. A gateway-level refusal (40001, 40002, 40006, 20001) of
//     precreate or query ran nothing: Rejected, wrapping gateway.ErrConfig
//     when the configuration is at fault, with the setting named. The same
//     refusal of close (isv.invalid-method: no alipay.trade.close at this
//     gateway, or no permission for it) is Rejected wrapping
//     gateway.ErrCancelUnsupported. Everything else unsigned, and any
//     unsigned answer to refund, stays Unknown: it could hide a change.
//   - Query, close and refund name the trade by trade_no once the engine
//     has it (gateway.Ref.SN, from an earlier query), else by out_trade_no.
//   - alipay.trade.query carries no refund total. Refund learns the total
//     refunded from refund_fee and the order total from a follow-up Query.
package alipay

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"posagent/gateway"
)

// Methods (API names).
const (
	MethodPrecreate = "alipay.trade.precreate"
	MethodQuery     = "alipay.trade.query"
	MethodClose     = "alipay.trade.close"
	MethodRefund    = "alipay.trade.refund"
)

// Channel is the Order.Channel this gateway reports.
const Channel = "支付宝"

// ProductionURL is the open platform gateway.
const ProductionURL = "https://openapi.alipay.com/gateway.do"

// Field limits, from seed 002 and the query/close/refund pages.
const (
	maxAppID        = 32
	maxOutTradeNo   = 64
	maxSubject      = 256
	maxBody         = 128
	maxOperatorID   = 28 // 28 for precreate, 30 for refund: send what both allow
	maxStoreID      = 32
	maxTerminalID   = 32
	maxSellerID     = 28
	maxAppAuthToken = 40
	maxOutRequestNo = 64
	maxTimeoutMin   = 15 * 24 * 60 // 15d
)

// Config configures a Client.
type Config struct {
	// BaseURL is the full gateway URL. Default ProductionURL.
	BaseURL string
	// AppID is the app id Alipay assigned (String(32)).
	AppID string
	// SignType is SignRSA2 (default) or SignRSA.
	SignType string
	// AppPrivateKey signs requests. If nil, it is loaded from
	// AppPrivateKeyFile (PKCS#1 or PKCS#8 PEM, mode 0600).
	AppPrivateKey     *rsa.PrivateKey
	AppPrivateKeyFile string
	// AlipayPublicKey verifies answers: Alipay's key ("支付宝公钥"), not
	// the app's own public key. If nil, it is loaded from
	// AlipayPublicKeyFile (PKIX or PKCS#1 PEM).
	AlipayPublicKey     *rsa.PublicKey
	AlipayPublicKeyFile string
	// AppAuthToken is sent when an ISV calls on a merchant's behalf.
	AppAuthToken string
	// SellerID, StoreID and TerminalID are optional precreate fields.
	SellerID, StoreID, TerminalID string
	// OrderTimeout becomes timeout_express, rounded up to whole minutes
	// (1m..15d). Default 5 minutes. Keep it at or above the engine's
	// payment deadline.
	OrderTimeout time.Duration

	// HTTPClient, if set, is used as is. Otherwise a client is built from
	// Transport (or a clone of http.DefaultTransport) and RootCAs.
	HTTPClient *http.Client
	Transport  http.RoundTripper
	// RootCAs replaces the system roots, for tests against a local TLS
	// sandbox. Verification itself is never turned off.
	RootCAs *x509.CertPool
	// Timeout bounds a call whose context has no deadline. Default 15s.
	Timeout time.Duration
	// MaxBodyBytes bounds a response body. Default 1 MiB.
	MaxBodyBytes int64
	// Now is the clock for the timestamp parameter. Default time.Now.
	Now func() time.Time
}

// String describes the configuration without its secrets.
func (cfg Config) String() string {
	return fmt.Sprintf("alipay.Config{BaseURL: %q, AppID: %q, SignType: %q, AppPrivateKeyFile: %q, AlipayPublicKeyFile: %q, AppAuthToken: <hidden>}",
		cfg.BaseURL, cfg.AppID, cfg.SignType, cfg.AppPrivateKeyFile, cfg.AlipayPublicKeyFile)
}

// GoString is String, so %#v does not print the private key either.
func (cfg Config) GoString() string { return cfg.String() }

// Client talks to one Alipay gateway. It is safe for concurrent use.
type Client struct {
	url      string
	base     *url.URL
	appID    string
	signType string
	key      *rsa.PrivateKey
	aliKey   *rsa.PublicKey
	token    string
	seller   string
	store    string
	terminal string
	timeout  time.Duration // default timeout_express
	hc       *http.Client
	callTime time.Duration
	maxBody  int64
	now      func() time.Time
	date     gateway.DateKeeper
}

// LastDate is the Date header of the gateway's latest answer (zero before
// any): a bound for a clock that may be stale after boot (the timestamp
// parameter must be within minutes of Alipay's clock).
func (c *Client) LastDate() time.Time { return c.date.LastDate() }

var _ gateway.Gateway = (*Client)(nil)

// New checks cfg, loads the keys and returns a Client.
func New(cfg Config) (*Client, error) {
	c := &Client{
		url:      cfg.BaseURL,
		appID:    cfg.AppID,
		signType: cfg.SignType,
		key:      cfg.AppPrivateKey,
		aliKey:   cfg.AlipayPublicKey,
		token:    cfg.AppAuthToken,
		seller:   cfg.SellerID,
		store:    cfg.StoreID,
		terminal: cfg.TerminalID,
		callTime: cfg.Timeout,
		maxBody:  cfg.MaxBodyBytes,
		now:      cfg.Now,
	}
	if c.url == "" {
		c.url = ProductionURL
	}
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("alipay: BaseURL %q is not an http(s) URL such as %s", c.url, ProductionURL)
	}
	c.base = u
	if c.signType == "" {
		c.signType = SignRSA2
	}
	if _, err := hashFor(c.signType); err != nil {
		return nil, err
	}
	if err := checkField("AppID", c.appID, maxAppID, true); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"AppAuthToken", c.token, maxAppAuthToken}, {"SellerID", c.seller, maxSellerID}, {"StoreID", c.store, maxStoreID}, {"TerminalID", c.terminal, maxTerminalID}} {
		if err := checkField(f.name, f.v, f.max, false); err != nil {
			return nil, err
		}
	}
	if c.key == nil && cfg.AppPrivateKeyFile != "" {
		if c.key, err = LoadAppPrivateKey(cfg.AppPrivateKeyFile); err != nil {
			return nil, err
		}
	}
	if c.aliKey == nil && cfg.AlipayPublicKeyFile != "" {
		if c.aliKey, err = LoadAlipayPublicKey(cfg.AlipayPublicKeyFile); err != nil {
			return nil, err
		}
	}
	if err := checkKeys(c.signType, c.key, c.aliKey); err != nil {
		return nil, err
	}
	ot := cfg.OrderTimeout
	if ot == 0 {
		ot = 5 * time.Minute
	}
	if _, err := timeoutExpress(ot); err != nil {
		return nil, fmt.Errorf("alipay: OrderTimeout %v is outside 1m..15d (timeout_express)", ot)
	}
	c.timeout = ot
	if c.callTime <= 0 {
		c.callTime = 15 * time.Second
	}
	if c.maxBody <= 0 {
		c.maxBody = 1 << 20
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.hc = cfg.HTTPClient
	if c.hc == nil {
		rt := cfg.Transport
		if rt == nil {
			rt = gateway.NewTransport(cfg.RootCAs)
		}
		c.hc = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error {
			// A redirected POST would be resent as GET: never follow.
			return http.ErrUseLastResponse
		}}
	}
	return c, nil
}

// checkField validates a documented String(max) field.
func checkField(name, v string, max int, required bool) error {
	if v == "" {
		if required {
			return fmt.Errorf("alipay: %s is required", name)
		}
		return nil
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("alipay: %s is not valid UTF-8", name)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Errorf("alipay: %s is %d characters, the limit is %d", name, n, max)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("alipay: %s contains a control character", name)
		}
	}
	return nil
}

// checkOutTradeNo validates a client_sn: the close page allows letters,
// digits and underscores only, up to 64.
func checkOutTradeNo(name, v string) error {
	if v == "" {
		return fmt.Errorf("alipay: %s is required", name)
	}
	if len(v) > maxOutTradeNo {
		return fmt.Errorf("alipay: %s is %d characters, the limit is %d", name, len(v), maxOutTradeNo)
	}
	for i := 0; i < len(v); i++ {
		b := v[i]
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_') {
			return fmt.Errorf("alipay: %s %q may hold only letters, digits and '_'", name, v)
		}
	}
	return nil
}

func checkAmount(name string, cents int64) error {
	if cents <= 0 || cents > MaxAmountCents {
		return fmt.Errorf("alipay: %s must be within 0.01..%s yuan, got %d cents", name, FormatYuan(MaxAmountCents), cents)
	}
	return nil
}

// timeoutExpress writes d as timeout_express: whole minutes, rounded up,
// within 1m..15d (seed 002, lines 58-61).
func timeoutExpress(d time.Duration) (string, error) {
	mins := int64((d + time.Minute - 1) / time.Minute)
	if d <= 0 || mins > maxTimeoutMin {
		return "", fmt.Errorf("%v is outside 1m..15d", d)
	}
	return fmt.Sprintf("%dm", mins), nil
}

func invalid(op string, err error) *gateway.Error {
	return &gateway.Error{Class: gateway.NotSent, Op: op, Err: fmt.Errorf("%w: %v", gateway.ErrInvalid, err)}
}

// Precreate creates the trade and returns its QR code. The trade is not
// visible to Query until the payer scans the code.
func (c *Client) Precreate(ctx context.Context, req gateway.PrecreateRequest) (gateway.Order, error) {
	const op = "precreate"
	if err := checkOutTradeNo("client_sn (out_trade_no)", req.ClientSN); err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	if err := checkAmount("amount (total_amount)", req.AmountCents); err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	if err := checkField("subject", req.Subject, maxSubject, true); err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	if err := checkField("description (body)", req.Description, maxBody, false); err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	if err := checkField("operator (operator_id)", req.Operator, maxOperatorID, false); err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	window := req.PayWindow
	if window == 0 {
		window = c.timeout
	}
	te, err := timeoutExpress(window)
	if err != nil {
		return gateway.Order{}, invalid(op, fmt.Errorf("pay window (timeout_express): %v", err))
	}
	biz := map[string]string{
		"out_trade_no":    req.ClientSN,
		"total_amount":    FormatYuan(req.AmountCents),
		"subject":         req.Subject,
		"body":            req.Description,
		"operator_id":     req.Operator,
		"seller_id":       c.seller,
		"store_id":        c.store,
		"terminal_id":     c.terminal,
		"timeout_express": te,
	}
	sent := c.now()
	var r precreateReply
	cm, err := c.call(ctx, op, MethodPrecreate, biz, &r)
	if err != nil {
		return gateway.Order{}, refusedUnsigned(op, err, configRefusal)
	}
	if cm.Code != codeSuccess {
		e := classify(op, cm)
		if cm.SubCode == "ACQ.TRADE_HAS_SUCCESS" || cm.SubCode == "ACQ.TRADE_HAS_CLOSE" {
			// The client_sn is taken by a trade that is already final.
			e.Err = gateway.ErrConflict
		}
		return gateway.Order{}, e
	}
	if r.OutTradeNo != req.ClientSN {
		return gateway.Order{}, unknown(op, "", fmt.Errorf("alipay: answer is about out_trade_no %q, asked about %q", r.OutTradeNo, req.ClientSN))
	}
	if r.QRCode == "" {
		return gateway.Order{}, unknown(op, "", errors.New("alipay: success answer without qr_code"))
	}
	mins, _ := strconv.Atoi(strings.TrimSuffix(te, "m"))
	return gateway.Order{
		ClientSN:       req.ClientSN,
		Status:         gateway.StatusCreated,
		AmountCents:    req.AmountCents,
		NetAmountCents: req.AmountCents,
		QRCode:         r.QRCode,
		Subject:        req.Subject,
		Channel:        Channel,
		// Alipay closes the trade timeout_express after it was created;
		// from before the request left, the terminal never waits less.
		ExpiresAt: sent.Add(time.Duration(mins) * time.Minute),
	}, nil
}

// Query asks alipay.trade.query about the trade. Until the payer scans the
// code the answer is a Rejected error wrapping gateway.ErrOrderNotFound.
func (c *Client) Query(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	return c.query(ctx, "query", ref)
}

// tradeRef names the trade: trade_no once known (it wins at Alipay when
// both are sent), out_trade_no otherwise.
func tradeRef(ref gateway.Ref) (map[string]string, error) {
	if err := checkOutTradeNo("client_sn (out_trade_no)", ref.ClientSN); err != nil {
		return nil, err
	}
	if ref.SN != "" {
		if err := checkField("sn (trade_no)", ref.SN, maxOutTradeNo, false); err != nil {
			return nil, err
		}
		return map[string]string{"trade_no": ref.SN, "out_trade_no": ref.ClientSN}, nil
	}
	return map[string]string{"out_trade_no": ref.ClientSN}, nil
}

func (c *Client) query(ctx context.Context, op string, ref gateway.Ref) (gateway.Order, error) {
	biz, err := tradeRef(ref)
	if err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	var r queryReply
	cm, err := c.call(ctx, op, MethodQuery, biz, &r)
	if err != nil {
		return gateway.Order{}, refusedUnsigned(op, err, configRefusal)
	}
	if cm.Code != codeSuccess {
		e := classify(op, cm)
		if errors.Is(e, gateway.ErrOrderNotFound) {
			if ref.SN != "" {
				e.Message += " (asked by trade_no " + ref.SN + ")"
			} else {
				e.Message += " (asked by out_trade_no " + ref.ClientSN + ")"
			}
		}
		return gateway.Order{}, e
	}
	return parseQueryReply(op, ref.ClientSN, r)
}

// Cancel closes an unpaid trade with alipay.trade.close. If the trade was
// paid meanwhile, close fails and Cancel returns the PAID order from a
// Query instead (never a refund). A trade nobody scanned is reported
// CANCELED: Alipay answers ACQ.TRADE_NOT_EXIST but locks the code.
//
// A close that this gateway does not have or refuses for good
// (isv.invalid-method, no permission), or a refusal after which the trade
// is still open, is Rejected wrapping gateway.ErrCancelUnsupported: the
// trade stays payable until timeout_express.
func (c *Client) Cancel(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	clientSN := ref.ClientSN
	const op = "cancel"
	biz, err := tradeRef(ref)
	if err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	var r closeReply
	cm, err := c.call(ctx, op, MethodClose, biz, &r)
	if err != nil {
		return gateway.Order{}, refusedUnsigned(op, err, closeRefusal)
	}
	if e := closeRefusal(op, cm); e != nil {
		return gateway.Order{}, e
	}
	switch {
	case cm.Code == codeSuccess:
		if r.OutTradeNo != "" && r.OutTradeNo != clientSN {
			return gateway.Order{}, unknown(op, "", fmt.Errorf("alipay: answer is about out_trade_no %q, asked about %q", r.OutTradeNo, clientSN))
		}
		return gateway.Order{ClientSN: clientSN, SN: r.TradeNo, Status: gateway.StatusCanceled, Channel: Channel}, nil
	case cm.SubCode == "ACQ.TRADE_NOT_EXIST":
		return gateway.Order{ClientSN: clientSN, Status: gateway.StatusCanceled, Channel: Channel}, nil
	}
	e := classify(op, cm)
	if e.Class != gateway.Rejected || e.Err != nil {
		return gateway.Order{}, e
	}
	// Refused (ACQ.TRADE_STATUS_ERROR and the like): lost the race
	// against the payer, closed already, or a close this gateway will not
	// do. The trade's own state is the answer.
	o, qerr := c.query(ctx, op, ref)
	switch {
	case qerr == nil && o.Status.Final():
		return o, nil
	case qerr == nil, errors.Is(qerr, gateway.ErrOrderNotFound):
		// Still open (or not scanned yet, and so still payable).
		e.Err = gateway.ErrCancelUnsupported
		e.Message = strings.TrimSpace(e.Message + " (the trade is still open after the close was refused)")
	}
	return gateway.Order{}, e
}

// configRefusal reads a gateway-level refusal (40001, 40002, 40006, 20001)
// of a call that changes nothing when refused before processing
// (precreate, query): Rejected, wrapping gateway.ErrConfig when a setting
// is at fault. Other codes: nil.
func configRefusal(op string, cm common) *gateway.Error {
	switch cm.Code {
	case codeMissingArg, codeInvalidArg, codeNoPerm, codeAuthToken:
	default:
		return nil
	}
	e := classify(op, cm)
	e.Class = gateway.Rejected
	return e
}

// closeRefusal reads a permanent refusal of alipay.trade.close: the method
// does not exist at this gateway or this app may not call it.
func closeRefusal(op string, cm common) *gateway.Error {
	if cm.SubCode != "isv.invalid-method" && cm.Code != codeNoPerm && cm.SubCode != "isv.insufficient-isv-permissions" {
		return nil
	}
	e := classify(op, cm)
	e.Class = gateway.Rejected
	e.Err = gateway.ErrCancelUnsupported
	e.Message = strings.TrimSpace(e.Message + " (alipay.trade.close is not available to this app; the trade stays payable until timeout_express)")
	return e
}

// refusedUnsigned turns the Unknown error of an unsigned refusal into what
// read says for this call, if it says anything.
func refusedUnsigned(op string, err error, read func(string, common) *gateway.Error) error {
	var ur *unsignedRefusal
	if !errors.As(err, &ur) {
		return err
	}
	if e := read(op, ur.c); e != nil {
		e.Message = strings.TrimSpace(e.Message + " (unsigned answer)")
		return e
	}
	return err
}

// Refund refunds part or all of a paid trade. req.RequestNo becomes
// out_request_no, so repeating a request refunds once. The returned order
// carries the trade's total and what is left after all refunds so far.
func (c *Client) Refund(ctx context.Context, req gateway.RefundRequest) (gateway.Order, error) {
	const op = "refund"
	ref := gateway.Ref{ClientSN: req.ClientSN, SN: req.SN}
	biz, err := tradeRef(ref)
	if err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	// out_request_no is the refund's idempotency key: the caller keeps
	// RequestNo while the outcome is unknown, and Alipay refunds once.
	if err := checkOutTradeNo("request_no (out_request_no)", req.RequestNo); err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	if err := checkAmount("amount (refund_amount)", req.AmountCents); err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	if err := checkField("operator (operator_id)", req.Operator, maxOperatorID, false); err != nil {
		return gateway.Order{}, invalid(op, err)
	}
	biz["refund_amount"] = FormatYuan(req.AmountCents)
	biz["out_request_no"] = req.RequestNo
	biz["operator_id"] = req.Operator
	biz["store_id"] = c.store
	biz["terminal_id"] = c.terminal
	var r refundReply
	cm, err := c.call(ctx, op, MethodRefund, biz, &r)
	if err != nil {
		return gateway.Order{}, err
	}
	if cm.Code != codeSuccess {
		return gateway.Order{}, classify(op, cm)
	}
	if r.OutTradeNo != req.ClientSN {
		return gateway.Order{}, unknown(op, "", fmt.Errorf("alipay: answer is about out_trade_no %q, asked about %q", r.OutTradeNo, req.ClientSN))
	}
	refunded, err := ParseYuan(r.RefundFee)
	if err != nil {
		return gateway.Order{}, unknown(op, "", fmt.Errorf("alipay: refund_fee: %v", err))
	}
	// The refund is done; the trade total comes from a query. If that
	// fails, the error says so and repeating Refund with the same
	// RequestNo is safe (fund_change "N").
	o, err := c.query(ctx, op, ref)
	if err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) {
			ge.Class = gateway.Unknown
			ge.Message = strings.TrimSpace("refund accepted (refunded " + FormatYuan(refunded) + " in total), follow-up query failed " + ge.Message)
		}
		return gateway.Order{}, err
	}
	if refunded > o.AmountCents {
		return gateway.Order{}, unknown(op, "", fmt.Errorf("alipay: refund_fee %s exceeds total_amount %s", r.RefundFee, FormatYuan(o.AmountCents)))
	}
	o.NetAmountCents = o.AmountCents - refunded
	switch {
	case o.NetAmountCents == 0:
		o.Status = gateway.StatusRefunded
	case refunded > 0:
		o.Status = gateway.StatusPartialRefunded
	}
	if o.TradeNo == "" {
		o.TradeNo = r.TradeNo
	}
	if t, err := time.ParseInLocation(timeLayout, r.GmtRefundPay, beijing); err == nil {
		o.FinishedAt = t
	}
	return o, nil
}

// RefundIdempotent reports that a refund may be resent as it is:
// out_request_no (the request's RequestNo) makes a repeated refund a no-op
// at Alipay (fund_change "N"; a repeat with another amount is
// ACQ.DISCORDANT_REPEAT_REQUEST).
func (c *Client) RefundIdempotent() bool { return true }

// call signs and sends one request and opens the answer. A nil error
// means the answer verified; its code may still say no.
func (c *Client) call(ctx context.Context, op, method string, biz map[string]string, v any) (common, error) {
	for k, val := range biz {
		if val == "" {
			delete(biz, k)
		}
	}
	bizJSON, err := json.Marshal(biz)
	if err != nil {
		return common{}, invalid(op, err)
	}
	// Protocol parameters go in the URL, application parameters in the
	// body, each once (the Java SDK's layout; see the package doc). All of
	// them are signed.
	protocol := map[string]string{
		"app_id":    c.appID,
		"method":    method,
		"format":    "JSON",
		"charset":   "utf-8",
		"sign_type": c.signType,
		"timestamp": c.now().In(beijing).Format(timeLayout),
		"version":   "1.0",
	}
	application := map[string]string{
		"biz_content":    string(bizJSON),
		"app_auth_token": c.token,
	}
	all := map[string]string{}
	for k, v := range protocol {
		all[k] = v
	}
	for k, v := range application {
		all[k] = v
	}
	sign, err := Sign(c.signType, c.key, []byte(SignContent(all)))
	if err != nil {
		return common{}, &gateway.Error{Class: gateway.NotSent, Op: op, Err: err}
	}
	query := url.Values{}
	for k, val := range protocol {
		query.Set(k, val)
	}
	query.Set("sign", sign)
	u := *c.base
	u.RawQuery = query.Encode()
	form := url.Values{}
	for k, val := range application {
		if val != "" {
			form.Set(k, val)
		}
	}

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.callTime)
		defer cancel()
	}
	// wrote tells "nothing left the terminal" (NotSent: the same call may
	// be repeated) from "the request may have reached Alipay" (Unknown).
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return common{}, &gateway.Error{Class: gateway.NotSent, Op: op, Err: fmt.Errorf("alipay: %v", err)}
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	hreq.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(hreq)
	if resp != nil {
		c.date.Note(resp.Header)
	}
	if err != nil {
		if !wrote.Load() {
			return common{}, &gateway.Error{Class: gateway.NotSent, Op: op, Err: fmt.Errorf("alipay: request not sent: %w%s", err, hint(err))}
		}
		return common{}, unknown(op, "", fmt.Errorf("alipay: request sent, no answer: %w", err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return common{}, unknown(op, "", fmt.Errorf("alipay: reading the answer: %w", err))
	}
	if int64(len(body)) > c.maxBody {
		return common{}, unknown(op, "", fmt.Errorf("alipay: answer is larger than %d bytes", c.maxBody))
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 300 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout {
			// The gateway (or a proxy or captive portal in front of it)
			// refused or redirected the request itself; no API ran.
			// Usually a wrong BaseURL. Redirects are never followed: a
			// POST would be replayed as a GET.
			return common{}, &gateway.Error{Class: gateway.Rejected, Op: op, Code: fmt.Sprintf("HTTP %d", resp.StatusCode), Message: "check BaseURL (" + c.url + ")"}
		}
		return common{}, unknown(op, fmt.Sprintf("HTTP %d", resp.StatusCode), errors.New("alipay: the gateway failed without an answer"))
	}
	return openResponse(op, method, body, c.verify, v)
}

func (c *Client) verify(content []byte, sign string) error {
	return Verify(c.signType, c.aliKey, content, sign)
}

// hint adds a troubleshooting hint to a connection error.
func hint(err error) string {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	switch {
	case errors.As(err, &cert):
		return " (TLS certificate not trusted: is the clock right? `posagent doctor` checks it)"
	case errors.As(err, &dns):
		return " (DNS failed: check the network and /etc/resolv.conf)"
	}
	return ""
}
