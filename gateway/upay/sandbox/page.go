package sandbox

import (
	"fmt"

	"posagent/gateway/sandboxkit"
)

// page is what a phone opens when it scans a sandbox QR code (served by
// sandboxkit at GET /qr/{id}).
func (s *Server) page(id string) (sandboxkit.Page, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.opts.Now())
	o := s.lookupLocked(id)
	if o == nil {
		return sandboxkit.Page{}, false
	}
	return sandboxkit.Page{
		ID: o.sn, Currency: "¥", Amount: fmt.Sprintf("%d.%02d", o.amount/100, o.amount%100),
		Subject: o.subject, Lines: []string{"order " + o.clientSN + " · sn " + o.sn},
		Status: string(o.status), Payable: o.status == "CREATED",
	}, true
}
