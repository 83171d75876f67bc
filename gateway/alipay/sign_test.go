package alipay

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The vectors below were computed with OpenSSL 3.0, independently of this
// package, from the keys in testdata (generated with `openssl genrsa`):
//
//	printf '%s' "$CONTENT" | openssl dgst -sha256 -sign testdata/app_key_pkcs1.pem | base64 -w0
//
// CONTENT is the sign string written out by hand from the documented rule
// (non-empty parameters except sign, sorted, k=v joined by &, not
// URL-encoded), using the common parameters of seed 002's sample.
const (
	vecContentRSA2 = `app_id=2014072300007148&biz_content={"out_trade_no":"20150320010101001","subject":"当面付二维码支付","total_amount":"88.88"}&charset=utf-8&method=alipay.trade.precreate&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0`
	vecSignRSA2    = "ew66xr4kp3T2azWepSvAxvPJfy+OB3ecYPiNcGFqdPTCvyVMaQltX6qabaRZQmI7NUdX8rn2ioUsU28iOfioRzC1FerXE5U+M/UwxQpCihVUl2z+TiGKTnIgBj0kWXKP+X5lbzlUSRqHzR6/Z+z4VDaxzDmK8Uj8b1TUEuxXzgj1ThnjtbILKlyj1Zd8+LnoNB+rH04w36K1R3CcsI+YJPsbOSh06YMk3C/gPDJY4TnnJDZt8JyRv468LmvGQvkF1HHwBWkY1jQpeLaBPzhjvDYnZrEqUoE0bOdRqJ9iQREjFlNtyLUKpuFuUz4BaL+mgbIC6CO/jccGNlcsPL+MOA=="
	// Same with sign_type=RSA, signed with -sha1.
	vecSignRSA = "Wsf6CpS+Qjvu9+Lt9ZxJxIEnaQ5Aac/mpVenNs3BUluIDFDYiUJECWLCPbK6pOa42Q+gGTQd80Y+ydGm9I1kX3p/VirWqSpNr6Gb5i08mslt51vAaGmeB24nZ/cMn4M5pz3MKXCYQGX2BkItnasbhGkZV1pzgW8p/spiGbAruP4IJj4CyMNJegRHyLBuy/CFCrlZWIaWGTpWVloXoo/HW7q2C5JJsSRF5qf6fp+Me6teXWWU4pYX/USOqSNccRlo2h2wrwxQOXX+945OH8hIUrIfrNrYB7Zz/V6qtG8PxB4nhVe9Nv4sok5T1qV0NhD/qwxNkFcZR3jW+RYHCc29pg=="
	// An answer value with Alipay's "\/" escapes, signed with
	// testdata/alipay_key_pkcs1.pem (-sha256).
	vecAnswer     = `{"code":"10000","msg":"Success","out_trade_no":"6141161365682511","qr_code":"https:\/\/qr.alipay.com\/bax03206ug0kulveltqc80a8"}`
	vecAnswerSign = "evEHiwM0EFjSxT14jWs8u9FVntkwMgTWrhJfe2Bb12xK5Zzpq89fNFKJu8XOtm8qncwzZBHuA7Kj1N5ZLXnbEmiJEKnkiesbapRsrzDlegi5sZupYO8rWHdMojTvJXNmhqEyOnzouUUBEJspxDEArg8mfXzBTUtNESdp7Sot62Cr6CmYRYdj2wVk7ZIgEdYBo9c7i9ZQW8TRhamLcDjUHTR9nt8WsUopAAveWdZJ+gK161fw5mr7YsTp8/kXjgwzuFZ+OpomZzkhGW4xvx4Ojg7f80+U0fAO8n1ui/h6f+Yfq+umWP5WacD3poM/Ie4voBt9FUzni9okVqahPW4WJg=="
)

func vecParams(signType string) map[string]string {
	return map[string]string{
		"method":         "alipay.trade.precreate",
		"app_id":         "2014072300007148",
		"charset":        "utf-8",
		"sign_type":      signType,
		"sign":           "must-not-be-signed",
		"timestamp":      "2014-07-24 03:07:50",
		"version":        "1.0",
		"app_auth_token": "", // empty: left out
		"biz_content":    `{"out_trade_no":"20150320010101001","subject":"当面付二维码支付","total_amount":"88.88"}`,
	}
}

// copyKey puts a testdata key in a temp file with the given mode (git does
// not keep file modes).
func copyKey(t *testing.T, name string, mode os.FileMode) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignContentMatchesDocumentedRule(t *testing.T) {
	if got := SignContent(vecParams("RSA2")); got != vecContentRSA2 {
		t.Fatalf("sign content\n got %s\nwant %s", got, vecContentRSA2)
	}
}

func TestSignMatchesOpenSSLVectors(t *testing.T) {
	for _, name := range []string{"app_key_pkcs1.pem", "app_key_pkcs8.pem"} {
		key, err := LoadAppPrivateKey(copyKey(t, name, 0o600))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []struct{ typ, want string }{{SignRSA2, vecSignRSA2}, {SignRSA, vecSignRSA}} {
			got, err := Sign(v.typ, key, []byte(SignContent(vecParams(v.typ))))
			if err != nil {
				t.Fatal(err)
			}
			if got != v.want {
				t.Errorf("%s %s: signature\n got %s\nwant %s", name, v.typ, got, v.want)
			}
		}
	}
}

