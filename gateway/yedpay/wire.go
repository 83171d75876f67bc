package yedpay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"posagent/gateway"
)

// This file turns Yedpay's wire format into Go values: the {success, data}
// envelope, the transaction object of the "Pre-Create Transaction" and "Show
// Transaction" pages, amounts in dollars, statuses and timestamps. Every
// function here is pure so that the fuzz tests can drive it without a network.

// hkt is Hong Kong time (UTC+8, no daylight saving), the zone of every
// "YYYY-mm-dd h:i:s" timestamp Yedpay returns. A fixed zone, so that a Pi
// without zoneinfo (or with the wrong TZ) reads the same instant.
var hkt = time.FixedZone("HKT", 8*60*60)

const timeLayout = "2006-01-02 15:04:05"

// envelope is every answer's outer object. Success answers carry data, error
// answers carry message and a numeric status ({"success": false, "message":
// "Internal Error", "status": 500}). Laravel-style validation answers may add
// errors: {"field": ["message", ...]}.
type envelope struct {
	Success *bool           `json:"success"`
	Message string          `json:"message"`
	Status  json.RawMessage `json:"status"`
	Data    json.RawMessage `json:"data"`
	Errors  json.RawMessage `json:"errors"`
}

// apiError is a parsed error envelope.
type apiError struct {
	HTTPStatus int
	Code       string            // the envelope's status, as text
	Message    string            // the envelope's message
	Fields     map[string]string // first message per invalid field, if given
}

func (e *apiError) text() string {
	msg := e.Message
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+": "+e.Fields[k])
		}
		if msg != "" {
			msg += " "
		}
		msg += "(" + strings.Join(parts, "; ") + ")"
	}
	return msg
}

// customIDTaken reports whether the gateway refused a precreate because the
// custom_id was used before. ASSUMED, NOT FROM THE DOCS: the precreate page
// only says custom_id is a "Unique ID"; Yedpay's API is a Laravel
// application (its 401 body is Laravel's "Unauthenticated."), whose unique
// rule answers 422 "The custom id has already been taken.". Both the field key
// and the message are accepted.
func (e *apiError) customIDTaken() bool {
	if _, ok := e.Fields["custom_id"]; ok {
		return true
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "custom") && strings.Contains(m, "taken")
}

// errMalformed marks an answer the client cannot read.
var errMalformed = errors.New("malformed response")

// parseEnvelope reads a response body that must be a JSON object with a
// boolean success. It returns the envelope, or an error wrapping
// errMalformed.
func parseEnvelope(body []byte) (*envelope, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, fmt.Errorf("%w: body is not a JSON object", errMalformed)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return &env, nil
}

// parseAPIError builds an apiError from an error envelope. A body that is
// not an error envelope (no message, no success:false) yields nil.
func parseAPIError(httpStatus int, env *envelope) *apiError {
	if env == nil {
		return nil
	}
	if env.Message == "" && (env.Success == nil || *env.Success) {
		return nil
	}
	e := &apiError{HTTPStatus: httpStatus, Message: clip(env.Message, 200)}
	if s := bytes.TrimSpace(env.Status); len(s) > 0 && !bytes.Equal(s, []byte("null")) {
		var n json.Number
		var str string
		if json.Unmarshal(s, &n) == nil {
			e.Code = n.String()
		} else if json.Unmarshal(s, &str) == nil {
			e.Code = clip(str, 32)
		}
	}
	if len(env.Errors) > 0 {
		var fields map[string]json.RawMessage
		if json.Unmarshal(env.Errors, &fields) == nil {
			for k, v := range fields {
				var list []string
				var one string
				switch {
				case json.Unmarshal(v, &list) == nil && len(list) > 0:
					one = list[0]
				case json.Unmarshal(v, &one) == nil:
				}
				if e.Fields == nil {
					e.Fields = map[string]string{}
				}
				e.Fields[clip(k, 40)] = clip(one, 120)
			}
		}
	}
	if e.Code == "" {
		e.Code = strconv.Itoa(httpStatus)
	}
	return e
}

