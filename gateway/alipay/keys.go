package alipay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// The two keys have different owners, and mixing them up is the most
// reported Alipay integration error (field-notes.md): the app's private key
// signs requests, Alipay's public key (shown in the open platform console
// next to the app's public key, which you uploaded) verifies answers. Every
// error below names the role of the key it is about.

const (
	roleApp    = "the app private key"
	roleAlipay = "the Alipay public key"
)

// LoadAppPrivateKey reads the app's RSA private key from a PEM file
// (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY"). The file must not be
// readable by group or others (mode 0600 or stricter): it is the secret
// that moves money.
func LoadAppPrivateKey(path string) (*rsa.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("alipay: %s file: %w", roleApp, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("alipay: %s file %s has mode %04o; it must be readable by the service user only (chmod 600 %s)", roleApp, path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("alipay: %s file: %w", roleApp, err)
	}
	k, err := ParseAppPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return k, nil
}

// LoadAlipayPublicKey reads Alipay's RSA public key from a PEM file
// (PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY"). A public key is not a
// secret, so the file mode is not checked.
func LoadAlipayPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("alipay: %s file: %w", roleAlipay, err)
	}
	k, err := ParseAlipayPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return k, nil
}

// ParseAppPrivateKey parses the app's private key from PEM.
func ParseAppPrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	blk, err := onePEM(roleApp, pemBytes)
	if err != nil {
		return nil, err
	}
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("alipay: %s: bad PKCS#1 key: %v", roleApp, err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("alipay: %s: bad PKCS#8 key: %v", roleApp, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("alipay: %s is a %T, Alipay RSA/RSA2 needs an RSA key", roleApp, k)
		}
		return rk, nil
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		return nil, fmt.Errorf("alipay: %s file holds a public key; it needs the app's private key (the one you generated, whose public half you uploaded to Alipay)", roleApp)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("alipay: %s is encrypted; store it unencrypted with mode 0600 (openssl pkcs8 -in key.pem -nocrypt -topk8)", roleApp)
	}
	return nil, fmt.Errorf("alipay: %s: unexpected PEM block %q", roleApp, blk.Type)
}

// ParseAlipayPublicKey parses Alipay's public key from PEM.
func ParseAlipayPublicKey(pemBytes []byte) (*rsa.PublicKey, error) {
	blk, err := onePEM(roleAlipay, pemBytes)
	if err != nil {
		return nil, err
	}
	switch blk.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("alipay: %s: bad PKIX key: %v", roleAlipay, err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("alipay: %s is a %T, Alipay signs with RSA", roleAlipay, k)
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("alipay: %s: bad PKCS#1 key: %v", roleAlipay, err)
		}
		return k, nil
	case "RSA PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("alipay: %s file holds a private key; it needs Alipay's public key (open platform console, \"支付宝公钥\"), and a private key never belongs there", roleAlipay)
	case "CERTIFICATE":
		return nil, fmt.Errorf("alipay: %s file holds a certificate; certificate mode (公钥证书) is not supported, use public-key mode", roleAlipay)
	}
	return nil, fmt.Errorf("alipay: %s: unexpected PEM block %q", roleAlipay, blk.Type)
}

func onePEM(role string, b []byte) (*pem.Block, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("alipay: %s is not PEM; if you copied one base64 line from the Alipay console, wrap it in -----BEGIN ...----- / -----END ...----- lines", role)
	}
	return blk, nil
}

// checkKeys catches the key mix-ups that otherwise show up only as
// "signature does not verify" on every answer.
func checkKeys(signType string, app *rsa.PrivateKey, ali *rsa.PublicKey) error {
	if app == nil {
		return fmt.Errorf("alipay: %s is missing (Config.AppPrivateKey or AppPrivateKeyFile)", roleApp)
	}
	if ali == nil {
		return fmt.Errorf("alipay: %s is missing (Config.AlipayPublicKey or AlipayPublicKeyFile)", roleAlipay)
	}
	if app.PublicKey.Equal(ali) {
		return fmt.Errorf("alipay: %s is the app's own public key; did you load the app's own public key where Alipay's belongs? Copy \"支付宝公钥\" from the console, not \"应用公钥\"", roleAlipay)
	}
	min := 2048
	if signType == SignRSA {
		min = 1024
	}
	if app.N.BitLen() < min {
		return fmt.Errorf("alipay: %s has %d bits; %s needs at least %d", roleApp, app.N.BitLen(), signType, min)
	}
	if app.Size() > 256 {
		// sign is String(344): base64 of a 256-byte (2048-bit) signature.
		return fmt.Errorf("alipay: %s has %d bits; the sign field (String(344)) holds a 2048-bit signature at most, generate a 2048-bit key", roleApp, app.N.BitLen())
	}
	if ali.N.BitLen() < min {
		return fmt.Errorf("alipay: %s has %d bits; %s needs at least %d", roleAlipay, ali.N.BitLen(), signType, min)
	}
	return nil
}
