package esindex_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

// TestTLSVerification puts a TLS-terminating proxy in front of the real node
// and checks that --es-ca-cert and --es-fingerprint accept the right server,
// refuse a wrong CA or fingerprint with advice on what to check, and that a
// request really reaches Elasticsearch through the verified connection.
func TestTLSVerification(t *testing.T) {
	estest.Client(t) // the real node must answer (skip or fail like every integration test)
	proxy := estest.NewTLSProxy(t, estest.URL())
	index := estest.IndexName(t, "tls")
	plain, err := esindex.NewClient(esindex.Config{URLs: []string{estest.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := esindex.CreateIndex(context.Background(), plain, index, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	otherCA := estest.NewCA(t)
	colons := func(hexFP string) string {
		var parts []string
		for i := 0; i < len(hexFP); i += 2 {
			parts = append(parts, strings.ToUpper(hexFP[i:i+2]))
		}
		return strings.Join(parts, ":")
	}
	tests := []struct {
		name        string
		url         string
		ca, fp      string
		wantErr     []string // substrings of the error; none: must succeed
		wantTLSFail bool
	}{
		{name: "CA file", url: proxy.URL, ca: proxy.CA.PEMPath},
		{name: "CA fingerprint", url: proxy.URL, fp: proxy.CA.Fingerprint},
		{name: "leaf fingerprint, openssl style", url: proxy.URL, fp: colons(proxy.LeafFingerprint)},
		{name: "CA file and fingerprint", url: proxy.URL, ca: proxy.CA.PEMPath, fp: proxy.CA.Fingerprint},
		{name: "localhost is named in the certificate", url: strings.Replace(proxy.URL, "127.0.0.1", "localhost", 1), ca: proxy.CA.PEMPath},
		{name: "wrong CA file", url: proxy.URL, ca: otherCA.PEMPath,
			wantErr: []string{"not signed by the CA in --es-ca-cert " + otherCA.PEMPath, "http_ca.crt"}},
		{name: "wrong fingerprint", url: proxy.URL, fp: otherCA.Fingerprint,
			wantErr: []string{"do not match --es-fingerprint " + otherCA.Fingerprint, proxy.CA.Fingerprint, "check the fingerprint"}},
		{name: "right fingerprint, wrong CA file", url: proxy.URL, ca: otherCA.PEMPath, fp: proxy.CA.Fingerprint,
			wantErr: []string{"not signed by the CA in --es-ca-cert"}},
		{name: "neither: the system does not trust the test CA", url: proxy.URL,
			wantErr: []string{"--es-ca-cert", "--es-fingerprint", "does not trust"}},
		{name: "https to a plain HTTP node", url: strings.Replace(estest.URL(), "http://", "https://", 1),
			wantErr: []string{"plain HTTP", "use http://"}},
		{name: "fingerprint that is not one", url: proxy.URL, fp: "abc",
			wantErr: []string{"not a SHA-256 fingerprint", "64 hex digits"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(estest.URL(), "https://") && tc.name == "https to a plain HTTP node" {
				t.Skip("the test node itself speaks TLS")
			}
			cfg := esindex.Config{URLs: []string{tc.url}, CACertPath: tc.ca, Fingerprint: tc.fp, MaxRetries: 1}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			es, err := esindex.NewClient(cfg)
			var version string
			if err == nil {
				version, err = esindex.Ping(ctx, es)
			}
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				if !strings.HasPrefix(version, "8.") && !strings.HasPrefix(version, "9.") {
					t.Errorf("version %q through the proxy", version)
				}
				// A real API call through the verified connection.
				if n, err := esindex.Count(ctx, es, index); err != nil || n != 0 {
					t.Errorf("count of %s through the proxy: %d, %v", index, n, err)
				} else if _, err := esindex.Count(ctx, es, index+"-missing"); err == nil {
					t.Errorf("count of a missing index through the proxy succeeded")
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error with %q, got success (version %s)", tc.wantErr, version)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not say %q", err, want)
				}
			}
		})
	}
}

// TestAuthHeaders checks that each way of passing credentials reaches the
// server as the right Authorization header (the TLS proxy records them),
// while the requests succeed against the real node.
func TestAuthHeaders(t *testing.T) {
	estest.Client(t)
	proxy := estest.NewTLSProxy(t, estest.URL())
	withUser := func(raw, user string) string { return strings.Replace(raw, "https://", "https://"+user+"@", 1) }
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	apiKey := base64.StdEncoding.EncodeToString([]byte("key-id:key-secret-4711"))
	tests := []struct {
		name string
		cfg  esindex.Config
		want string
	}{
		{"none", esindex.Config{}, ""},
		{"basic auth flags", esindex.Config{Username: "elastic", Password: "pw-s3cret"}, basic("elastic", "pw-s3cret")},
		{"basic auth in the URL", esindex.Config{URLs: []string{withUser(proxy.URL, "reader:url-s3cret")}}, basic("reader", "url-s3cret")},
		{"API key", esindex.Config{APIKey: apiKey}, "APIKey " + apiKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if len(cfg.URLs) == 0 {
				cfg.URLs = []string{proxy.URL}
			}
			cfg.CACertPath = proxy.CA.PEMPath
			before := len(proxy.Authorizations())
			es, err := esindex.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := esindex.Ping(context.Background(), es); err != nil {
				t.Fatalf("ping through the proxy: %v", err)
			}
			got := proxy.Authorizations()[before:]
			if len(got) == 0 {
				t.Fatal("the proxy saw no request")
			}
			for _, h := range got {
				if h != tc.want {
					t.Errorf("Authorization %q, want %q", h, tc.want)
				}
			}
		})
	}
}

// TestPingChecksTheServer answers GET / like servers essync must refuse (a
// loopback server for this check only) and checks each refusal says what was
// found; the real node passes.
func TestPingChecksTheServer(t *testing.T) {
	tests := []struct {
		name    string
		header  string // X-Elastic-Product
		status  int
		body    string
		wantErr []string
	}{
		{"Elasticsearch 7.17", "Elasticsearch", 200,
			`{"name":"n","cluster_name":"c","version":{"number":"7.17.25","build_flavor":"default","lucene_version":"8.11.3"},"tagline":"You Know, for Search"}`,
			[]string{"Elasticsearch 7.17.25", "8.0 or later"}},
		{"Elasticsearch 6.8 (no product header yet)", "", 200,
			`{"version":{"number":"6.8.23"},"tagline":"You Know, for Search"}`,
			[]string{"Elasticsearch 6.8.23", "8.0 or later"}},
		{"OpenSearch", "", 200,
			`{"version":{"distribution":"opensearch","number":"2.11.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`,
			[]string{"opensearch 2.11.0", "not Elasticsearch"}},
		{"8.x without the product header", "", 200, `{"version":{"number":"8.15.0"}}`,
			[]string{"X-Elastic-Product", "not Elasticsearch"}},
		{"some other web server", "", 200, `<html>hello</html>`, []string{"no version", "--es-url"}},
		{"wrong credentials", "Elasticsearch", 401, `{"error":{"type":"security_exception"}}`,
			[]string{"refused the credentials", "--es-api-key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("X-Elastic-Product", tc.header)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			es, err := esindex.NewClient(esindex.Config{URLs: []string{srv.URL}, MaxRetries: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = esindex.Ping(context.Background(), es)
			if err == nil {
				t.Fatalf("Ping accepted it")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not say %q", err, want)
				}
			}
		})
	}
	t.Run("the real node", func(t *testing.T) {
		estest.Client(t)
		es, err := esindex.NewClient(esindex.Config{URLs: []string{estest.URL()}})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := esindex.Ping(context.Background(), es); err != nil {
			t.Errorf("Ping of the real node: %v", err)
		} else if !strings.HasPrefix(v, "8.") && !strings.HasPrefix(v, "9.") {
			t.Errorf("version %q", v)
		}
	})
}

