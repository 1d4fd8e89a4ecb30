package esindex

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:9200", "http://127.0.0.1:9200"},
		{"https://elastic:s3cret@es.example:9200", "https://elastic:xxxxx@es.example:9200"},
		{"https://elastic:p@ss@es.example:9200/prefix?x=1", "https://elastic:xxxxx@es.example:9200/prefix?x=1"},
		{"https://elastic@es.example", "https://elastic@es.example"},
		{"http://elastic:s3cret@127.0.0.1:92x0", "http://elastic:xxxxx@127.0.0.1:92x0"},
		{"https://es.example/path@not-userinfo", "https://es.example/path@not-userinfo"},
		{"127.0.0.1:9200", "127.0.0.1:9200"},
	}
	for _, tc := range tests {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConfigStringHasNoSecrets(t *testing.T) {
	cfg := Config{
		URLs:     []string{"https://elastic:url-s3cret@es1:9200", "https://es2:9200"},
		Username: "elastic", Password: "flag-s3cret", APIKey: "a2V5LWlkOmtleS1zM2NyZXQ=", // key-id:key-s3cret
		RequestTimeout: 10 * time.Second,
	}
	got := cfg.String()
	for _, secret := range []string{"url-s3cret", "flag-s3cret", cfg.APIKey, "key-s3cret"} {
		if strings.Contains(got, secret) {
			t.Errorf("String() = %q shows %q", got, secret)
		}
	}
	for _, want := range []string{"https://elastic:xxxxx@es1:9200,https://es2:9200", "auth=api-key", "timeout=10s", "bulk-timeout=2m0s"} {
		if !strings.Contains(got, want) {
			t.Errorf("String() = %q does not say %q", got, want)
		}
	}
}

func TestScrubbedErrors(t *testing.T) {
	cfg := Config{URLs: []string{"http://elastic:p%40ss%2Fw0rd@127.0.0.1:9200"}, Password: "pw with space", APIKey: "a2V5LWlkOmtleS1zM2NyZXQ="}
	s := newScrubber(cfg)
	tests := []error{
		&url.Error{Op: "Get", URL: "http://elastic:p%40ss%2Fw0rd@127.0.0.1:9200/", Err: errors.New("connection refused")},
		fmt.Errorf("parse %q: invalid port", "http://elastic:p@ss/w0rd@127.0.0.1:92x0"),
		errors.New("header Authorization: APIKey a2V5LWlkOmtleS1zM2NyZXQ="),
		errors.New("password pw with space, escaped pw+with+space or pw%20with%20space"),
	}
	for _, err := range tests {
		got := s.err(err)
		for _, secret := range []string{"p%40ss%2Fw0rd", "p@ss/w0rd", "pw with space", "pw+with+space", "pw%20with%20space", cfg.APIKey, "key-s3cret"} {
			if strings.Contains(got.Error(), secret) {
				t.Errorf("scrubbed %q still shows %q", got, secret)
			}
		}
		if !errors.Is(got, err) {
			t.Errorf("scrubbed error does not unwrap to the original")
		}
	}
	if plain := errors.New("nothing secret"); s.err(plain) != plain {
		t.Error("an error without secrets was wrapped")
	}
}

func TestTimeoutFor(t *testing.T) {
	tr := &transport{request: 30 * time.Second, bulk: 2 * time.Minute}
	tests := []struct {
		path string
		want time.Duration
	}{
		{"/products-1/_bulk", 2 * time.Minute},
		{"/_bulk", 2 * time.Minute},
		{"/products-1/_count", 30 * time.Second},
		{"/_cluster/health/products-1?wait_for_status=yellow&timeout=120000ms", 150 * time.Second},
		{"/_cluster/health?timeout=5s", 35 * time.Second},
		{"/products-1?master_timeout=1m", 90 * time.Second},
		{"/x?timeout=-1", 30 * time.Second},
		{"/x?timeout=banana", 30 * time.Second},
	}
	for _, tc := range tests {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:9200"+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.timeoutFor(req); got != tc.want {
			t.Errorf("timeoutFor(%s) = %s, want %s", tc.path, got, tc.want)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	hexFP := strings.Repeat("ab", 32)
	colons := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	for _, in := range []string{hexFP, colons, " " + hexFP + "\n", "sha256 Fingerprint=" + colons} {
		if got, err := ParseFingerprint(in); err != nil || got[0] != 0xab || got[31] != 0xab {
			t.Errorf("ParseFingerprint(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "abc", hexFP[:62], hexFP + "ab", strings.Repeat("zz", 32)} {
		if _, err := ParseFingerprint(in); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted it", in)
		}
	}
}
