package upay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"posagent/gateway"
)

// API paths (upay-v2.md).
const (
	PathActivate  = "/terminal/activate"
	PathCheckin   = "/terminal/checkin"
	PathPrecreate = "/upay/v2/precreate"
	PathQuery     = "/upay/v2/query"
	PathCancel    = "/upay/v2/cancel"
	PathRevoke    = "/upay/v2/revoke"
	PathRefund    = "/upay/v2/refund"
	PathUploadLog = "/terminal/uploadLog"
)

// MaxAmountCents is the largest total_amount: String(10) of cents.
const MaxAmountCents = 9_999_999_999

// Terminal is a terminal identity returned by activate and check-in.
type Terminal struct {
	SN  string
	Key string
}

// String never prints the key.
func (t Terminal) String() string { return "upay.Terminal{SN: " + t.SN + ", Key: <hidden>}" }

// GoString never prints the key.
func (t Terminal) GoString() string { return t.String() }

// ActivateRequest activates a new terminal with a one-time code.
type ActivateRequest struct {
	AppID    string `json:"app_id"`
	Code     string `json:"code"`
	DeviceID string `json:"device_id"`
	ClientSN string `json:"client_sn,omitempty"`
	Name     string `json:"name,omitempty"`
	OSInfo   string `json:"os_info,omitempty"`
}

// CheckinRequest rotates the terminal key.
type CheckinRequest struct {
	TerminalSN string `json:"terminal_sn"`
	DeviceID   string `json:"device_id"`
	OSInfo     string `json:"os_info,omitempty"`
	SDKVersion string `json:"sdk_version,omitempty"`
}

// Goods is one line of goods_details.
type Goods struct {
	GoodsID       string `json:"goods_id"`
	GoodsName     string `json:"goods_name"`
	Quantity      int64  `json:"quantity"`
	Price         int64  `json:"price"`
	PromotionType int    `json:"promotion_type"`
}

// PrecreateParams is the full precreate request (seeds 000 and 001).
// Amounts are cents; the client writes them as decimal strings.
type PrecreateParams struct {
	ClientSN     string
	TotalAmount  int64
	Payway       string
	SubPayway    string
	PayerUID     string
	Subject      string
	Operator     string
	Description  string
	Longitude    string
	Latitude     string
	DeviceID     string
	Extended     map[string]string
	GoodsDetails []Goods
	Reflect      string
	NotifyURL    string
}

type precreateBody struct {
	TerminalSN   string            `json:"terminal_sn"`
	ClientSN     string            `json:"client_sn"`
	TotalAmount  string            `json:"total_amount"`
	Payway       string            `json:"payway"`
	SubPayway    string            `json:"sub_payway,omitempty"`
	PayerUID     string            `json:"payer_uid,omitempty"`
	Subject      string            `json:"subject"`
	Operator     string            `json:"operator"`
	Description  string            `json:"description,omitempty"`
	Longitude    string            `json:"longitude,omitempty"`
	Latitude     string            `json:"latitude,omitempty"`
	DeviceID     string            `json:"device_id,omitempty"`
	Extended     map[string]string `json:"extended,omitempty"`
	GoodsDetails []Goods           `json:"goods_details,omitempty"`
	Reflect      string            `json:"reflect,omitempty"`
	NotifyURL    string            `json:"notify_url,omitempty"`
}

type orderRef struct {
	TerminalSN string `json:"terminal_sn"`
	SN         string `json:"sn,omitempty"`
	ClientSN   string `json:"client_sn,omitempty"`
}

type refundBody struct {
	TerminalSN      string `json:"terminal_sn"`
	SN              string `json:"sn,omitempty"`
	ClientSN        string `json:"client_sn,omitempty"`
	RefundRequestNo string `json:"refund_request_no"`
	Operator        string `json:"operator"`
	RefundAmount    string `json:"refund_amount"`
}

// Validation. Lengths are in characters, as the docs' String(n) means.

type fieldErrs struct {
	op   string
	errs []error
}

