package sandbox

import (
	"fmt"
	"html/template"
	"net/http"
)

var page = template.Must(template.New("qr").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Upay sandbox · {{.SN}}</title>
<style>body{font-family:sans-serif;max-width:24em;margin:2em auto}button{font-size:1.4em;padding:.4em 1.2em;margin:.3em}</style>
</head><body>
<h1>¥{{.Amount}}</h1>
<p>{{.Subject}}<br>order {{.ClientSN}} · sn {{.SN}}</p>
<p>Status: <b id="status">{{.Status}}</b></p>
{{if .Payable}}
<form method="post" action="/sandbox/orders/{{.SN}}/pay"><button type="submit" id="pay">Pay</button></form>
<form method="post" action="/sandbox/orders/{{.SN}}/decline"><button type="submit" id="decline">Decline</button></form>
{{end}}
<p><small>posagent Upay sandbox: no real money moves.</small></p>
</body></html>
`))

// qrPage is what a phone opens when it scans a sandbox QR code.
func (s *Server) qrPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.expireLocked(s.opts.Now())
	o := s.lookupLocked(r.PathValue("sn"))
	var data map[string]any
	if o != nil {
		data = map[string]any{
			"SN": o.sn, "ClientSN": o.clientSN, "Subject": o.subject, "Status": string(o.status),
			"Amount":  fmt.Sprintf("%d.%02d", o.amount/100, o.amount%100),
			"Payable": o.status == "CREATED",
		}
	}
	s.mu.Unlock()
	if o == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, data)
}
