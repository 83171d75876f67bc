package alipay

import (
	"crypto/rsa"
	"os"
	"path/filepath"
	"testing"
)

// Performance targets (benchmarks, not timed tests). Signing is the only
// expensive step on the Enter->QR path: an RSA-2048 private-key operation.
// Target on a developer x86 core: Sign RSA2 < 5 ms/op, Verify < 0.2 ms/op,
// openResponse (scan + verify + decode) < 0.3 ms/op. Run the same
// benchmarks on the target Pi (GOARCH=arm GOARM=6 go test -c) to size the
// budget there.

func benchKey(b *testing.B) *rsa.PrivateKey {
	data, err := os.ReadFile(filepath.Join("testdata", "app_key_pkcs1.pem"))
	if err != nil {
		b.Fatal(err)
	}
	k, err := ParseAppPrivateKey(data)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkSignRSA2(b *testing.B) {
	k := benchKey(b)
	content := []byte(SignContent(vecParams(SignRSA2)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(SignRSA2, k, content); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRSA2(b *testing.B) {
	pub := fuzzKey()
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(SignRSA2, pub, []byte(vecAnswer), vecAnswerSign); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenResponse(b *testing.B) {
	pub := fuzzKey()
	body := []byte(`{"alipay_trade_precreate_response":` + vecAnswer + `,"sign":"` + vecAnswerSign + `"}`)
	v := func(c []byte, s string) error { return Verify(SignRSA2, pub, c, s) }
	b.ReportAllocs()
	for b.Loop() {
		var r precreateReply
		cm, err := openResponse("precreate", MethodPrecreate, body, v, &r)
		if err != nil || cm.Code != codeSuccess || r.QRCode == "" {
			b.Fatal(cm, err)
		}
	}
}