func (f *fieldErrs) max(name, v string, n int) {
	if l := utf8.RuneCountInString(v); l > n {
		f.errs = append(f.errs, fmt.Errorf("%s is %d characters, at most %d allowed", name, l, n))
	}
	if !utf8.ValidString(v) {
		f.errs = append(f.errs, fmt.Errorf("%s is not valid UTF-8", name))
	}
}

func (f *fieldErrs) required(name, v string, n int) {
	if v == "" {
		f.errs = append(f.errs, fmt.Errorf("%s is required", name))
		return
	}
	f.max(name, v, n)
}

func (f *fieldErrs) amount(name string, v int64) {
	if v <= 0 {
		f.errs = append(f.errs, fmt.Errorf("%s must be more than 0 cents, got %d", name, v))
	} else if v > MaxAmountCents {
		f.errs = append(f.errs, fmt.Errorf("%s %d cents is more than %d digits allow", name, v, 10))
	}
}

func (f *fieldErrs) digits(name, v string) {
	if v == "" {
		return
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			f.errs = append(f.errs, fmt.Errorf("%s must be a number string, got %q", name, v))
			return
		}
	}
}

func (f *fieldErrs) err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return &gateway.Error{Class: gateway.NotSent, Op: f.op, Err: fmt.Errorf("%w: %w", gateway.ErrInvalid, errors.Join(f.errs...))}
}

// Validate checks every documented limit of precreate.
func (p *PrecreateParams) Validate() error {
	f := &fieldErrs{op: "precreate"}
	f.required("client_sn", p.ClientSN, 32)
	f.amount("total_amount", p.TotalAmount)
	if p.Payway == "" {
		f.errs = append(f.errs, errors.New("payway is required"))
	}
	f.digits("payway", p.Payway)
	if p.Payway == "6" {
		f.errs = append(f.errs, errors.New("payway 6 (QQ Wallet) has no precreate"))
	}
	f.digits("sub_payway", p.SubPayway)
	f.max("payer_uid", p.PayerUID, 64)
	f.required("subject", p.Subject, 64)
	f.required("operator", p.Operator, 32)
	f.max("description", p.Description, 255)
	if (p.Longitude == "") != (p.Latitude == "") {
		f.errs = append(f.errs, errors.New("longitude and latitude go together or not at all"))
	}
	for name, v := range map[string]string{"longitude": p.Longitude, "latitude": p.Latitude} {
		if v != "" {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				f.errs = append(f.errs, fmt.Errorf("%s %q is not a number", name, v))
			}
		}
	}
	f.max("device_id", p.DeviceID, 32)
	if len(p.Extended) > 24 {
		f.errs = append(f.errs, fmt.Errorf("extended has %d keys, at most 24 allowed", len(p.Extended)))
	}
	for k, v := range p.Extended {
		f.max("extended key", k, 64)
		f.max("extended["+k+"]", v, 256)
	}
	for i, g := range p.GoodsDetails {
		n := fmt.Sprintf("goods_details[%d].", i)
		f.required(n+"goods_id", g.GoodsID, 32)
		f.required(n+"goods_name", g.GoodsName, 32)
		if g.Quantity <= 0 || g.Quantity > 9_999_999_999 {
			f.errs = append(f.errs, fmt.Errorf("%squantity must be 1..9999999999", n))
		}
		if g.Price < 0 || g.Price > 999_999_999 {
			f.errs = append(f.errs, fmt.Errorf("%sprice must be 0..999999999 cents", n))
		}
		if g.PromotionType != 0 && g.PromotionType != 1 {
			f.errs = append(f.errs, fmt.Errorf("%spromotion_type must be 0 or 1", n))
		}
	}
	f.max("reflect", p.Reflect, 64)
	f.max("notify_url", p.NotifyURL, 128)
	return f.err()
}

// Activate turns an activation code into a terminal identity, signing with
// the vendor pair. The caller must store the result durably before use.
func (c *Client) Activate(ctx context.Context, r ActivateRequest) (Terminal, error) {
	f := &fieldErrs{op: "activate"}
	f.required("app_id", r.AppID, 64)
	f.required("code", r.Code, 32)
	f.required("device_id", r.DeviceID, 32)
	f.max("client_sn", r.ClientSN, 32)
	f.max("name", r.Name, 64)
	f.max("os_info", r.OSInfo, 64)
	if err := f.err(); err != nil {
		return Terminal{}, err
	}
	biz, err := c.call(ctx, "activate", PathActivate, c.vendorSN, c.vendorK, r)
	if err != nil {
		return Terminal{}, err
	}
	return parseTerminal("activate", biz)
}

