package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// post sends body to the server's search endpoint and decodes the JSON answer.
func post(t *testing.T, url, ctype string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	res, err := http.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return decodeAnswer(t, res)
}

func get(t *testing.T, url string) (int, http.Header, map[string]any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAnswer(t, res)
}

func decodeAnswer(t *testing.T, res *http.Response) (int, http.Header, map[string]any) {
	t.Helper()
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: answer is not JSON: %q", res.Request.URL, raw)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", res.Request.URL, ct)
	}
	if res.ContentLength != int64(len(raw)) { // one write with its length, not chunked
		t.Errorf("%s: Content-Length %d for a %d-byte answer", res.Request.URL, res.ContentLength, len(raw))
	}
	return res.StatusCode, res.Header, m
}

func multipartBody(t *testing.T, field, name string, data []byte) (string, []byte) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("note", "ignored field before the image")
	fw, _ := w.CreateFormFile(field, name)
	fw.Write(data)
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

// hitIDs lists the product ids of a search answer, and checks that no
// returned source leaks the vector or essync's bookkeeping.
func hitIDs(t *testing.T, ans map[string]any, key string) []string {
	t.Helper()
	list, _ := ans[key].([]any)
	var ids []string
	for _, h := range list {
		h := h.(map[string]any)
		ids = append(ids, h["product_id"].(string))
		src, _ := h["source"].(map[string]any)
		if src["title"] == nil {
			t.Errorf("%s: source without catalog fields: %v", h["product_id"], src)
		}
		for _, leak := range []string{"image_vector", "essync", "model", "synced_at", "image_sha256", "similar"} {
			if _, ok := src[leak]; ok {
				t.Errorf("%s: source has %q", h["product_id"], leak)
			}
		}
	}
	return ids
}

