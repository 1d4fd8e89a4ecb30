package esindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Config says how to reach Elasticsearch. Secrets (Password, APIKey) are never
// logged; String redacts them.
type Config struct {
	URLs        []string // one or more node URLs; default http://127.0.0.1:9200
	Username    string
	Password    string
	APIKey      string // base64 "id:key" as Kibana shows it
	CACertPath  string // PEM file of the cluster's CA
	Fingerprint string // SHA-256 hex fingerprint of the cluster's certificate
	MaxRetries  int    // per request, for 429/502/503/504 and dropped connections; default 5
	// Transport carries the requests; nil = Go's default, which keeps only 2
	// idle connections per node (a service with concurrent requests wants more).
	Transport *http.Transport
}

// String describes the configuration without secrets, for logs and reports.
func (c Config) String() string {
	auth := "none"
	switch {
	case c.APIKey != "":
		auth = "api-key"
	case c.Username != "":
		auth = "basic(" + c.Username + ")"
	}
	return fmt.Sprintf("urls=%s auth=%s", strings.Join(c.URLs, ","), auth)
}

// NewClient builds a client that retries overload and connection errors with
// exponential backoff and jitter, so a flaky cluster slows a run, not kills it.
func NewClient(cfg Config) (*elasticsearch.Client, error) {
	urls := cfg.URLs
	if len(urls) == 0 {
		urls = []string{"http://127.0.0.1:9200"}
	}
	retries := cfg.MaxRetries
	if retries <= 0 {
		retries = 5
	}
	esCfg := elasticsearch.Config{
		Addresses:              urls,
		Username:               cfg.Username,
		Password:               cfg.Password,
		APIKey:                 cfg.APIKey,
		CertificateFingerprint: cfg.Fingerprint,
		RetryOnStatus:          []int{429, 502, 503, 504},
		MaxRetries:             retries,
		RetryBackoff:           Backoff(100*time.Millisecond, 10*time.Second),
	}
	if cfg.Transport != nil {
		esCfg.Transport = cfg.Transport
	}
	if cfg.CACertPath != "" {
		pem, err := os.ReadFile(cfg.CACertPath)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		esCfg.CACert = pem
	}
	es, err := elasticsearch.NewClient(esCfg)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return es, nil
}

// Backoff returns an exponential backoff with full jitter: attempt n waits a
// random time up to min(max, base·2ⁿ). Jitter keeps parallel workers from
// retrying in lock-step against an overloaded cluster.
func Backoff(base, max time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base << min(attempt, 20)
		if d <= 0 || d > max {
			d = max
		}
		return d/2 + rand.N(d/2+1)
	}
}

// Ping checks that Elasticsearch answers and is version 8 or later, with an
// error that tells the user what to do when it is not.
func Ping(ctx context.Context, es *elasticsearch.Client) (version string, err error) {
	res, err := es.Info(es.Info.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("elasticsearch does not answer (%w); start it (scripts/es-node start, or docker compose up -d) or pass --es-url", err)
	}
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if err := decode(res, &info); err != nil {
		return "", fmt.Errorf("elasticsearch info: %w", err)
	}
	return info.Version.Number, nil
}

// ResponseError is an error answer from Elasticsearch.
type ResponseError struct {
	Status int
	Type   string
	Reason string
}

func (e *ResponseError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("elasticsearch answered %d %s", e.Status, e.Reason)
	}
	return fmt.Sprintf("elasticsearch answered %d %s: %s", e.Status, e.Type, e.Reason)
}

// decode reads a response into out (nil to discard) and turns error answers
// into *ResponseError. It always closes the body.
func decode(res *esapi.Response, out any) error {
	defer res.Body.Close()
	if res.IsError() {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		var e struct {
			Error struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		}
		re := &ResponseError{Status: res.StatusCode}
		if json.Unmarshal(body, &e) == nil && e.Error.Type != "" {
			re.Type, re.Reason = e.Error.Type, e.Error.Reason
		} else {
			re.Reason = strings.TrimSpace(string(body))
		}
		return re
	}
	if out == nil {
		_, err := io.Copy(io.Discard, res.Body)
		return err
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// isStatus reports whether err is an Elasticsearch answer with that status.
func isStatus(err error, status int) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.Status == status
}

// retryableStatus is true for answers that mean "try again later".
func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}