// clip keeps error text short: a gateway (or a proxy pretending to be one)
// must not be able to flood the terminal's log.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// wireTxn is the documented transaction object, the fields the terminal
// needs. Numeric fields that the doc lists as Float but shows as strings
// ("amount": "10.00") are kept raw and read by parseAmount.
type wireTxn struct {
	ID                  string          `json:"id"`
	StoreID             string          `json:"store_id"`
	GatewayID           json.RawMessage `json:"gateway_id"`
	GatewaySubName      string          `json:"gateway_sub_name"`
	Status              string          `json:"status"`
	Amount              json.RawMessage `json:"amount"`
	Currency            string          `json:"currency"`
	Refunded            json.RawMessage `json:"refunded"`
	TransactionID       string          `json:"transaction_id"`
	ReferenceID         string          `json:"reference_id"`
	ExtraParameters     json.RawMessage `json:"extra_parameters"`
	CustomID            string          `json:"custom_id"`
	PaidAt              string          `json:"paid_at"`
	RefundedAt          string          `json:"refunded_at"`
	CreatedAt           string          `json:"created_at"`
	UpdatedAt           string          `json:"updated_at"`
	ExpiredAt           string          `json:"expired_at"`
	Links               json.RawMessage `json:"_links"`
	RefundDetails       json.RawMessage `json:"refund_details"`
	CancellationDetails json.RawMessage `json:"cancellation_details"`
}

// txn is a parsed transaction: the engine's Order plus what the client
// needs for its own decisions.
type txn struct {
	Order    gateway.Order
	Currency string
	Raw      string // Yedpay's status word, for error messages
	// RefundRemarks are the remarks of the refunds already made, which
	// carry the client's refund request numbers (see Client.Refund).
	RefundRemarks []string
}

// parseTxn reads a transaction object (the envelope's data).
func parseTxn(data []byte) (*txn, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, fmt.Errorf("%w: data is not a transaction object", errMalformed)
	}
	var w wireTxn
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: transaction: %v", errMalformed, err)
	}
	if w.ID == "" {
		return nil, fmt.Errorf("%w: transaction without id", errMalformed)
	}
	amount, err := parseAmount(w.Amount)
	if err != nil {
		return nil, fmt.Errorf("%w: amount: %v", errMalformed, err)
	}
	if amount <= 0 {
		return nil, fmt.Errorf("%w: amount must be positive, got %d cents", errMalformed, amount)
	}
	refunded, err := parseAmount(w.Refunded)
	if err != nil {
		return nil, fmt.Errorf("%w: refunded: %v", errMalformed, err)
	}
	if refunded > amount {
		return nil, fmt.Errorf("%w: refunded %d cents exceeds amount %d cents", errMalformed, refunded, amount)
	}
	st, ok := mapStatus(w.Status, amount, refunded, strings.TrimSpace(w.PaidAt) != "")
	if !ok {
		return nil, fmt.Errorf("%w: unrecognised transaction status %q", errMalformed, clip(w.Status, 40))
	}
	remarks, err := parseRemarks(w.RefundDetails)
	if err != nil {
		return nil, fmt.Errorf("%w: refund_details: %v", errMalformed, err)
	}
	t := &txn{Currency: w.Currency, Raw: w.Status, RefundRemarks: remarks}
	o := &t.Order
	o.ClientSN = w.CustomID
	o.SN = w.ID
	o.TradeNo = w.ReferenceID
	if o.TradeNo == "" {
		o.TradeNo = w.TransactionID
	}
	o.Status = st
	o.AmountCents = amount
	o.NetAmountCents = amount - refunded
	o.QRCode = qrFromLinks(w.Links)
	o.Subject = subjectFromExtra(w.ExtraParameters)
	o.Channel = w.GatewaySubName
	if o.Channel == "" {
		o.Channel = channelName(w.GatewayID)
	}
	switch st {
	case gateway.StatusPaid:
		o.FinishedAt = parseTime(w.PaidAt)
	case gateway.StatusRefunded, gateway.StatusPartialRefunded:
		o.FinishedAt = parseTime(w.RefundedAt)
	}
	if o.FinishedAt.IsZero() && st.Final() {
		o.FinishedAt = parseTime(w.UpdatedAt)
	}
	// "expired_at: (optional) Date when the transaction Expire"; else the
	// QR's documented "lifetime of 24 hours" from created_at (seed 004,
	// lines 3 and 34).
	o.ExpiresAt = parseTime(w.ExpiredAt)
	if c := parseTime(w.CreatedAt); o.ExpiresAt.IsZero() && !c.IsZero() {
		o.ExpiresAt = c.Add(QRLifetime)
	}
	return t, nil
}

// QRLifetime is how long a precreated Yedpay QR stays payable: "This qr
// code has a lifetime of 24 hours" (seed 004, line 3).
const QRLifetime = 24 * time.Hour

