package estest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// CA is a certificate authority made up for one test, as a cluster's HTTP CA
// is: its certificate as a PEM file and its SHA-256 fingerprint.
type CA struct {
	Cert        *x509.Certificate
	key         *ecdsa.PrivateKey
	PEMPath     string // the CA certificate as PEM, for --es-ca-cert
	Fingerprint string // SHA-256 of the CA certificate, hex, as Elasticsearch prints it
}

// NewCA makes a fresh self-signed CA whose PEM file lives in t.TempDir().
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "essync test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("estest: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, key: key, PEMPath: path, Fingerprint: fingerprint(der)}
}

// ServerCert issues a server certificate for 127.0.0.1 and localhost, chained
// with the CA certificate as a node presents it. It returns its fingerprint too.
func (ca *CA) ServerCert(t testing.TB) (tls.Certificate, string) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("estest: server certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key}, fingerprint(der)
}

// TLSProxy terminates TLS on 127.0.0.1 and forwards every request to the real
// Elasticsearch, recording the Authorization header each one carried. It lets
// tests check TLS verification and authentication end to end against the
// real node, which runs plain HTTP without security for local work.
type TLSProxy struct {
	URL             string // https://127.0.0.1:port
	CA              *CA    // signed the proxy's certificate
	LeafFingerprint string // SHA-256 of the proxy's own certificate, hex

	mu   sync.Mutex
	auth []string
}

// NewTLSProxy starts a TLS proxy to esURL with a certificate from a new CA.
// It stops when the test ends.
func NewTLSProxy(t testing.TB, esURL string) *TLSProxy {
	t.Helper()
	target, err := url.Parse(esURL)
	if err != nil {
		t.Fatalf("estest: %s: %v", redact(esURL), err)
	}
	ca := NewCA(t)
	cert, leafFP := ca.ServerCert(t)
	p := &TLSProxy{CA: ca, LeafFingerprint: leafFP}
	forward := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.auth = append(p.auth, r.Header.Get("Authorization"))
		p.mu.Unlock()
		forward.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// Failed handshakes are what some tests are about; keep them out of the log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Authorizations returns the Authorization header of every request so far,
// "" for a request without one, in arrival order.
func (p *TLSProxy) Authorizations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.auth...)
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("estest: key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
