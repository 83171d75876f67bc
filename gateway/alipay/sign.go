package alipay

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Signature types (the sign_type parameter).
const (
	// SignRSA2 is SHA256withRSA, PKCS#1 v1.5: what Alipay recommends.
	SignRSA2 = "RSA2"
	// SignRSA is SHA1withRSA, PKCS#1 v1.5, for apps still set up that way.
	SignRSA = "RSA"
)

// SignContent builds the string a request signature covers, as the open
// platform documents it: every parameter with a non-empty value except
// "sign", sorted by key (byte order), written key=value and joined with
// "&". Values are raw, NOT URL-encoded; sign_type itself is included.
func SignContent(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if k == "sign" || v == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return b.String()
}

func hashFor(signType string) (crypto.Hash, error) {
	switch signType {
	case SignRSA2:
		return crypto.SHA256, nil
	case SignRSA:
		return crypto.SHA1, nil
	}
	return 0, fmt.Errorf("alipay: sign type %q is not RSA2 or RSA", signType)
}

func digest(h crypto.Hash, content []byte) []byte {
	if h == crypto.SHA1 {
		d := sha1.Sum(content)
		return d[:]
	}
	d := sha256.Sum256(content)
	return d[:]
}

// Sign signs content with the app's private key and returns the base64
// (standard alphabet, padded) signature. PKCS#1 v1.5 is deterministic:
// the same key and content always give the same signature, which is what
// lets tests check it against independently computed vectors.
func Sign(signType string, key *rsa.PrivateKey, content []byte) (string, error) {
	h, err := hashFor(signType)
	if err != nil {
		return "", err
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, h, digest(h, content))
	if err != nil {
		return "", fmt.Errorf("alipay: signing with %s: %v", roleApp, err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// errBadSignature is wrapped by every verification failure.
var errBadSignature = errors.New("alipay: response signature does not verify with the Alipay public key")

// Verify checks a base64 signature over content with Alipay's public key.
func Verify(signType string, key *rsa.PublicKey, content []byte, sig string) error {
	h, err := hashFor(signType)
	if err != nil {
		return err
	}
	if sig == "" {
		return fmt.Errorf("%w: the answer carries no sign", errBadSignature)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: sign is not base64", errBadSignature)
	}
	if err := rsa.VerifyPKCS1v15(key, h, digest(h, content), raw); err != nil {
		return errBadSignature
	}
	return nil
}
