package agent

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"

	"posagent/gateway/alipay"
	alipaysandbox "posagent/gateway/alipay/sandbox"
	"posagent/gateway/sandboxkit"
)

func init() { gateways["alipay"] = newAlipay }

// chaosKeys are 1024-bit keys for the in-memory chaos runs: RSA2 with
// 2048-bit keys (what the client enforces for RSA2, and what the loopback
// tests and gateway/alipay use) costs about 3 ms of signing per call, which
// is the whole of a chaos run's time. The engine's behaviour does not
// depend on the signature scheme; SHA1withRSA ("RSA", which Alipay still
// accepts and the client allows with 1024-bit keys) keeps the answers
// signed and verified, only faster.
var chaosKeys = sync.OnceValues(func() (app, ali *rsa.PrivateKey) {
	app, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	ali, err = rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	return app, ali
})

func newAlipay(t testing.TB, clock *FakeClock, w wire) sandboxed {
	opts := alipaysandbox.Options{Now: clock.Now}
	fast := w.inMemory
	if fast {
		app, ali := chaosKeys()
		opts.AppPublicKey, opts.AppPrivateKey, opts.AlipayKey = &app.PublicKey, app, ali
	}
	sb := alipaysandbox.New(opts)
	base, tr := w.connect(t, sb)
	sb.SetBaseURL(base)
	cfg := sb.ClientConfig(base)
	cfg.Transport = tr
	if fast {
		cfg.SignType = alipay.SignRSA
	}
	c, err := alipay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sx := sandboxed{gw: c, pay: sb.Pay, decline: sb.Decline, ledger: sb.Ledger, faults: sb.Faults()}
	// Personalities, once the Alipay sandbox has them.
	if p, ok := any(sb).(interface {
		SetPersonalities(...sandboxkit.Personality) error
	}); ok {
		sx.personalities = p.SetPersonalities
	}
	return sx
}
