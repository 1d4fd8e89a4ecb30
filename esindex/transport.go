package esindex

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Default request timeouts, used when Config leaves them zero.
const (
	// DefaultRequestTimeout bounds an ordinary request (settings, aliases,
	// counts, searches): connect, send, and read the whole answer.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultBulkTimeout bounds one _bulk request, which may legitimately
	// take a while on a busy cluster.
	DefaultBulkTimeout = 2 * time.Minute
)

// Timeouts returns the request and _bulk timeouts with the defaults applied.
func (c Config) Timeouts() (request, bulk time.Duration) {
	request, bulk = c.RequestTimeout, c.BulkTimeout
	if request <= 0 {
		request = DefaultRequestTimeout
	}
	if bulk <= 0 {
		bulk = DefaultBulkTimeout
	}
	return request, bulk
}

// NewTransport returns the HTTP transport every essync request goes through:
// it verifies TLS with the configured CA and/or certificate fingerprint, gives
// every request a deadline (Config.Timeouts) and removes credentials from the
// errors it returns. NewClient uses it; code that talks HTTP to the cluster
// directly should too.
func NewTransport(cfg Config) (http.RoundTripper, error) {
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsCfg
	if cfg.IdleConnsPerHost > 0 {
		base.MaxIdleConnsPerHost = cfg.IdleConnsPerHost
		base.MaxIdleConns = 2 * cfg.IdleConnsPerHost
	}
	request, bulk := cfg.Timeouts()
	return &transport{base: base, request: request, bulk: bulk, scrub: newScrubber(cfg), caPath: cfg.CACertPath}, nil
}

// tlsConfig builds the TLS settings: the CA file as the only trusted root when
// given, and a pinned SHA-256 fingerprint (of the server's certificate or of
// any certificate in its chain, usually the cluster's HTTP CA) when given.
// With a fingerprint and no CA file the chain is not checked against any CA:
// the fingerprint alone identifies the server, as Elasticsearch's own
// enrollment does.
func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACertPath != "" {
		pem, err := os.ReadFile(cfg.CACertPath)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate (--es-ca-cert): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s (--es-ca-cert) holds no PEM certificate: pass the cluster's CA file, e.g. config/certs/http_ca.crt of the node", cfg.CACertPath)
		}
		tc.RootCAs = pool
	}
	if cfg.Fingerprint != "" {
		want, err := ParseFingerprint(cfg.Fingerprint)
		if err != nil {
			return nil, err
		}
		tc.InsecureSkipVerify = cfg.CACertPath == "" // the pin replaces the CA check
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			var got []string
			for _, cert := range cs.PeerCertificates {
				sum := sha256.Sum256(cert.Raw)
				if sum == want {
					return nil
				}
				got = append(got, hex.EncodeToString(sum[:]))
			}
			return &FingerprintError{Want: hex.EncodeToString(want[:]), Got: got}
		}
	}
	return tc, nil
}

// ParseFingerprint reads a SHA-256 certificate fingerprint as Elasticsearch
// prints it (64 hex digits) or as openssl does (pairs separated by colons).
func ParseFingerprint(s string) ([32]byte, error) {
	var out [32]byte
	clean := strings.ToLower(strings.TrimSpace(s))
	if _, after, ok := strings.Cut(clean, "fingerprint="); ok { // openssl's "sha256 Fingerprint=AB:CD:…"
		clean = after
	}
	clean = strings.NewReplacer(":", "", " ", "").Replace(clean)
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != len(out) {
		return out, fmt.Errorf("certificate fingerprint %q (--es-fingerprint) is not a SHA-256 fingerprint: want 64 hex digits (colons allowed), as `openssl x509 -noout -fingerprint -sha256 -in http_ca.crt` prints it", s)
	}
	copy(out[:], b)
	return out, nil
}

// FingerprintError says the server presented no certificate with the
// configured fingerprint: either the fingerprint is wrong or the server is not
// the one the user meant.
type FingerprintError struct {
	Want string   // the configured fingerprint, hex
	Got  []string // fingerprints of the certificates the server presented, leaf first
}

func (e *FingerprintError) Error() string {
	return fmt.Sprintf("the server's certificates do not match --es-fingerprint %s (it presented %s): check the fingerprint "+
		"(on the node: openssl x509 -noout -fingerprint -sha256 -in config/certs/http_ca.crt) and that --es-url names your cluster; "+
		"never just copy the presented one unless you know the certificate changed", e.Want, strings.Join(e.Got, ", "))
}