// mapStatus maps Yedpay's transaction statuses (GET /v1/transactions-statuses,
// plus "precreated", which the precreate page names for pin_key) onto the
// engine's vocabulary. Yedpay has one word, "refunded", for full and partial
// refunds; the amounts tell them apart. Statuses of the settlement pipeline
// all mean the money was captured.
//
// "void" on a paid transaction means the money went back: Yedpay's own
// plugins handle it exactly like "refunded", reading the refunded amount
// (yedpay/yedpay-for-woocommerce WoocommerceYedpay.php notify_handler:
// status 'refunded' || 'void' → refundByNotification; yedpay/yedpay-for-magento
// Controller/Payment/OnNotificationReceived.php: PAYMENT_STATUS_VOID with
// refunded == grand total → refunded, else partially refunded). Only a void
// of a transaction that was never paid is a cancellation.
func mapStatus(s string, amount, refunded int64, paid bool) (gateway.Status, bool) {
	captured := func() gateway.Status {
		switch {
		case refunded <= 0:
			return gateway.StatusPaid
		case refunded >= amount:
			return gateway.StatusRefunded
		}
		return gateway.StatusPartialRefunded
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "precreated", "pending", "processing", "approved":
		return gateway.StatusCreated, true
	case "paid", "captured", "settled", "settlement_requested", "in_progress_settlement",
		"reverse_settlement", "cancelled_settlement":
		return captured(), true
	case "refunded":
		if refunded <= 0 {
			// A refund with no refunded amount reported: the whole order.
			return gateway.StatusRefunded, true
		}
		return captured(), true
	case "void":
		switch {
		case refunded > 0:
			return captured(), true
		case paid:
			// Paid, then voided with no refunded amount given: the
			// whole payment went back.
			return gateway.StatusRefunded, true
		}
		return gateway.StatusCanceled, true
	case "cancelled", "canceled", "expired":
		return gateway.StatusCanceled, true
	case "failed", "reversal":
		return gateway.StatusPayCanceled, true
	case "voiding":
		return gateway.StatusCancelInProgress, true
	}
	return "", false
}

// parseAmount reads a dollar amount sent as a JSON string ("10.00") or
// number (1.2) into cents. Absent, null and "" are zero. More than two
// decimals are refused unless they are zeros; exponents and signs are
// refused: an amount the terminal cannot read exactly is not an amount.
func parseAmount(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, nil
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
	} else {
		s = string(raw)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	return parseDollars(s)
}

// parseDollars parses "123", "123.4", "123.45" (and "123.450") into cents.
func parseDollars(s string) (int64, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("%q is not a decimal amount", clip(s, 24))
	}
	if len(intPart) > 13 {
		return 0, fmt.Errorf("%q is too large", clip(s, 24))
	}
	var cents int64
	for _, c := range intPart {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal amount", clip(s, 24))
		}
		cents = cents*10 + int64(c-'0')
	}
	cents *= 100
	for i, c := range frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal amount", clip(s, 24))
		}
		switch {
		case i == 0:
			cents += 10 * int64(c-'0')
		case i == 1:
			cents += int64(c - '0')
		case c != '0':
			return 0, fmt.Errorf("%q has more than 2 decimal places", clip(s, 24))
		}
	}
	return cents, nil
}

// formatDollars writes cents as Yedpay's amount: dollars with exactly two
// decimals ("12.50").
func formatDollars(cents int64) string {
	return strconv.FormatInt(cents/100, 10) + "." + fmt.Sprintf("%02d", cents%100)
}

func parseTime(s string) time.Time {
	t, err := time.ParseInLocation(timeLayout, strings.TrimSpace(s), hkt)
	if err != nil {
		return time.Time{}
	}
	return t
}

// qrFromLinks picks the QR payload from _links. "checkout" is what the
// payer's wallet opens (https://qr.alipay.com/... in the doc's example);
// "qrcode" is Yedpay's own QR page, used when there is no checkout link.
// The doc shows an array of {rel, href}; an object keyed by rel is accepted
// too.
func qrFromLinks(raw json.RawMessage) string {
	links := map[string]string{}
	var list []struct {
		Rel  string `json:"rel"`
		Href string `json:"href"`
	}
	if json.Unmarshal(raw, &list) == nil {
		for _, l := range list {
			if _, dup := links[l.Rel]; !dup {
				links[l.Rel] = l.Href
			}
		}
	} else {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil {
			for k, v := range obj {
				var href string
				var o struct {
					Href string `json:"href"`
				}
				if json.Unmarshal(v, &href) == nil {
					links[k] = href
				} else if json.Unmarshal(v, &o) == nil {
					links[k] = o.Href
				}
			}
		}
	}
	if h := links["checkout"]; h != "" {
		return h
	}
	return links["qrcode"]
}

// parseRemarks reads refund_details, documented as "Array" of
// {request_user_id, first_name, last_name, remark}: one object or a list of
// them. Absent, null, "" and [] mean no refund.
func parseRemarks(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte(`""`)) {
		return nil, nil
	}
	type detail struct {
		Remark string `json:"remark"`
	}
	var list []detail
	if raw[0] == '{' {
		var one detail
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, err
		}
		list = []detail{one}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	var out []string
	for _, d := range list {
		if d.Remark != "" {
			out = append(out, d.Remark)
		}
	}
	return out, nil
}

