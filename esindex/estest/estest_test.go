package estest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// validName is what Elasticsearch accepts for the names uniqueName builds.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func TestUniqueName(t *testing.T) {
	tests := []struct {
		base, test, suffix string
		want               string
	}{
		{"products", "TestKNN", "1a2b3c4d", "products-testknn-1a2b3c4d"},
		{"Products", "TestAlias/swap_two", "00ff00ff", "products-testalias-swap-two-00ff00ff"},
		{"", "TestX", "abcd0123", "idx-testx-abcd0123"},
		{"__weird base__", "Test#1", "abcd0123", "weird-base-test-1-abcd0123"},
		{"a", strings.Repeat("LongTestName", 10), "abcd0123", "a-longtestnamelongtestnamelongtestnamelong-abcd0123"},
		{strings.Repeat("b", 150), "T", "abcd0123", strings.Repeat("b", 91) + "-abcd0123"},
	}
	for _, tc := range tests {
		got := uniqueName(tc.base, tc.test, tc.suffix)
		if got != tc.want {
			t.Errorf("uniqueName(%q, %q, %q) = %q, want %q", tc.base, tc.test, tc.suffix, got, tc.want)
		}
		if !validName.MatchString(got) || len(got) > 100 {
			t.Errorf("uniqueName(%q, %q, %q) = %q is not a valid index name", tc.base, tc.test, tc.suffix, got)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:9200", "http://127.0.0.1:9200"},
		{"https://elastic:s3cret@es.example:9200", "https://elastic:***@es.example:9200"},
		{"127.0.0.1:9200", "127.0.0.1:9200"},
	}
	for _, tc := range tests {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestIndexNameCleanup checks against the real server that the cleanup
// registered by IndexName removes the named index, its "-" suffixed siblings
// and their alias, and leaves an index outside the prefix alone.
func TestIndexNameCleanup(t *testing.T) {
	es := Client(t)
	ctx := context.Background()
	var name string
	outsider := IndexName(t, "outsider")
	t.Run("inner", func(t *testing.T) {
		name = IndexName(t, "cleanup")
		for _, ix := range []string{name + "-v1", name + "-v2", outsider} {
			res, err := es.Indices.Create(ix, es.Indices.Create.WithContext(ctx))
			if err != nil {
				t.Fatalf("create %s: %v", ix, err)
			}
			if err := decode(res, nil); err != nil {
				t.Fatalf("create %s: %v", ix, err)
			}
		}
		body := `{"actions":[{"add":{"index":"` + name + `-v2","alias":"` + name + `"}},{"add":{"index":"` + outsider + `","alias":"` + name + `"}}]}`
		res, err := es.Indices.UpdateAliases(strings.NewReader(body), es.Indices.UpdateAliases.WithContext(ctx))
		if err != nil {
			t.Fatalf("alias: %v", err)
		}
		if err := decode(res, nil); err != nil {
			t.Fatalf("alias: %v", err)
		}
	})
	// A test that deletes its own index leaves its cleanup nothing to do; that
	// must not fail it (wildcards resolve to nothing, exact names to a 404).
	t.Run("deleted by the test itself", func(t *testing.T) {
		own := IndexName(t, "selfdeleted")
		res, err := es.Indices.Create(own)
		if err != nil {
			t.Fatalf("create %s: %v", own, err)
		}
		if err := decode(res, nil); err != nil {
			t.Fatalf("create %s: %v", own, err)
		}
		res, err = es.Indices.Delete([]string{own})
		if err != nil {
			t.Fatalf("delete %s: %v", own, err)
		}
		if err := decode(res, nil); err != nil {
			t.Fatalf("delete %s: %v", own, err)
		}
	})
	// The inner tests' cleanups have run now.
	for _, pattern := range []string{name, name + "-*"} {
		res, err := es.Indices.ResolveIndex([]string{pattern}, es.Indices.ResolveIndex.WithExpandWildcards("all"))
		if err != nil {
			t.Fatalf("resolve %s: %v", pattern, err)
		}
		var got struct {
			Indices []struct{ Name string } `json:"indices"`
			Aliases []struct{ Name string } `json:"aliases"`
		}
		if err := decode(res, &got); err != nil && !strings.Contains(err.Error(), "404") {
			t.Fatalf("resolve %s: %v", pattern, err)
		}
		if len(got.Indices)+len(got.Aliases) != 0 {
			t.Errorf("after cleanup %s still resolves to %+v", pattern, got)
		}
	}
	res, err := es.Indices.Exists([]string{outsider})
	if err != nil {
		t.Fatalf("exists %s: %v", outsider, err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("cleanup of %s removed the unrelated index %s (status %d)", name, outsider, res.StatusCode)
	}
}

// TestClientWithoutServer runs this test binary again against a closed port
// and checks the rule that matters for CI: without a server Client skips the
// test, unless CI is set, in which case it fails it.
func TestClientWithoutServer(t *testing.T) {
	if os.Getenv("ESTEST_CHILD") == "1" {
		Client(t)
		t.Log("Client returned without a server")
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tests := []struct {
		name     string
		ci       string
		wantFail bool
		wantText string
	}{
		{"local run skips", "", false, "--- SKIP"},
		{"CI fails", "true", true, "CI is set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestClientWithoutServer$", "-test.v")
			cmd.Env = append(os.Environ(), "ESTEST_CHILD=1", EnvURL+"="+closed, "CI="+tc.ci)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Fatalf("child failed=%v, want %v; output:\n%s", failed, tc.wantFail, out)
			}
			if !strings.Contains(string(out), tc.wantText) || !strings.Contains(string(out), "scripts/es-node start") {
				t.Errorf("child output lacks %q and the start hint:\n%s", tc.wantText, out)
			}
		})
	}
}
