package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/pipeline"
)

// e2eDir is the 48-photo test catalog in near-duplicate groups.
const e2eDir = "../testdata/e2e"

// shared is built once per test binary: the default model and the e2e
// catalog loaded into an index of its own (pipeline.Full), deleted at exit.
var shared struct {
	once    sync.Once
	emb     *embed.Embedder
	es      *elasticsearch.Client
	alias   string
	err     error
	cleanup []func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range shared.cleanup {
		f()
	}
	os.Exit(code)
}

// needORT fails in CI and skips locally when ONNX Runtime is missing.
func needORT(tb testing.TB) {
	tb.Helper()
	if _, err := embed.FindORTLibrary(""); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("ONNX Runtime is required in CI: %v", err)
		}
		tb.Skipf("ONNX Runtime not installed (run scripts/setup): %v", err)
	}
}

// e2eIndex returns the shared model, client and the alias holding the e2e catalog.
func e2eIndex(t *testing.T) (*embed.Embedder, *elasticsearch.Client, string) {
	t.Helper()
	estest.Client(t) // fails in CI, skips locally without a server
	needORT(t)
	shared.once.Do(func() {
		shared.emb, shared.err = defaultEmbedder()
		if shared.err != nil {
			return
		}
		shared.cleanup = append(shared.cleanup, func() { shared.emb.Close() })
		shared.es, shared.err = esindex.NewClient(esindex.Config{URLs: []string{estest.URL()}})
		if shared.err != nil {
			return
		}
		shared.alias = "serve-test-" + randomSuffix()
		shared.cleanup = append(shared.cleanup, func() {
			estest.DeleteWithPrefix(context.Background(), shared.es, shared.alias)
		})
		shared.err = loadCatalog(filepath.Join(e2eDir, "catalog.json"), shared.alias)
	})
	if shared.err != nil {
		t.Fatalf("e2e index: %v", shared.err)
	}
	return shared.emb, shared.es, shared.alias
}

func defaultEmbedder() (*embed.Embedder, error) {
	card, err := embed.LoadCardOrDefault("")
	if err != nil {
		return nil, err
	}
	return embed.New(card, embed.Options{IntraOpThreads: 2})
}

// loadCatalog runs a full sync of a catalog (images from testdata/e2e/images) into alias.
func loadCatalog(catalogPath, alias string) error {
	out, err := os.MkdirTemp("", "serve-test-out-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(out)
	_, err = pipeline.Full(context.Background(), pipeline.Config{
		CatalogPath: catalogPath,
		Catalog:     catalog.Options{ImagesDir: filepath.Join(e2eDir, "images")},
		Exact:       true,
		ES:          &esindex.Config{URLs: []string{estest.URL()}},
		Alias:       alias,
		MaxSkipped:  -1,
		OutDir:      out,
	})
	return err
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// e2eProduct is one row of the e2e catalog.
type e2eProduct struct {
	ProductID string `json:"productId"`
	ImageName string `json:"imageName"`
	Group     string `json:"group"`
	Variant   string `json:"variant"`
}

func readE2ECatalog(t testing.TB) []e2eProduct {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e2eDir, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []e2eProduct
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func e2eImage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e2eDir, "images", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newTestServer starts a Server on the alias with cfg's other fields.
func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// createModelIndex creates index with essync's mapping for vectors of dims
// from model (a fingerprint), empty: the index a full run of that model makes.
func createModelIndex(tb testing.TB, es *elasticsearch.Client, index string, dims int, model string) {
	tb.Helper()
	body, err := mappings.Render(mappings.Options{Dims: dims, Model: model})
	if err != nil {
		tb.Fatal(err)
	}
	if err := esindex.CreateIndex(context.Background(), es, index, body); err != nil {
		tb.Fatal(err)
	}
}