// TLSError is a failed TLS handshake with advice on what to check.
type TLSError struct {
	Advice string
	Err    error
}

func (e *TLSError) Error() string { return e.Advice + " (" + e.Err.Error() + ")" }
func (e *TLSError) Unwrap() error { return e.Err }

// TimeoutError is a request that got no complete answer within its timeout.
type TimeoutError struct {
	Method, Path string
	After        time.Duration
	Flag         string // the flag that sets this timeout
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s %s: no answer within %s (raise %s if the cluster is just slow)", e.Method, e.Path, e.After, e.Flag)
}

// Is makes errors.Is(err, context.DeadlineExceeded) true, as for any deadline.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// transport is the RoundTripper NewTransport returns.
type transport struct {
	base          *http.Transport
	request, bulk time.Duration
	scrub         scrubber
	caPath        string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	timeout := t.timeoutFor(req)
	te := &TimeoutError{Method: req.Method, Path: req.URL.Path, After: timeout, Flag: "--es-timeout"}
	if strings.HasSuffix(req.URL.Path, "/_bulk") {
		te.Flag = "--bulk-timeout"
	}
	parent := req.Context()
	ctx, cancel := context.WithTimeoutCause(parent, timeout, te)
	res, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, t.explain(err, parent, ctx)
	}
	res.Body = &deadlineBody{ReadCloser: res.Body, cancel: cancel, explain: func(err error) error { return t.explain(err, parent, ctx) }}
	return res, nil
}

// timeoutFor is the request's deadline: the bulk timeout for _bulk, else the
// ordinary one, extended by any wait the request asks the server for
// (?timeout=2m on cluster health, say) so the server can answer first.
func (t *transport) timeoutFor(req *http.Request) time.Duration {
	if strings.HasSuffix(req.URL.Path, "/_bulk") {
		return t.bulk
	}
	d := t.request
	q := req.URL.Query()
	for _, name := range []string{"timeout", "master_timeout", "wait_for_completion_timeout"} {
		if wait, ok := parseESDuration(q.Get(name)); ok && wait+t.request > d {
			d = wait + t.request
		}
	}
	return d
}

// explain turns a transport error into one that says what happened and what
// to check, without credentials.
func (t *transport) explain(err error, parent, ctx context.Context) error {
	var te *TimeoutError
	if parent.Err() == nil && errors.As(context.Cause(ctx), &te) {
		return te
	}
	var fe *FingerprintError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var plain tls.RecordHeaderError
	switch {
	case errors.As(err, &fe):
		return t.scrub.err(fe)
	case errors.As(err, &unknown) && t.caPath != "":
		err = &TLSError{Advice: fmt.Sprintf("the server's certificate is not signed by the CA in --es-ca-cert %s: check that the file is your cluster's HTTP CA (config/certs/http_ca.crt on the node) and that --es-url names your cluster", t.caPath), Err: err}
	case errors.As(err, &unknown):
		err = &TLSError{Advice: "the server's certificate is signed by a CA this machine does not trust: pass the cluster's CA with --es-ca-cert or its SHA-256 fingerprint with --es-fingerprint", Err: err}
	case errors.As(err, &host):
		err = &TLSError{Advice: fmt.Sprintf("the server's certificate does not name %q: connect with a host name or IP address the certificate lists", host.Host), Err: err}
	case errors.As(err, &invalid):
		err = &TLSError{Advice: "the server's certificate is not valid (expired, or not meant for a server): renew it on the cluster", Err: err}
	case errors.As(err, &plain) && string(plain.RecordHeader[:]) == "HTTP/":
		err = &TLSError{Advice: "the server speaks plain HTTP: use http:// in --es-url", Err: err}
	case errors.As(err, &plain):
		err = &TLSError{Advice: "the server does not speak TLS on that port: check the scheme and port in --es-url", Err: err}
	}
	return t.scrub.err(err)
}

// deadlineBody keeps the request's deadline until the answer is read and
// closed, and explains a read cut short by it.
type deadlineBody struct {
	io.ReadCloser
	cancel  context.CancelFunc
	explain func(error) error
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = b.explain(err)
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// parseESDuration reads an Elasticsearch time value ("30s", "2m", "500ms",
// "120000ms", "1h", "1d"); ok is false for anything else, "-1" included.
func parseESDuration(s string) (time.Duration, bool) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n < 0 {
				return 0, false
			}
			return time.Duration(n) * u.unit, true
		}
	}
	return 0, false
}
