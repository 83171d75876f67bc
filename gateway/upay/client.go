// Package upay is a client for the Upay (Shouqianba) Web API v2, the
// gateway a counter terminal uses to activate, check in, and create and
// follow QR-code orders. See ../../../shared/spec/upay-v2.md for the protocol.
//
// What the public demos get wrong, and this client does not (field-notes.md):
// every call has a deadline; TLS verification is always on (tests pass their
// own CA pool); an I/O error after the request was written is "outcome
// unknown", never failure; the body that is signed is exactly the body that
// is sent; a response that cannot be read completely and parsed is unknown,
// and so is one that answers about another order.
package upay

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"posagent/gateway"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API domain, e.g. "https://api.shouqianba.com".
	BaseURL string
	// VendorSN and VendorKey sign /terminal/activate only. They are the
	// integrator's credentials: keep them out of files on the device.
	VendorSN, VendorKey string
	// TerminalSN and TerminalKey sign everything else. They may be set or
	// replaced later with SetTerminal (after activation or check-in).
	TerminalSN, TerminalKey string
	// Payway and SubPayway for precreate; defaults "3" (WeChat Pay) and
	// "2" (QR code).
	Payway, SubPayway string
	// Operator is sent when a request names none. Default "posagent".
	Operator string

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
	// Now is the clock for Order.ExpiresAt. Default time.Now.
	Now func() time.Time
	// OrderLifetime is how long Upay keeps a precreated order payable
	// before it cancels it itself: "about 4 minutes (older docs: 90 s)"
	// (upay-v2.md, "Precreate flow" 3). Order.ExpiresAt is the precreate
	// time plus this. Default 4 minutes, the longer reading.
	OrderLifetime time.Duration
}

// Client talks to one Upay API endpoint. It is safe for concurrent use.
type Client struct {
	base     string
	hc       *http.Client
	timeout  time.Duration
	maxBody  int64
	vendorSN string
	vendorK  string
	payway   string
	subPay   string
	operator string
	now      func() time.Time
	lifetime time.Duration

	date gateway.DateKeeper

	mu     sync.Mutex
	termSN string
	termK  string
}

var _ gateway.Gateway = (*Client)(nil)

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("upay: BaseURL is required")
	}
	if !strings.HasPrefix(cfg.BaseURL, "https://") && !strings.HasPrefix(cfg.BaseURL, "http://") {
		return nil, fmt.Errorf("upay: BaseURL %q must start with https:// (or http:// for a local sandbox)", cfg.BaseURL)
	}
	c := &Client{
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		hc:       cfg.HTTPClient,
		timeout:  cfg.Timeout,
		maxBody:  cfg.MaxBodyBytes,
		vendorSN: cfg.VendorSN,
		vendorK:  cfg.VendorKey,
		payway:   cfg.Payway,
		subPay:   cfg.SubPayway,
		operator: cfg.Operator,
		termSN:   cfg.TerminalSN,
		termK:    cfg.TerminalKey,
	}
	if c.timeout <= 0 {
		c.timeout = 15 * time.Second
	}
	if c.maxBody <= 0 {
		c.maxBody = 1 << 20
	}
	if c.payway == "" {
		c.payway = "3"
	}
	if c.subPay == "" {
		c.subPay = "2"
	}
	if c.operator == "" {
		c.operator = "posagent"
	}
	c.now, c.lifetime = cfg.Now, cfg.OrderLifetime
	if c.now == nil {
		c.now = time.Now
	}
	if c.lifetime <= 0 {
		c.lifetime = 4 * time.Minute
	}
	if c.hc == nil {
		rt := cfg.Transport
		if rt == nil {
			rt = gateway.NewTransport(cfg.RootCAs)
		}
		// No client-level Timeout: deadlines come from the context, so a
		// caller can tell a deadline from other failures.
		c.hc = &http.Client{Transport: rt}
	}
	return c, nil
}

// LastDate is the Date header of the gateway's latest answer (zero before
// any): a bound for a clock that may be stale after boot.
func (c *Client) LastDate() time.Time { return c.date.LastDate() }

// SetTerminal replaces the terminal credentials used to sign requests,
// after activation or a check-in has been stored durably.
func (c *Client) SetTerminal(sn, key string) {
	c.mu.Lock()
	c.termSN, c.termK = sn, key
	c.mu.Unlock()
}

// TerminalSN returns the terminal serial number requests are signed with.
func (c *Client) TerminalSN() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.termSN
}

func (c *Client) terminal() (string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.termSN, c.termK
}

// Sign returns md5_hex(body + key) in lower case, the signature Upay
// expects in "Authorization: <sn> <sign>".
func Sign(body []byte, key string) string {
	h := md5.New()
	h.Write(body)
	io.WriteString(h, key)
	return hex.EncodeToString(h.Sum(nil))
}