// Checkin rotates the terminal key. The new key must be persisted before
// it is used (SetTerminal); until the next rotation the old one still works,
// so a lost response is recovered by checking in again with the old key.
func (c *Client) Checkin(ctx context.Context, r CheckinRequest) (Terminal, error) {
	sn, key := c.terminal()
	if r.TerminalSN == "" {
		r.TerminalSN = sn
	}
	f := &fieldErrs{op: "checkin"}
	f.required("terminal_sn", r.TerminalSN, 32)
	f.required("device_id", r.DeviceID, 32)
	f.max("os_info", r.OSInfo, 64)
	f.max("sdk_version", r.SDKVersion, 32)
	if err := f.err(); err != nil {
		return Terminal{}, err
	}
	biz, err := c.call(ctx, "checkin", PathCheckin, r.TerminalSN, key, r)
	if err != nil {
		return Terminal{}, err
	}
	t, err := parseTerminal("checkin", biz)
	if err == nil && t.SN != r.TerminalSN {
		return Terminal{}, &gateway.Error{Class: gateway.Unknown, Op: "checkin", Err: fmt.Errorf("answer names terminal %q, asked for %q", t.SN, r.TerminalSN)}
	}
	return t, err
}

// PrecreateParams creates a QR-code order with every documented field.
func (c *Client) PrecreateParams(ctx context.Context, p PrecreateParams) (gateway.Order, error) {
	if err := p.Validate(); err != nil {
		return gateway.Order{}, err
	}
	sn, key := c.terminal()
	body := precreateBody{
		TerminalSN: sn, ClientSN: p.ClientSN, TotalAmount: strconv.FormatInt(p.TotalAmount, 10),
		Payway: p.Payway, SubPayway: p.SubPayway, PayerUID: p.PayerUID, Subject: p.Subject,
		Operator: p.Operator, Description: p.Description, Longitude: p.Longitude, Latitude: p.Latitude,
		DeviceID: p.DeviceID, Extended: p.Extended, GoodsDetails: p.GoodsDetails, Reflect: p.Reflect,
		NotifyURL: p.NotifyURL,
	}
	sent := c.now()
	biz, err := c.call(ctx, "precreate", PathPrecreate, sn, key, body)
	if err != nil {
		return gateway.Order{}, err
	}
	o, err := parseOrder("precreate", biz, p.ClientSN)
	if err != nil {
		return o, err
	}
	if o.QRCode == "" {
		return o, &gateway.Error{Class: gateway.Unknown, Op: "precreate", Err: errors.New("PRECREATE_SUCCESS without qr_code")}
	}
	// Upay cancels an unpaid precreated order itself after about 4
	// minutes (upay-v2.md, "Precreate flow" 3); measured from before the
	// request left, so the terminal never thinks it expired too early.
	o.ExpiresAt = sent.Add(c.lifetime)
	return o, nil
}

// Precreate implements gateway.Gateway with the configured payway.
func (c *Client) Precreate(ctx context.Context, r gateway.PrecreateRequest) (gateway.Order, error) {
	op := r.Operator
	if op == "" {
		op = c.operator
	}
	return c.PrecreateParams(ctx, PrecreateParams{
		ClientSN: r.ClientSN, TotalAmount: r.AmountCents, Payway: c.payway, SubPayway: c.subPay,
		Subject: r.Subject, Operator: op, Description: r.Description,
	})
}

// ref names an order by sn when it is known ("sn or client_sn (sn wins if
// both)", upay-v2.md) and by client_sn otherwise. Both are sent when both
// are known: the answer is checked against client_sn either way.
func (c *Client) ref(op string, r gateway.Ref) (orderRef, string, error) {
	sn, key := c.terminal()
	f := &fieldErrs{op: op}
	f.required("client_sn", r.ClientSN, 32)
	f.max("sn", r.SN, 32)
	return orderRef{TerminalSN: sn, SN: r.SN, ClientSN: r.ClientSN}, key, f.err()
}

