package esindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Config says how to reach Elasticsearch. Secrets (Password, APIKey, a
// password in a URL) never reach logs or errors: String redacts them, and the
// client's errors are scrubbed of them.
type Config struct {
	URLs        []string // one or more node URLs; default http://127.0.0.1:9200
	Username    string
	Password    string
	APIKey      string // base64 "id:key" as Kibana shows it
	CACertPath  string // PEM file of the cluster's CA
	Fingerprint string // SHA-256 hex fingerprint of the cluster's certificate (or its CA's)
	MaxRetries  int    // per request, for 429/502/503/504 and dropped connections; default 5
	// RequestTimeout bounds every request but _bulk, from connect to the last
	// byte of the answer (extended by any ?timeout= the request asks the
	// server to wait); 0 means DefaultRequestTimeout. A request that times out
	// fails with a *TimeoutError and is retried like a dropped connection.
	RequestTimeout time.Duration
	// BulkTimeout bounds each _bulk request the same way; 0 means DefaultBulkTimeout.
	BulkTimeout time.Duration
	// IdleConnsPerHost is how many idle connections per node the client
	// keeps; 0 = Go's default of 2. A service with concurrent requests wants
	// more, or each search opens (and leaves in TIME_WAIT) a connection.
	IdleConnsPerHost int
}

// String describes the configuration without secrets, for logs and reports:
// a URL's password shows as xxxxx, as in https://elastic:xxxxx@host:9200.
func (c Config) String() string {
	auth := "none"
	switch {
	case c.APIKey != "":
		auth = "api-key"
	case c.Username != "":
		auth = "basic(" + c.Username + ")"
	}
	urls := make([]string, len(c.URLs))
	for i, u := range c.URLs {
		urls[i] = RedactURL(u)
	}
	tls := ""
	if c.CACertPath != "" {
		tls += " ca-cert=" + c.CACertPath
	}
	if c.Fingerprint != "" {
		tls += " fingerprint=" + c.Fingerprint
	}
	request, bulk := c.Timeouts()
	return newScrubber(c).text(fmt.Sprintf("urls=%s auth=%s%s timeout=%s bulk-timeout=%s", strings.Join(urls, ","), auth, tls, request, bulk))
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
	rt, err := NewTransport(cfg)
	if err != nil {
		return nil, err
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:     urls,
		Username:      cfg.Username,
		Password:      cfg.Password,
		APIKey:        cfg.APIKey,
		Transport:     rt, // TLS, timeouts and error scrubbing; see NewTransport
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    retries,
		RetryBackoff:  Backoff(100*time.Millisecond, 10*time.Second),
	})
	if err != nil {
		// A URL that does not parse is quoted whole, password included.
		return nil, newScrubber(cfg).err(fmt.Errorf("elasticsearch client: %w", err))
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
