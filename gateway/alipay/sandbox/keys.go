package sandbox

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WriteClientKeys writes the keys a client in another process needs to
// talk to this sandbox: the app private key (PKCS#8 PEM, mode 0600) and
// the sandbox's Alipay public key (PKIX PEM), for
// alipay.Config.AppPrivateKeyFile and AlipayPublicKeyFile. It fails if the
// sandbox was given only the app's public key.
func (s *Server) WriteClientKeys(dir string) (appKeyFile, alipayPubFile string, err error) {
	if s.appPriv == nil {
		return "", "", errors.New("sandbox: the app private key is not known here (Options gave only AppPublicKey)")
	}
	priv, err := x509.MarshalPKCS8PrivateKey(s.appPriv)
	if err != nil {
		return "", "", fmt.Errorf("sandbox: %v", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&s.aliKey.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("sandbox: %v", err)
	}
	appKeyFile = filepath.Join(dir, "app_private_key.pem")
	alipayPubFile = filepath.Join(dir, "alipay_public_key.pem")
	if err := os.WriteFile(appKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600); err != nil {
		return "", "", fmt.Errorf("sandbox: %v", err)
	}
	if err := os.WriteFile(alipayPubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return "", "", fmt.Errorf("sandbox: %v", err)
	}
	return appKeyFile, alipayPubFile, nil
}
