// Package estest gives integration tests a real Elasticsearch: a client for the
// server named by ESSYNC_ES_URL, and uniquely named indices that are deleted
// when the test ends, so tests can run in parallel and leave nothing behind.
//
// Locally, start a server with `scripts/es-node start`. Without one the tests
// skip, except when CI is set: there a missing server fails them, so CI can
// never pass by skipping its integration tests.
package estest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// EnvURL names the environment variable with the Elasticsearch URL the
// integration tests use; credentials may be given in it (http://user:pass@host:9200).
const EnvURL = "ESSYNC_ES_URL"

// DefaultURL is where scripts/es-node starts its node when ES_PORT is unset.
const DefaultURL = "http://127.0.0.1:9200"

// URL returns the Elasticsearch URL for tests: $ESSYNC_ES_URL, else DefaultURL.
func URL() string {
	if u := strings.TrimSpace(os.Getenv(EnvURL)); u != "" {
		return u
	}
	return DefaultURL
}

// Client returns a client for URL() after checking that a genuine
// Elasticsearch 8 or newer answers there. If none answers, the test fails when
// the CI environment variable is set and is skipped otherwise.
func Client(t testing.TB) *elasticsearch.Client {
	t.Helper()
	url := URL()
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:  []string{url},
		MaxRetries: 1,
		Transport:  &http.Transport{ResponseHeaderTimeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatalf("estest: client for %s: %v", redact(url), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := es.Info(es.Info.WithContext(ctx))
	if err != nil {
		unavailable(t, url, err.Error())
		return nil
	}
	defer res.Body.Close()
	if res.IsError() {
		unavailable(t, url, res.Status())
		return nil
	}
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil {
		t.Fatalf("estest: decode GET / of %s: %v", redact(url), err)
	}
	if major, _, _ := strings.Cut(info.Version.Number, "."); atoi(major) < 8 {
		t.Fatalf("estest: %s runs Elasticsearch %q; essync needs 8.x or newer", redact(url), info.Version.Number)
	}
	return es
}

func unavailable(t testing.TB, url, reason string) {
	t.Helper()
	msg := fmt.Sprintf("no Elasticsearch at %s (%s); start one with `scripts/es-node start` or set %s", redact(url), reason, EnvURL)
	if os.Getenv("CI") != "" {
		t.Fatalf("estest: %s (CI is set, so integration tests must not skip)", msg)
	}
	t.Skipf("estest: %s", msg)
}

// IndexName returns a lowercase index or alias name unique to this test, such
// as "products-testknn-1a2b3c4d", built from base and the test's name. When the
// test ends it deletes every index called that name or starting with that name
// followed by "-" (so a test may create name-v1, name-v2 and alias them as
// name), together with their aliases. It needs a server, like Client.
func IndexName(t testing.TB, base string) string {
	t.Helper()
	es := Client(t)
	name := uniqueName(base, t.Name(), randomHex(4))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := DeleteWithPrefix(ctx, es, name); err != nil {
			t.Errorf("estest: clean up indices %s*: %v", name, err)
		}
	})
	return name
}

// DeleteWithPrefix deletes the index or alias called name and every index
// whose name starts with name+"-", resolving wildcards itself so it works on
// servers where action.destructive_requires_name is true (the 8.x default).
func DeleteWithPrefix(ctx context.Context, es *elasticsearch.Client, name string) error {
	// Only a wildcard resolves to nothing (rather than 404) once the test has
	// deleted its indices itself; the matches are filtered to name and name-*.
	pattern := name + "*"
	res, err := es.Indices.ResolveIndex([]string{pattern},
		es.Indices.ResolveIndex.WithContext(ctx),
		es.Indices.ResolveIndex.WithExpandWildcards("all"))
	if err != nil {
		return fmt.Errorf("resolve %s: %w", pattern, err)
	}
	var resolved struct {
		Indices []struct {
			Name string `json:"name"`
		} `json:"indices"`
		Aliases []struct {
			Name    string   `json:"name"`
			Indices []string `json:"indices"`
		} `json:"aliases"`
	}
	if err := decode(res, &resolved); err != nil {
		return fmt.Errorf("resolve %s: %w", pattern, err)
	}
	owned := func(ix string) bool { return ix == name || strings.HasPrefix(ix, name+"-") }
	var indices []string
	for _, ix := range resolved.Indices {
		if owned(ix.Name) {
			indices = append(indices, ix.Name)
		}
	}
	if len(indices) > 0 {
		res, err := es.Indices.Delete(indices,
			es.Indices.Delete.WithContext(ctx),
			es.Indices.Delete.WithIgnoreUnavailable(true))
		if err != nil {
			return fmt.Errorf("delete %v: %w", indices, err)
		}
		if err := decode(res, nil); err != nil {
			return fmt.Errorf("delete %v: %w", indices, err)
		}
	}
	// An alias called name that points at indices outside the prefix survives
	// the deletes above; remove just the alias, never those indices.
	for _, alias := range resolved.Aliases {
		if !owned(alias.Name) {
			continue
		}
		var outside []string
		for _, ix := range alias.Indices {
			if !owned(ix) {
				outside = append(outside, ix)
			}
		}
		if len(outside) == 0 {
			continue
		}
		res, err := es.Indices.DeleteAlias(outside, []string{alias.Name}, es.Indices.DeleteAlias.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("delete alias %s: %w", alias.Name, err)
		}
		if err := decode(res, nil); err != nil && res.StatusCode != http.StatusNotFound {
			return fmt.Errorf("delete alias %s: %w", alias.Name, err)
		}
	}
	return nil
}

// uniqueName joins base, the test name and a random suffix into a valid
// Elasticsearch index name: lowercase letters, digits and "-", at most 100 bytes.
func uniqueName(base, testName, suffix string) string {
	b := sanitize(base)
	if b == "" {
		b = "idx"
	}
	tn := sanitize(testName)
	if len(tn) > 40 {
		tn = strings.TrimRight(tn[:40], "-")
	}
	parts := []string{b}
	if tn != "" {
		parts = append(parts, tn)
	}
	parts = append(parts, suffix)
	name := strings.Join(parts, "-")
	if len(name) > 100 {
		name = strings.TrimRight(b[:min(len(b), 100-len(suffix)-1)], "-") + "-" + suffix
	}
	return name
}

// sanitize lowercases s and turns every run of characters other than a-z and
// 0-9 into one "-", trimming dashes at both ends (an index name may not start
// with "-", "_" or "+").
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// atoi parses a version component, returning -1 when it is not a number.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(buf)
}

// redact hides a password given in the URL.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	if user, host, ok := strings.Cut(rest, "@"); ok {
		name, _, _ := strings.Cut(user, ":")
		return scheme + "://" + name + ":***@" + host
	}
	return url
}

// decode closes res and, for a 2xx answer, unmarshals its body into out (if
// non-nil); any other status becomes an error carrying the server's answer.
func decode(res *esapi.Response, out any) error {
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if res.IsError() {
		return fmt.Errorf("%s: %s", res.Status(), bytes.TrimSpace(body))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}