// blackHole accepts connections and never answers, like a hung node.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); close(done) })
	return "http://" + ln.Addr().String()
}

// TestRequestTimeouts checks that a request without an answer ends with a
// *TimeoutError naming the flag to raise: an ordinary request against a node
// that never answers, and a _bulk request the fault proxy holds in front of
// the real node (which answers everything else).
func TestRequestTimeouts(t *testing.T) {
	t.Run("ordinary request", func(t *testing.T) {
		es, err := esindex.NewClient(esindex.Config{URLs: []string{blackHole(t)}, MaxRetries: 1, RequestTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = esindex.Ping(context.Background(), es)
		var te *esindex.TimeoutError
		if !errors.As(err, &te) || te.Flag != "--es-timeout" || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a TimeoutError for --es-timeout", err)
		}
		if !strings.Contains(err.Error(), "no answer within 300ms") {
			t.Errorf("error %q does not say how long it waited", err)
		}
	})
	t.Run("bulk request", func(t *testing.T) {
		estest.Client(t)
		index := estest.IndexName(t, "timeout")
		proxy := estest.NewFaultProxy(t, estest.URL(), []estest.Fault{estest.Stall, estest.Stall})
		es, err := esindex.NewClient(esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1, BulkTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := esindex.Ping(context.Background(), es); err != nil {
			t.Fatalf("ordinary requests pass the proxy: %v", err)
		}
		res, err := es.Bulk(strings.NewReader(`{"index":{"_id":"a"}}`+"\n"+`{"x":1}`+"\n"), es.Bulk.WithIndex(index))
		if err == nil {
			res.Body.Close()
			t.Fatalf("a held _bulk answered %s", res.Status())
		}
		var te *esindex.TimeoutError
		if !errors.As(err, &te) || te.Flag != "--bulk-timeout" || te.After != 500*time.Millisecond {
			t.Fatalf("got %v, want a TimeoutError for --bulk-timeout", err)
		}
		if n := proxy.Count(estest.Stall); n != 2 {
			t.Errorf("%d held requests, want 2 (the request and its one retry)", n)
		}
	})
	t.Run("a caller's own deadline is not reported as a timeout", func(t *testing.T) {
		es, err := esindex.NewClient(esindex.Config{URLs: []string{blackHole(t)}, MaxRetries: 1, RequestTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err = esindex.Ping(ctx, es)
		var te *esindex.TimeoutError
		if errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the caller's context.DeadlineExceeded", err)
		}
	})
}
