package serve

import (
	"context"
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

// waitFor polls cond every 50 ms for up to 20 s (bounded), failing with msg.
func waitFor(t *testing.T, msg string, cond func() bool) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting: %s", msg)
}

func TestHealthFollowsTheAliasAndItsModel(t *testing.T) {
	emb, es, _ := e2eIndex(t)
	alias := estest.IndexName(t, "health")
	srv := newTestServer(t, Config{ES: es, Alias: alias, Embedder: emb, HealthEvery: 100 * time.Millisecond})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cat := e2eImage(t, "cat-orig.jpg")
	expect := func(what string, status int, reason string) {
		t.Helper()
		waitFor(t, what, func() bool {
			code, _, ans := get(t, hs.URL+"/healthz")
			r, _ := ans["reason"].(string)
			return code == status && strings.Contains(r, reason)
		})
		code, _, ans := post(t, hs.URL+"/v1/search", "image/jpeg", cat)
		if r, _ := ans["error"].(string); status != 200 && (code != 503 || !strings.Contains(r, reason)) {
			t.Errorf("%s: search answered %d %q, want 503 with %q", what, code, r, reason)
		}
	}
	expect("no alias yet", 503, "does not exist")

	// An (empty) index of this model behind the alias: healthy.
	ctx := context.Background()
	index := alias + "-1"
	createModelIndex(t, es, index, emb.Dims(), emb.Fingerprint())
	if _, err := esindex.SwapAlias(ctx, es, alias, index); err != nil {
		t.Fatal(err)
	}
	expect("alias with this model", 200, "")
	if code, _, ans := post(t, hs.URL+"/v1/search", "image/jpeg", cat); code != 200 || len(ans["hits"].([]any)) != 0 {
		t.Errorf("search on an empty index: %d %v", code, ans)
	}

	// A full run with another model swaps the alias: searches stop with the reason.
	other := alias + "-2"
	createModelIndex(t, es, other, emb.Dims(), "another-model@0123456789ab")
	if _, err := esindex.SwapAlias(ctx, es, alias, other); err != nil {
		t.Fatal(err)
	}
	expect("alias swapped to another model", 503, `"another-model@0123456789ab"`)
	if _, err := esindex.SwapAlias(ctx, es, alias, index); err != nil {
		t.Fatal(err)
	}
	expect("alias swapped back", 200, "")
}

func TestHealthWithoutElasticsearch(t *testing.T) {
	emb, _, _ := e2eIndex(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	dead.Close() // nothing listens there now
	es, err := esindex.NewClient(esindex.Config{URLs: []string{"http://" + addr}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, Config{ES: es, Alias: "products", Embedder: emb, ESTimeout: time.Second})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	code, _, ans := get(t, hs.URL+"/healthz")
	if r, _ := ans["reason"].(string); code != 503 || !strings.Contains(r, "connection refused") {
		t.Fatalf("healthz without Elasticsearch: %d %v", code, ans)
	}
	if code, _, _ := get(t, hs.URL+"/v1/products/cat-orig/similar"); code != 503 {
		t.Errorf("similar without Elasticsearch: %d", code)
	}
}

func TestRunDrainsInFlightRequestsOnShutdown(t *testing.T) {
	emb, es, alias := e2eIndex(t)
	srv := newTestServer(t, Config{ES: es, Alias: alias, Embedder: emb})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- Run(ctx, ln, srv, 30*time.Second) }()

	// A search whose upload is half sent when the shutdown begins.
	cat := e2eImage(t, "cat-orig.jpg")
	pr, pw := io.Pipe()
	type answer struct {
		code int
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/search", pr)
		req.Header.Set("Content-Type", "image/jpeg")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		res.Body.Close()
		answered <- answer{code: res.StatusCode}
	}()
	pw.Write(cat[:len(cat)/2])
	waitFor(t, "the upload to hold a queue slot", func() bool { return srv.queue.depth() == 1 })
	stop()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-ran:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	default:
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("new connections are still accepted while draining")
	}
	pw.Write(cat[len(cat)/2:])
	pw.Close()
	if a := <-answered; a.err != nil || a.code != 200 {
		t.Fatalf("in-flight search: %d %v, want 200", a.code, a.err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