// Query returns the order named by ref (by its sn once known). A not-found
// answer wraps gateway.ErrOrderNotFound and says which number was asked.
func (c *Client) Query(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	body, key, err := c.ref("query", ref)
	if err != nil {
		return gateway.Order{}, err
	}
	biz, err := c.call(ctx, "query", PathQuery, body.TerminalSN, key, body)
	if err != nil {
		return gateway.Order{}, err
	}
	return parseOrderRef("query", biz, ref)
}

// Cancel reverses an order that is not final. On an order paid meanwhile
// it is refused (UPAY_CANCEL_INVALID_ORDER_STATE) and Cancel returns the
// order as a query finds it (PAID). A refusal of an order that a query
// still finds open, or a gateway without the cancel path (HTTP 404), is a
// Rejected error wrapping gateway.ErrCancelUnsupported: the order stays
// payable until Upay's own expiry.
func (c *Client) Cancel(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	const op = "cancel"
	o, err := c.cancelLike(ctx, op, PathCancel, ref)
	var ge *gateway.Error
	if err == nil || !errors.As(err, &ge) || ge.Class != gateway.Rejected || errors.Is(err, gateway.ErrOrderNotFound) || errors.Is(err, gateway.ErrAuth) || errors.Is(err, gateway.ErrInvalid) {
		return o, err
	}
	if errors.Is(err, gateway.ErrCancelUnsupported) {
		return o, err
	}
	// Refused: the order's own state says why.
	q, qerr := c.Query(ctx, ref)
	if qerr != nil {
		return gateway.Order{}, err
	}
	if q.Status.Final() {
		return q, nil // lost the race against the payer, or cancelled already
	}
	ge.Err = gateway.ErrCancelUnsupported
	ge.Message = strings.TrimSpace(ge.Message + " (order still " + string(q.Status) + " after the refusal)")
	return gateway.Order{}, ge
}

// Revoke refunds a paid order in full on the day it was paid.
func (c *Client) Revoke(ctx context.Context, clientSN string) (gateway.Order, error) {
	return c.cancelLike(ctx, "revoke", PathRevoke, gateway.Ref{ClientSN: clientSN})
}

func (c *Client) cancelLike(ctx context.Context, op, path string, ref gateway.Ref) (gateway.Order, error) {
	body, key, err := c.ref(op, ref)
	if err != nil {
		return gateway.Order{}, err
	}
	biz, err := c.call(ctx, op, path, body.TerminalSN, key, body)
	if err != nil {
		var ge *gateway.Error
		if op == "cancel" && errors.As(err, &ge) && ge.Code == "HTTP 404" {
			ge.Err = gateway.ErrCancelUnsupported
		}
		return gateway.Order{}, err
	}
	return parseOrderRef(op, biz, ref)
}

// RefundIdempotent reports that a refund may be resent as it is:
// refund_request_no is Upay's idempotency key ("refund_request_no (≤20,
// idempotency key)", upay-v2.md), kept unchanged while the outcome is
// unknown.
func (c *Client) RefundIdempotent() bool { return true }

// UploadLog sends a gzip-compressed log file to /terminal/uploadLog. The
// body is the gzip bytes themselves, signed like any request (upay-v2.md,
// "Terminal lifecycle"); the content type is application/gzip, the media
// type registered for gzip data (RFC 6713), since the spec names none.
func (c *Client) UploadLog(ctx context.Context, gz []byte) error {
	const op = "upload log"
	if len(gz) < 2 || gz[0] != 0x1f || gz[1] != 0x8b {
		return &gateway.Error{Class: gateway.NotSent, Op: op, Err: fmt.Errorf("%w: not gzip data (RFC 1952 magic 1f 8b)", gateway.ErrInvalid)}
	}
	sn, key := c.terminal()
	_, err := c.send(ctx, op, PathUploadLog, sn, key, gz, "application/gzip", true)
	return err
}

