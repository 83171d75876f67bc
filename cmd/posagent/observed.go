package main

import (
	"context"

	"posagent/agent/metrics"
	"posagent/gateway"
)

// observedGateway counts the engine's failed gateway calls by operation and
// class (not sent / rejected / outcome unknown) for the fleet's metrics
// (issue 17). The transport wrapper sees only the wire; a refusal inside a
// 200 answer, or a signature that does not verify, is only known here.
type observedGateway struct {
	gateway.Gateway
	m    *metrics.Metrics
	name string
}

func observe(gw gateway.Gateway, m *metrics.Metrics, name string) gateway.Gateway {
	if m == nil {
		return gw
	}
	return &observedGateway{Gateway: gw, m: m, name: name}
}

func (g *observedGateway) Precreate(ctx context.Context, r gateway.PrecreateRequest) (gateway.Order, error) {
	o, err := g.Gateway.Precreate(ctx, r)
	g.m.GatewayError(g.name, "precreate", err)
	return o, err
}

func (g *observedGateway) Query(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	o, err := g.Gateway.Query(ctx, ref)
	g.m.GatewayError(g.name, "query", err)
	return o, err
}

func (g *observedGateway) Cancel(ctx context.Context, ref gateway.Ref) (gateway.Order, error) {
	o, err := g.Gateway.Cancel(ctx, ref)
	g.m.GatewayError(g.name, "cancel", err)
	return o, err
}

func (g *observedGateway) Refund(ctx context.Context, r gateway.RefundRequest) (gateway.Order, error) {
	o, err := g.Gateway.Refund(ctx, r)
	g.m.GatewayError(g.name, "refund", err)
	return o, err
}

// RefundIdempotent passes on the client's answer: the engine queries
// before it resends a refund to a gateway without an idempotency key
// (agent/refund.go), and must not lose that through this wrapper. A client
// without the method is taken as idempotent, as the engine takes it.
func (g *observedGateway) RefundIdempotent() bool {
	if ri, ok := g.Gateway.(interface{ RefundIdempotent() bool }); ok {
		return ri.RefundIdempotent()
	}
	return true
}
