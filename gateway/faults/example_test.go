package faults_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"posagent/gateway/faults"
)

// A sandbox served in memory with the same seeded faults it serves on the
// wire: the chaos tests' transport. Give the client this transport and any
// base URL; nothing is dialled.
func ExampleTransport() {
	in := &faults.Injector{}
	sandbox := in.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"ok":true}`)
	}))
	in.Script(faults.DropAfter, faults.None)
	c := &http.Client{Transport: &faults.Transport{Handler: sandbox}}
	for range 2 {
		resp, err := c.Post("http://sandbox.invalid/api", "application/json", strings.NewReader("{}"))
		if err != nil {
			fmt.Println("error:", strings.Contains(err.Error(), "connection reset"))
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(b))
	}
	// Output:
	// error: true
	// 200 {"ok":true}
}