// Refund refunds part or all of a paid order; RequestNo makes it idempotent.
func (c *Client) Refund(ctx context.Context, r gateway.RefundRequest) (gateway.Order, error) {
	sn, key := c.terminal()
	op := r.Operator
	if op == "" {
		op = c.operator
	}
	f := &fieldErrs{op: "refund"}
	f.required("client_sn", r.ClientSN, 32)
	f.required("refund_request_no", r.RequestNo, 20)
	f.required("operator", op, 32)
	f.amount("refund_amount", r.AmountCents)
	if err := f.err(); err != nil {
		return gateway.Order{}, err
	}
	// refund_request_no is the idempotency key: the caller keeps it while
	// the outcome is unknown (upay-v2.md; an outer 500 is unknown too).
	body := refundBody{TerminalSN: sn, SN: r.SN, ClientSN: r.ClientSN, RefundRequestNo: r.RequestNo, Operator: op,
		RefundAmount: strconv.FormatInt(r.AmountCents, 10)}
	biz, err := c.call(ctx, "refund", PathRefund, sn, key, body)
	if err != nil {
		return gateway.Order{}, err
	}
	return parseOrderRef("refund", biz, gateway.Ref{ClientSN: r.ClientSN, SN: r.SN})
}

// Response parsing.

type bizResponse struct {
	ResultCode   string          `json:"result_code"`
	ErrorCode    string          `json:"error_code"`
	ErrorMessage string          `json:"error_message"`
	Data         json.RawMessage `json:"data"`
	// activate / checkin answer with these directly in biz_response.
	TerminalSN  string `json:"terminal_sn"`
	TerminalKey string `json:"terminal_key"`
}

// orderData is biz_response.data; every value is a string on the wire.
type orderData struct {
	SN           string `json:"sn"`
	ClientSN     string `json:"client_sn"`
	TradeNo      string `json:"trade_no"`
	Status       string `json:"status"`
	OrderStatus  string `json:"order_status"`
	PaywayName   string `json:"payway_name"`
	QRCode       string `json:"qr_code"`
	TotalAmount  string `json:"total_amount"`
	NetAmount    string `json:"net_amount"`
	Subject      string `json:"subject"`
	FinishTime   string `json:"finish_time"`
	RefundAmount string `json:"refund_amount"`
}

func unknownf(op, format string, args ...any) error {
	return &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("malformed response: "+format, args...)}
}

func parseTerminal(op string, raw json.RawMessage) (Terminal, error) {
	var b bizResponse
	if err := json.Unmarshal(raw, &b); err != nil {
		return Terminal{}, unknownf(op, "%v", err)
	}
	if b.ResultCode != "" && b.ResultCode != "SUCCESS" {
		return Terminal{}, &gateway.Error{Class: gateway.Rejected, Op: op, Code: b.ErrorCode, Message: b.ErrorMessage}
	}
	if b.TerminalSN == "" || b.TerminalKey == "" || len(b.TerminalSN) > 32 || len(b.TerminalKey) > 64 {
		return Terminal{}, unknownf(op, "terminal_sn/terminal_key missing or oversized")
	}
	return Terminal{SN: b.TerminalSN, Key: b.TerminalKey}, nil
}

// notFoundCodes name an order the gateway does not have. The docs spell it
// both ways (upay-v2.md).
var notFoundCodes = map[string]bool{"UPAY_ORDER_NOT_EXISTS": true, "UPAY_ORDER_NOT_EXIST": true, "TRADE_NOT_EXIST": true}

// outcome sorts a business result_code for op into ok / rejected / unknown.
func outcome(op, code string) gateway.Class {
	switch code {
	case "PRECREATE_SUCCESS", "SUCCESS", "CANCEL_SUCCESS", "CANCEL_ABORT_SUCCESS", "REFUND_SUCCESS", "PAY_SUCCESS":
		return 0
	case "PRECREATE_FAIL", "FAIL", "REFUND_FAIL", "PAY_FAIL":
		return gateway.Rejected
	}
	// *_ERROR, *_IN_PROGRESS, and anything undocumented: only a query knows.
	return gateway.Unknown
}

