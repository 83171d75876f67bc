package main

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"

	"posagent/agent"
	"posagent/gateway"
	"posagent/storage"
)

// TestCrashAtEachWritePoint kills the real binary with SIGKILL at every
// point where the database and the gateway can disagree (agent.Failpoint),
// restarts it, and checks the design's invariant once it has reconciled:
// the order is final, its state equals the gateway's, the payer was charged
// at most once and the gateway holds no order the device does not know.
func TestCrashAtEachWritePoint(t *testing.T) {
	for _, tc := range []struct {
		point string
		// before the crash: what the cashier and payer do
		drive func(r *rig, p *agentProc)
		want  agent.State
	}{
		{"order-created", typeSale, agent.Paid},
		{"precreate-answered", typeSale, agent.Paid},
		{"awaiting-committed", typeSale, agent.Paid},
		{"query-answered", func(r *rig, p *agentProc) {
			typeSale(r, p)
			sn := p.waitFor("awaiting", orderTo("awaiting_payment"))["client_sn"].(string)
			r.sb.Pay(sn) // the next query sees PAID, and the process dies before storing it
		}, agent.Paid},
		{"cancel-sent", func(r *rig, p *agentProc) {
			typeSale(r, p)
			p.waitFor("QR on screen", screen("awaiting-payment"))
			r.typeKeys("c") // the cashier cancels; the process dies after the cancel answered
		}, agent.Canceled},
	} {
		t.Run(tc.point, func(t *testing.T) {
			r := newRig(t, nil)
			r.provision()
			p := r.start("POSAGENT_FAILPOINT=" + tc.point)
			tc.drive(r, p)
			err := <-p.done
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the agent did not die by SIGKILL at %s: %v\n%s", tc.point, err, p.logText())
			}

			// The order's name, if the first run got as far as logging it.
			clientSN := ""
			for _, l := range r.sb.Ledger().Orders {
				clientSN = l.ClientSN
			}
			// Restart: reconciliation must finish the order. The payer pays
			// whenever the order is payable.
			p2 := r.start()
			if tc.want == agent.Paid && clientSN != "" {
				r.sb.Pay(clientSN)
			}
			final := p2.waitFor("the order to end", func(m map[string]any) bool {
				if m["msg"] != "order" {
					return false
				}
				clientSN = m["client_sn"].(string)
				if tc.want == agent.Paid {
					r.sb.Pay(clientSN)
				}
				return agent.State(m["to"].(string)).Final()
			})
			if got := agent.State(final["to"].(string)); got != tc.want {
				t.Fatalf("ended %s, want %s:\n%s", got, tc.want, p2.logText())
			}
			p2.cmd.Process.Signal(syscall.SIGTERM)
			if err := <-p2.done; err != nil {
				t.Fatalf("stop: %v", err)
			}
			checkLedger(t, r)
		})
	}
}

func typeSale(r *rig, p *agentProc) { r.typeKeys("3.00\r") }

// checkLedger compares the device's orders with the sandbox's ledger.
func checkLedger(t *testing.T, r *rig) {
	t.Helper()
	db, err := storage.Open(r.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	orders, err := db.ListOrders(storage.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	mine := map[string]storage.Order{}
	for _, o := range orders {
		if !o.Final {
			t.Errorf("order %s left %s", o.ClientSN, o.State)
		}
		mine[o.ClientSN] = o
	}
	if len(orders) != 1 {
		t.Errorf("%d orders on the device for one sale", len(orders))
	}
	for _, l := range r.sb.Ledger().Orders {
		o, ok := mine[l.ClientSN]
		if !ok {
			t.Errorf("gateway order %s unknown to the device", l.ClientSN)
			continue
		}
		if l.Charges > 1 {
			t.Errorf("%s charged %d times", l.ClientSN, l.Charges)
		}
		if gateway.Status(o.GatewayStatus) != l.Status {
			t.Errorf("%s: device says %s (%s), gateway %s", l.ClientSN, o.State, o.GatewayStatus, l.Status)
		}
	}
}