func TestVerifyOpenSSLAnswer(t *testing.T) {
	for _, name := range []string{"alipay_pub.pem", "alipay_pub_pkcs1.pem"} {
		pub, err := LoadAlipayPublicKey(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(SignRSA2, pub, []byte(vecAnswer), vecAnswerSign); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The same answer re-serialised without "\/" must not verify:
		// that is why answers are kept raw.
		if err := Verify(SignRSA2, pub, []byte(strings.ReplaceAll(vecAnswer, `\/`, `/`)), vecAnswerSign); err == nil {
			t.Fatal("re-serialised answer verified")
		}
		if err := Verify(SignRSA, pub, []byte(vecAnswer), vecAnswerSign); err == nil {
			t.Fatal("RSA2 signature verified as RSA (SHA1)")
		}
	}
	// A stdlib check written apart from Verify, as a second reader.
	pub, _ := LoadAlipayPublicKey(filepath.Join("testdata", "alipay_pub.pem"))
	sig, _ := base64.StdEncoding.DecodeString(vecAnswerSign)
	d := sha256.Sum256([]byte(vecAnswer))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
		t.Fatal(err)
	}
}

func TestKeyRoleErrors(t *testing.T) {
	if _, err := LoadAppPrivateKey(copyKey(t, "app_key_pkcs1.pem", 0o644)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable private key: %v", err)
	}
	if _, err := LoadAlipayPublicKey(copyKey(t, "alipay_key_pkcs1.pem", 0o600)); err == nil || !strings.Contains(err.Error(), "Alipay public key file holds a private key") {
		t.Errorf("private key as Alipay key: %v", err)
	}
	if _, err := LoadAppPrivateKey(copyKey(t, "app_pub.pem", 0o600)); err == nil || !strings.Contains(err.Error(), "app private key file holds a public key") {
		t.Errorf("public key as app key: %v", err)
	}
	if _, err := ParseAlipayPublicKey([]byte("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")); err == nil || !strings.Contains(err.Error(), "not PEM") {
		t.Errorf("bare base64: %v", err)
	}
	app, err := LoadAppPrivateKey(copyKey(t, "app_key_pkcs8.pem", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	appPub, err := LoadAlipayPublicKey(filepath.Join("testdata", "app_pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{AppID: "2014072300007148", AppPrivateKey: app, AlipayPublicKey: appPub})
	if err == nil || !strings.Contains(err.Error(), "did you load the app's own public key where Alipay's belongs?") {
		t.Errorf("app public key as Alipay key: %v", err)
	}
	_, err = New(Config{AppID: "2014072300007148", AppPrivateKeyFile: copyKey(t, "app_key_pkcs1.pem", 0o600), AlipayPublicKeyFile: filepath.Join("testdata", "alipay_pub.pem")})
	if err != nil {
		t.Errorf("good key files: %v", err)
	}
}

func TestYuan(t *testing.T) {
	for _, v := range []struct {
		s     string
		cents int64
	}{{"88.88", 8888}, {"80", 8000}, {"0.1", 10}, {"0.01", 1}, {"999999.99", 99999999}} {
		got, err := ParseYuan(v.s)
		if err != nil || got != v.cents {
			t.Errorf("ParseYuan(%q) = %d, %v; want %d", v.s, got, err, v.cents)
		}
	}
	for _, s := range []string{"", ".5", "1.", "1.234", "-1", "+1", "1e3", "1,00", " 1", "99999999999999999"} {
		if _, err := ParseYuan(s); err == nil {
			t.Errorf("ParseYuan(%q) accepted", s)
		}
	}
	for cents, want := range map[int64]string{1: "0.01", 8888: "88.88", 8000: "80.00", MaxAmountCents: "999999.99"} {
		if got := FormatYuan(cents); got != want {
			t.Errorf("FormatYuan(%d) = %q, want %q", cents, got, want)
		}
	}
}

var fuzzKey = sync.OnceValue(func() *rsa.PublicKey {
	k, err := ParseAlipayPublicKey(mustRead("testdata/alipay_pub.pem"))
	if err != nil {
		panic(err)
	}
	return k
})

func mustRead(p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return b
}

func TestOversizedKeyRefused(t *testing.T) {
	big, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{AppID: "2014072300007148", AppPrivateKey: big, AlipayPublicKey: fuzzKey()})
	if err == nil || !strings.Contains(err.Error(), "String(344)") {
		t.Fatalf("3072-bit app key: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	app, err := ParseAppPrivateKey(mustRead("testdata/app_key_pkcs8.pem"))
	if err != nil {
		t.Fatal(err)
	}
	good := Config{AppID: "2014072300007148", AppPrivateKey: app, AlipayPublicKey: fuzzKey()}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"ftp url":        func(c *Config) { c.BaseURL = "ftp://openapi.alipay.com/gateway.do" },
		"no host":        func(c *Config) { c.BaseURL = "https:///gateway.do" },
		"sign type":      func(c *Config) { c.SignType = "MD5" },
		"no app id":      func(c *Config) { c.AppID = "" },
		"long app id":    func(c *Config) { c.AppID = strings.Repeat("1", 33) },
		"long terminal":  func(c *Config) { c.TerminalID = strings.Repeat("t", 33) },
		"long token":     func(c *Config) { c.AppAuthToken = strings.Repeat("t", 41) },
		"16 days":        func(c *Config) { c.OrderTimeout = 16 * 24 * time.Hour },
		"negative":       func(c *Config) { c.OrderTimeout = -time.Minute },
		"no app key":     func(c *Config) { c.AppPrivateKey = nil },
		"no alipay key":  func(c *Config) { c.AlipayPublicKey = nil },
		"missing file":   func(c *Config) { c.AppPrivateKey, c.AppPrivateKeyFile = nil, "/nonexistent/key.pem" },
		"missing pubkey": func(c *Config) { c.AlipayPublicKey, c.AlipayPublicKeyFile = nil, "/nonexistent/pub.pem" },
	} {
		cfg := good
		mut(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), "alipay: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
