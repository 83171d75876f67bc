package agent

// Failpoint, if set, is called at each point where a crash would leave the
// order store and the gateway in a different state: the crash test sets it
// to kill the process there (POSAGENT_FAILPOINT in cmd/posagent), and then
// checks that a restart reconciles every order.
//
// The points, in a sale's order:
//
//	order-created      the order is committed; nothing sent yet
//	precreate-answered the gateway created the order; not yet committed here
//	awaiting-committed the order is committed as awaiting payment
//	query-answered     a query answered; its news not yet committed
//	cancel-sent        cancel answered; the confirming query not yet sent
var Failpoint func(name string)

func failpoint(name string) {
	if Failpoint != nil {
		Failpoint(name)
	}
}
