package upay

import (
	"errors"
	"testing"

	"posagent/gateway"
)

// FuzzParseResponse feeds arbitrary bytes to the response parser: it must
// never panic, and every input ends either in a typed *gateway.Error or in
// an order that is complete and about the order that was asked for.
func FuzzParseResponse(f *testing.F) {
	f.Add(200, []byte(`{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"C","order_status":"PAID","total_amount":"100","net_amount":"100"}}}`))
	f.Add(200, []byte(`{"result_code":"200","biz_response":{"result_code":"PRECREATE_SUCCESS","data":{"sn":"7","client_sn":"C","order_status":"CREATED","total_amount":"1","qr_code":"https://x"}}}`))
	f.Add(200, []byte(`{"result_code":"400","error_code":"ILLEGAL_SIGN"}`))
	f.Add(200, []byte(`{"result_code":"200","biz_response":{"terminal_sn":"1","terminal_key":"k"}}`))
	f.Add(502, []byte(`<html>502</html>`))
	f.Add(200, []byte(`{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"UPAY_ORDER_NOT_EXISTS"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Class == 0 {
				t.Fatalf("untyped error %T: %v", err, err)
			}
		}
		biz, err := parseEnvelope("query", status, body)
		check(err)
		if err != nil {
			return
		}
		o, err := parseOrder("query", biz, "C")
		check(err)
		if err == nil {
			if o.ClientSN != "C" || o.AmountCents < 0 || o.NetAmountCents > o.AmountCents || o.NetAmountCents < 0 || o.Status == "" {
				t.Fatalf("accepted an inconsistent order: %+v", o)
			}
		}
		term, err := parseTerminal("checkin", biz)
		check(err)
		if err == nil && (term.SN == "" || term.Key == "") {
			t.Fatalf("accepted an empty terminal: %v", term)
		}
	})
}