// parseOrderRef is parseOrder for an order named by ref; a not-found
// answer says which number was asked.
func parseOrderRef(op string, raw json.RawMessage, ref gateway.Ref) (gateway.Order, error) {
	o, err := parseOrder(op, raw, ref.ClientSN)
	var ge *gateway.Error
	if errors.Is(err, gateway.ErrOrderNotFound) && errors.As(err, &ge) {
		if ref.SN != "" {
			ge.Message = strings.TrimSpace(ge.Message + " (asked by sn " + ref.SN + ")")
		} else {
			ge.Message = strings.TrimSpace(ge.Message + " (asked by client_sn " + ref.ClientSN + ")")
		}
	}
	if err == nil && ref.SN != "" && o.SN != ref.SN {
		return gateway.Order{}, unknownf(op, "answer is about sn %q, asked about %q", o.SN, ref.SN)
	}
	return o, err
}

func parseOrder(op string, raw json.RawMessage, wantClientSN string) (gateway.Order, error) {
	var b bizResponse
	if err := json.Unmarshal(raw, &b); err != nil {
		return gateway.Order{}, unknownf(op, "%v", err)
	}
	switch outcome(op, b.ResultCode) {
	case gateway.Rejected:
		e := &gateway.Error{Class: gateway.Rejected, Op: op, Code: b.ErrorCode, Message: b.ErrorMessage}
		switch {
		case notFoundCodes[b.ErrorCode]:
			e.Err = gateway.ErrOrderNotFound
		case b.ErrorCode == "CLIENT_SN_CONFLICT":
			e.Err = gateway.ErrConflict
		}
		return gateway.Order{}, e
	case gateway.Unknown:
		return gateway.Order{}, &gateway.Error{Class: gateway.Unknown, Op: op, Code: firstNonEmpty(b.ErrorCode, b.ResultCode), Message: b.ErrorMessage}
	}
	if len(b.Data) == 0 || string(b.Data) == "null" {
		return gateway.Order{}, unknownf(op, "%s without data", b.ResultCode)
	}
	var d orderData
	if err := json.Unmarshal(b.Data, &d); err != nil {
		return gateway.Order{}, unknownf(op, "data: %v", err)
	}
	if d.ClientSN != wantClientSN {
		return gateway.Order{}, unknownf(op, "answer is about client_sn %q, asked about %q", d.ClientSN, wantClientSN)
	}
	st := gateway.Status(d.OrderStatus)
	switch st {
	case gateway.StatusCreated, gateway.StatusPaid, gateway.StatusPayCanceled, gateway.StatusPayError,
		gateway.StatusRefunded, gateway.StatusPartialRefunded, gateway.StatusRefundError,
		gateway.StatusCanceled, gateway.StatusCancelError, gateway.StatusCancelInProgress:
	default:
		return gateway.Order{}, unknownf(op, "order_status %q", d.OrderStatus)
	}
	total, err := cents(d.TotalAmount)
	if err != nil {
		return gateway.Order{}, unknownf(op, "total_amount: %v", err)
	}
	net := total
	if d.NetAmount != "" {
		if net, err = cents(d.NetAmount); err != nil || net > total {
			return gateway.Order{}, unknownf(op, "net_amount %q", d.NetAmount)
		}
	}
	if len(d.SN) > 32 || len(d.QRCode) > 2048 || len(d.TradeNo) > 64 {
		return gateway.Order{}, unknownf(op, "oversized field")
	}
	o := gateway.Order{
		ClientSN: d.ClientSN, SN: d.SN, TradeNo: d.TradeNo, Status: st, AmountCents: total,
		NetAmountCents: net, QRCode: d.QRCode, Subject: d.Subject, Channel: d.PaywayName,
	}
	if d.FinishTime != "" {
		ms, err := strconv.ParseInt(d.FinishTime, 10, 64)
		if err != nil || ms < 0 {
			return gateway.Order{}, unknownf(op, "finish_time %q", d.FinishTime)
		}
		o.FinishedAt = time.UnixMilli(ms)
	}
	return o, nil
}

// cents parses a non-negative integer amount string of at most 10 digits.
func cents(s string) (int64, error) {
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("%q is not an amount of at most 10 digits", s)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not a number string", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