// extra is what the client puts into extra_parameters: the order's texts,
// so that Yedpay's back office shows them (Yedpay's precreate has no subject
// field).
type extra struct {
	Subject     string `json:"subject,omitempty"`
	Operator    string `json:"operator,omitempty"`
	Description string `json:"description,omitempty"`
}

// subjectFromExtra reads the subject back. extra_parameters is a JSON text
// inside a JSON string; anything else yields "".
func subjectFromExtra(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	var e extra
	if json.Unmarshal([]byte(s), &e) != nil {
		return ""
	}
	return e.Subject
}

func channelName(raw json.RawMessage) string {
	var id int
	if json.Unmarshal(raw, &id) != nil {
		return ""
	}
	switch GatewayID(id) {
	case GatewayAlipay, GatewayAlipayOnline:
		return "Alipay"
	case GatewayWeChatPay:
		return "WeChat Pay"
	case GatewayUnionPayQR:
		return "UnionPay"
	}
	return ""
}

// classify turns one HTTP answer into the envelope of a successful call or
// a *gateway.Error. It is the single place that decides Rejected versus
// Unknown for an answer that arrived:
//
//   - 2xx with success:true: success.
//   - 2xx with success:false, or 4xx with an error envelope: Rejected
//     (401/403 wrap gateway.ErrAuth; 404 on a transaction path wraps
//     gateway.ErrOrderNotFound).
//   - 5xx, 3xx, anything without a readable envelope: Unknown. A 5xx that
//     carries an envelope ({"message": "Internal Error", "status": 500}) is
//     still Unknown: the doc does not say that nothing was done.
func classify(op string, txnPath bool, status int, body []byte) (*envelope, error) {
	env, perr := parseEnvelope(body)
	switch {
	case status >= 200 && status < 300:
		if perr != nil {
			return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("HTTP %d: %w", status, perr)}
		}
		if env.Success == nil {
			return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("HTTP %d: %w: no success field", status, errMalformed)}
		}
		if *env.Success {
			return env, nil
		}
		ae := parseAPIError(status, env)
		return nil, rejected(op, txnPath, ae)
	case status >= 400 && status < 500 && perr == nil:
		ae := parseAPIError(status, env)
		if ae == nil {
			return nil, &gateway.Error{Class: gateway.Unknown, Op: op, Err: fmt.Errorf("HTTP %d: %w: not an error envelope", status, errMalformed)}
		}
		return nil, rejected(op, txnPath, ae)
	}
	ge := &gateway.Error{Class: gateway.Unknown, Op: op}
	if perr == nil {
		if ae := parseAPIError(status, env); ae != nil {
			ge.Code, ge.Message = ae.Code, ae.text()
		}
		ge.Err = fmt.Errorf("HTTP %d %s", status, http.StatusText(status))
	} else {
		ge.Err = fmt.Errorf("HTTP %d %s: %w", status, http.StatusText(status), perr)
	}
	return nil, ge
}

// rejectedError keeps the parsed answer next to the class, for callers
// that act on a particular refusal (a custom_id already taken).
type rejectedError struct {
	api   *apiError
	cause error
}

func (r *rejectedError) Error() string { return r.cause.Error() }
func (r *rejectedError) Unwrap() error { return r.cause }

func rejected(op string, txnPath bool, ae *apiError) error {
	if ae == nil {
		ae = &apiError{Message: "success is false"}
	}
	var cause error = errors.New("refused by the gateway")
	switch {
	case ae.HTTPStatus == http.StatusUnauthorized || ae.HTTPStatus == http.StatusForbidden:
		// No retry helps: the configuration is wrong (ErrConfig), and it
		// is a credential (ErrAuth).
		cause = fmt.Errorf("%w: %w: check gateway.access_token_file and gateway.store_id", gateway.ErrConfig, gateway.ErrAuth)
	case ae.HTTPStatus == http.StatusNotFound && txnPath:
		cause = gateway.ErrOrderNotFound
	case ae.HTTPStatus == http.StatusNotFound:
		// Precreate's path names the store: "Store not found." means the
		// store id (or the base URL) is wrong, and nothing was created.
		cause = fmt.Errorf("%w: check gateway.store_id and gateway.url", gateway.ErrConfig)
	case ae.customIDTaken():
		cause = fmt.Errorf("%w: custom_id already used", gateway.ErrConflict)
	}
	return &gateway.Error{Class: gateway.Rejected, Op: op, Code: ae.Code, Message: ae.text(),
		Err: &rejectedError{api: ae, cause: cause}}
}