func TestSearchAndSimilarAnswerTheRightProductsAndRefuseBadInput(t *testing.T) {
	emb, es, alias := e2eIndex(t)
	srv := newTestServer(t, Config{ES: es, Alias: alias, Embedder: emb, MaxBodyBytes: 200 << 10})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	search := hs.URL + "/v1/search"
	cat, rocket := e2eImage(t, "cat-crop.jpg"), e2eImage(t, "rocket-q30.jpg")

	// Raw body: the photo itself is in the index, so it comes first, then its group.
	code, _, ans := post(t, search+"?k=6", "image/jpeg", cat)
	ids := hitIDs(t, ans, "hits")
	if code != 200 || len(ids) != 6 || ids[0] != "cat-crop" || ans["model"] != emb.Fingerprint() {
		t.Fatalf("raw search: %d %v", code, ans)
	}
	if first := ans["hits"].([]any)[0].(map[string]any); first["similarity"].(float64) < 0.999 || first["score"].(float64) < 0.999 {
		t.Errorf("the photo itself scores %v, similarity %v; want 1", first["score"], first["similarity"])
	}
	for _, id := range ids[:6] {
		if !strings.HasPrefix(id, "cat-") {
			t.Errorf("raw search: %s among the cat photo's first six", id)
		}
	}
	// Multipart field "image"; default k is 10.
	ctype, body := multipartBody(t, "image", "rocket.jpg", rocket)
	code, _, ans = post(t, search, ctype, body)
	if ids := hitIDs(t, ans, "hits"); code != 200 || len(ids) != 10 || ids[0] != "rocket-q30" {
		t.Fatalf("multipart search: %d %v", code, ids)
	}
	// Filters: exact match on a text field (through .keyword) and a price range.
	code, _, ans = post(t, search+"?k=5&filter.shop=pet-prints", "image/jpeg", rocket)
	for _, h := range ans["hits"].([]any) {
		if shop := h.(map[string]any)["source"].(map[string]any)["shop"]; code != 200 || shop != "pet-prints" {
			t.Errorf("filter.shop=pet-prints gave shop %v (%d)", shop, code)
		}
	}
	code, _, ans = post(t, search+"?k=48&min.price=20&max.price=30", "image/jpeg", rocket)
	if code != 200 || len(ans["hits"].([]any)) == 0 {
		t.Fatalf("price range: %d %v", code, ans)
	}
	for _, h := range ans["hits"].([]any) {
		if p := h.(map[string]any)["source"].(map[string]any)["price"].(float64); p < 20 || p > 30 {
			t.Errorf("price %v outside 20..30", p)
		}
	}

	big := bytes.Repeat(cat, 1+(200<<10)/len(cat))
	bomb, _ := os.ReadFile("../testdata/images/broken/bomb.png")
	truncated, _ := os.ReadFile("../testdata/images/broken/truncated.jpg")
	refusals := []struct {
		name, query, ctype string
		body               []byte
		status             int
		reason             string
	}{
		{"not an image type", "", "text/plain", cat, 415, "Content-Type"},
		{"text sent as a JPEG", "", "image/jpeg", []byte("hello, this is not a photo"), 415, "not a JPEG"},
		{"pixel bomb", "", "image/png", bomb, 413, "above the limit"},
		{"body over the limit", "", "image/jpeg", big, 413, "larger than"},
		{"truncated JPEG", "", "image/jpeg", truncated, 400, "upload"},
		{"empty body", "", "image/jpeg", nil, 400, "empty"},
		{"multipart without image", "", "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--\r\n"), 400, `no field "image"`},
		{"k zero", "?k=0", "image/jpeg", cat, 400, "k="},
		{"k too big", "?k=1000", "image/jpeg", cat, 400, "k=1000"},
		{"unknown parameter", "?kk=3", "image/jpeg", cat, 400, "unknown parameter"},
		{"unknown field", "?filter.colour=red", "image/jpeg", cat, 400, "unknown catalog field"},
		{"essync's field", "?filter.similar_pi=cat-orig", "image/jpeg", cat, 400, "not a catalog field"},
		{"range on text", "?min.shop=3", "image/jpeg", cat, 400, "not a number"},
		{"word for a number", "?filter.price=cheap", "image/jpeg", cat, 400, "number field"},
	}
	for _, tc := range refusals {
		code, _, ans := post(t, search+tc.query, tc.ctype, tc.body)
		reason, _ := ans["error"].(string)
		if code != tc.status || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, reason, tc.status, tc.reason)
		}
	}

	// The stored list, with every product's catalog fields.
	code, _, ans = get(t, hs.URL+"/v1/products/cat-orig/similar?k=3")
	ids = hitIDs(t, ans, "similar")
	if code != 200 || ans["product_id"] != "cat-orig" || len(ids) != 3 || ids[0] != "cat-mirror" {
		t.Fatalf("similar: %d %v", code, ans)
	}
	if first := ans["similar"].([]any)[0].(map[string]any); first["similarity"].(float64) < 0.9 {
		t.Errorf("similar: first similarity %v", first["similarity"])
	}
	if src := ans["source"].(map[string]any); src["title"] == nil || src["image_vector"] != nil || src["similar"] != nil {
		t.Errorf("similar: product source %v", src)
	}
	// Schema 4: the offer group's size comes from the list document, its
	// id there is the product document's.
	if src := ans["source"].(map[string]any); ans["group_id"] == nil || ans["group_id"] != src["group_id"] || ans["group_size"] == nil || ans["group_size"].(float64) < 1 || src["group_size"] != nil {
		t.Errorf("similar: group %v/%v, the product's group_id %v and group_size %v; want the list document's group with the product's id and no size in the product", ans["group_id"], ans["group_size"], src["group_id"], src["group_size"])
	}
	code, _, ans = get(t, hs.URL+"/v1/products/coffee-orig/similar")
	if code != 200 || len(ans["similar"].([]any)) != 20 || ans["source"].(map[string]any)["image_name"] != "café crème-orig.jpg" {
		t.Errorf("similar of coffee-orig (all 20): %d %v", code, ans)
	}
	for path, want := range map[string]int{"/v1/products/no-such-product/similar": 404, "/v1/products/cat-orig/similar?k=x": 400, "/v1/nothing": 404} {
		if code, _, ans := get(t, hs.URL+path); code != want || ans["error"] == nil {
			t.Errorf("%s: %d %v, want %d with a reason", path, code, ans, want)
		}
	}

	// Metrics count the requests above by endpoint and status, and time the parts.
	res, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`essync_http_requests_total{code="200",endpoint="search"} 4`,
		`essync_http_requests_total{code="415",endpoint="search"} 2`,
		`essync_http_requests_total{code="404",endpoint="similar"} 1`,
		`essync_http_request_duration_seconds_count{code="200",endpoint="similar"} 2`,
		`essync_inference_duration_seconds_count`,
		`essync_elasticsearch_duration_seconds_count{op="knn"} 4`,
		`essync_elasticsearch_duration_seconds_count{op="mget"} 2`,
		`essync_healthy 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestFullQueueAnswers429WithRetryAfter(t *testing.T) {
	emb, es, alias := e2eIndex(t)
	srv := newTestServer(t, Config{ES: es, Alias: alias, Embedder: emb, QueueSize: 2})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cat := e2eImage(t, "cat-orig.jpg")
	// Two queries hold both slots (as if being decoded or inferred).
	for range 2 {
		if !srv.queue.tryAcquire() {
			t.Fatal("queue full too early")
		}
	}
	code, hdr, ans := post(t, hs.URL+"/v1/search", "image/jpeg", cat)
	if code != 429 || hdr.Get("Retry-After") == "" || !strings.Contains(ans["error"].(string), "retry") {
		t.Fatalf("full queue: %d Retry-After %q %v", code, hdr.Get("Retry-After"), ans)
	}
	srv.queue.release()
	if code, _, ans := post(t, hs.URL+"/v1/search", "image/jpeg", cat); code != 200 {
		t.Fatalf("after a slot freed: %d %v", code, ans)
	}
	srv.queue.release()
	if d := srv.queue.depth(); d != 0 {
		t.Errorf("%d slots still held after the requests ended", d)
	}
}

func TestImagesRouteCannotLeaveItsFolder(t *testing.T) {
	base := t.TempDir()
	images := filepath.Join(base, "images")
	os.MkdirAll(filepath.Join(images, "sub"), 0o755)
	os.WriteFile(filepath.Join(images, "a b.jpg"), []byte("picture-a"), 0o644)
	os.WriteFile(filepath.Join(images, "sub", "b.jpg"), []byte("picture-b"), 0o644)
	os.WriteFile(filepath.Join(base, "secret.txt"), []byte("SECRET"), 0o644)
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(images, "link-out.jpg")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("sub/b.jpg", filepath.Join(images, "link-in.jpg"))
	h, err := imagesHandler(images)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /images/", http.StripPrefix("/images/", h))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path string
		ok   string // the body wanted with a 200; "" = must not succeed
	}{
		{"/images/a%20b.jpg", "picture-a"},
		{"/images/sub/b.jpg", "picture-b"},
		{"/images/link-in.jpg", "picture-b"},
		{"/images/link-out.jpg", ""},
		{"/images/../secret.txt", ""},
		{"/images/%2e%2e/secret.txt", ""},
		{"/images/..%2fsecret.txt", ""},
		{"/images/sub/../../secret.txt", ""},
		{"/images//" + filepath.Join(base, "secret.txt"), ""},
		{"/images/" + filepath.Join(base, "secret.txt"), ""},
		{"/images/", ""},
		{"/images/sub/", ""},
	} {
		req, _ := http.NewRequest("GET", hs.URL, nil)
		req.URL.Opaque = tc.path // sent exactly as written, uncleaned
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case tc.ok != "" && (res.StatusCode != 200 || string(body) != tc.ok):
			t.Errorf("%s: %d %q, want 200 %q", tc.path, res.StatusCode, body, tc.ok)
		case tc.ok == "" && (bytes.Contains(body, []byte("SECRET")) || res.StatusCode == 200 || res.StatusCode >= 500):
			t.Errorf("%s: %d %q, want a 3xx/4xx without the file", tc.path, res.StatusCode, body)
		}
	}
}

// TestNumCandidatesSetting: a configured num_candidates smaller than k still
// answers k hits (esindex raises it to k, which Elasticsearch requires), the
// photo itself first; a value above Elasticsearch's limit is refused when the
// server is built, not on every search.
func TestNumCandidatesSetting(t *testing.T) {
	if _, err := New(Config{NumCandidates: MaxNumCandidates + 1}); err == nil || !strings.Contains(err.Error(), "num_candidates") {
		t.Errorf("NumCandidates %d: err %v, want a refusal naming num_candidates", MaxNumCandidates+1, err)
	}
	emb, es, alias := e2eIndex(t)
	for _, tc := range []struct{ candidates, k int }{{10, 6}, {10, 40}, {1000, 10}} {
		srv := newTestServer(t, Config{ES: es, Alias: alias, Embedder: emb, NumCandidates: tc.candidates})
		hs := httptest.NewServer(srv)
		code, _, ans := post(t, fmt.Sprintf("%s/v1/search?k=%d", hs.URL, tc.k), "image/jpeg", e2eImage(t, "cat-crop.jpg"))
		hs.Close()
		if ids := hitIDs(t, ans, "hits"); code != 200 || len(ids) != tc.k || ids[0] != "cat-crop" {
			t.Errorf("num_candidates %d, k %d: %d, hits %v", tc.candidates, tc.k, code, ids)
		}
	}
}