// envelope is the outer response of every call.
type envelope struct {
	ResultCode   string          `json:"result_code"`
	ErrorCode    string          `json:"error_code"`
	ErrorMessage string          `json:"error_message"`
	BizResponse  json.RawMessage `json:"biz_response"`
}

// call signs body with (sn, key), posts it to path and returns the
// biz_response bytes of a result_code "200" answer. Errors are classified
// for the engine: see gateway.Class.
func (c *Client) call(ctx context.Context, op, path, sn, key string, body any) (json.RawMessage, error) {
	if sn == "" || key == "" {
		return nil, &gateway.Error{Class: gateway.NotSent, Op: op, Err: fmt.Errorf("%w: no credentials to sign with (is the terminal provisioned?)", gateway.ErrInvalid)}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, &gateway.Error{Class: gateway.NotSent, Op: op, Err: err}
	}
	return c.send(ctx, op, path, sn, key, b, "application/json; charset=utf-8", false)
}

// send signs b with (sn, key) and posts it to path. noBiz accepts a
// result_code "200" answer without biz_response (upload log: "outer
// result_code 200" is its whole answer, upay-v2.md).
func (c *Client) send(ctx context.Context, op, path, sn, key string, b []byte, contentType string, noBiz bool) (json.RawMessage, error) {
	if sn == "" || key == "" {
		return nil, &gateway.Error{Class: gateway.NotSent, Op: op, Err: fmt.Errorf("%w: no credentials to sign with (is the terminal provisioned?)", gateway.ErrInvalid)}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	// wrote tells a failure before anything reached the wire (safe: not
	// sent) from one after (unknown).
	var wrote bool
	var wroteMu sync.Mutex
	trace := &httptrace.ClientTrace{
		WroteHeaders: func() { wroteMu.Lock(); wrote = true; wroteMu.Unlock() },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return nil, &gateway.Error{Class: gateway.NotSent, Op: op, Err: err}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", sn+" "+Sign(b, key))
	resp, err := c.hc.Do(req)
	if resp != nil {
		c.date.Note(resp.Header)
	}
	if err != nil {
		wroteMu.Lock()
		w := wrote
		wroteMu.Unlock()
		if !w {
			return nil, &gateway.Error{Class: gateway.NotSent, Op: op, Err: err}
		}
		return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("reading response: %w", err)}
	}
	if int64(len(raw)) > c.maxBody {
		return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("response larger than %d bytes", c.maxBody)}
	}
	biz, err := parseEnvelope(op, resp.StatusCode, raw)
	if noBiz && err != nil && resp.StatusCode == http.StatusOK {
		var env envelope
		if json.Unmarshal(raw, &env) == nil && env.ResultCode == "200" {
			return nil, nil
		}
	}
	return biz, err
}

// parseEnvelope classifies an HTTP answer. Anything it cannot read with
// confidence is Unknown: a proxy's 502 page, a truncated body, a body with
// no result_code.
func parseEnvelope(op string, status int, raw []byte) (json.RawMessage, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.ResultCode == "" {
		if err == nil {
			err = errors.New("no result_code")
		}
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			// No such path at this gateway: nothing ran. A wrong
			// BaseURL, or a call this gateway does not have.
			return nil, &gateway.Error{Class: gateway.Rejected, Op: op, Code: fmt.Sprintf("HTTP %d", status), Message: "the gateway has no such path"}
		}
		return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("HTTP %d with an unreadable body: %w", status, err)}
	}
	switch env.ResultCode {
	case "200":
		if status != http.StatusOK {
			return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("HTTP %d with result_code 200", status)}
		}
		if len(env.BizResponse) == 0 || string(env.BizResponse) == "null" {
			return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: errors.New("result_code 200 without biz_response")}
		}
		return env.BizResponse, nil
	case "400":
		e := &gateway.Error{Class: gateway.Rejected, Op: op, Code: env.ErrorCode, Message: env.ErrorMessage}
		switch env.ErrorCode {
		case "ILLEGAL_SIGN", "INVALID_TERMINAL":
			e.Err = gateway.ErrAuth
		case "INVALID_PARAMS":
			e.Err = gateway.ErrInvalid
		}
		return nil, e
	case "500":
		// A server error ("contact support" in Upay's response-code
		// annex) promises nothing about what happened: outcome unknown
		// for every call, refunds included (upay-v2.md, "Response
		// envelope"). A refund keeps its refund_request_no until a
		// definite answer.
		return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Code: env.ErrorCode, Message: env.ErrorMessage}
	}
	return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("unexpected result_code %q", env.ResultCode)}
}
