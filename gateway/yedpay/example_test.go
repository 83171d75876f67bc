package yedpay_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"posagent/gateway"
	"posagent/gateway/yedpay"
	"posagent/gateway/yedpay/sandbox"
)

// A sale against the sandbox, as the engine would make it against
// https://api.yedpay.com.
func Example() {
	srv := sandbox.New(sandbox.Options{})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	srv.SetBaseURL(ts.URL)

	c, err := yedpay.New(srv.ClientConfig(ts.URL))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	o, err := c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "T1-000042", AmountCents: 1250, Subject: "Coffee"})
	if err != nil {
		panic(err)
	}
	fmt.Println(o.Status, o.AmountCents, o.QRCode == ts.URL+"/qr/"+o.SN)

	srv.Pay("T1-000042") // the customer scans and pays
	// Once an answer gave Yedpay's own id, the order is looked up by it.
	o, err = c.Query(ctx, gateway.Ref{ClientSN: "T1-000042", SN: o.SN})
	fmt.Println(o.Status, err)
	// Output:
	// CREATED 1250 true
	// PAID <nil>
}
