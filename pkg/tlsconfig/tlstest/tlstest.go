// Package tlstest generates, at test time, a certificate authority and
// leaf certificates for loopback (127.0.0.1, ::1 and "localhost"), written
// as PEM files, and the LIBPROCESS_SSL_* environment that uses them.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a CA and one leaf signed by it, as files in a directory.
type PKI struct {
	CAFile   string // the CA certificate (PEM)
	CertFile string // the leaf certificate (PEM), for servers and clients
	KeyFile  string // the leaf's private key (PEM)
}

// New writes a fresh CA named name and a leaf for loopback under
// t.TempDir().
func New(t testing.TB, name string) *PKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &PKI{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
	}
	write(t, p.CAFile, "CERTIFICATE", caDER)
	write(t, p.CertFile, "CERTIFICATE", leafDER)
	write(t, p.KeyFile, "PRIVATE KEY", keyDER)
	return p
}

func write(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Env is the environment of a TLS process using p with server and client
// certificate verification on (IP addresses verified, so that loopback
// needs no reverse DNS), plus extra (which overrides).
func (p *PKI) Env(extra map[string]string) map[string]string {
	env := map[string]string{
		"LIBPROCESS_SSL_ENABLED":                    "true",
		"LIBPROCESS_SSL_CERT_FILE":                  p.CertFile,
		"LIBPROCESS_SSL_KEY_FILE":                   p.KeyFile,
		"LIBPROCESS_SSL_CA_FILE":                    p.CAFile,
		"LIBPROCESS_SSL_VERIFY_CERT":                "true",
		"LIBPROCESS_SSL_REQUIRE_CERT":               "true",
		"LIBPROCESS_SSL_VERIFY_IPADD":               "true",
		"LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME": "openssl",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// Lookup adapts an environment map to the lookup function of
// tlsconfig.FromEnv.
func Lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}
