package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/pipeline"
)

var e2eDir = filepath.Join("..", "testdata", "e2e")

// e2eConfig is a full run of the 48-product near-duplicate catalog into a
// fresh alias of the real Elasticsearch, exact neighbours, private cache.
func e2eConfig(t *testing.T, alias string) pipeline.Config {
	t.Helper()
	return pipeline.Config{
		CatalogPath: filepath.Join(e2eDir, "catalog.json"),
		Catalog:     catalog.Options{ImagesDir: filepath.Join(e2eDir, "images")},
		Exact:       true,
		ES:          &esindex.Config{URLs: []string{estest.URL()}},
		Alias:       alias,
		Keep:        1,
		MaxSkipped:  -1,
		OutDir:      t.TempDir(),
		StateDir:    t.TempDir(),
	}
}

// storedDoc is the part of a product document the tests look at, with
// its list from the similar index.
type storedDoc struct {
	ProductID string    `json:"product_id"`
	Group     string    `json:"group"`
	Title     string    `json:"title"`
	Price     float64   `json:"price"`
	Vector    []float32 `json:"image_vector"`
	SimilarPI []string  `json:"similar_pi"`
	Similar   []struct {
		PI         string  `json:"pi"`
		Similarity float32 `json:"similarity"`
	} `json:"similar"`
	Essync struct {
		Model       string `json:"model"`
		ImageSHA256 string `json:"image_sha256"`
		SyncedAt    string `json:"synced_at"`
	} `json:"essync"`
}

// readAll returns every product document behind alias, by id, each with
// the similar lists of its list document behind alias-similar. It fails
// the test unless every product has exactly one list document and every
// list document its product, and no product document carries a list.
func readAll(t *testing.T, es *elasticsearch.Client, alias string) map[string]storedDoc {
	t.Helper()
	out := map[string]storedDoc{}
	err := esindex.Scan(context.Background(), es, alias, nil, 500, func(d esindex.StoredDoc) error {
		var doc storedDoc
		if err := json.Unmarshal(d.Source, &doc); err != nil {
			return err
		}
		if doc.SimilarPI != nil || doc.Similar != nil {
			t.Errorf("product document %s carries a list: %.200s", d.ID, d.Source)
		}
		out[d.ID] = doc
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", alias, err)
	}
	lists := mappings.SimilarAlias(alias)
	seen := 0
	err = esindex.Scan(context.Background(), es, lists, nil, 500, func(d esindex.StoredDoc) error {
		var list struct {
			ProductID string `json:"product_id"`
			storedDoc
		}
		if err := json.Unmarshal(d.Source, &list); err != nil {
			return err
		}
		doc, ok := out[d.ID]
		if !ok || list.ProductID != d.ID {
			t.Errorf("list document %s (product_id %q) has no product in %s", d.ID, list.ProductID, alias)
			return nil
		}
		seen++
		doc.SimilarPI, doc.Similar = list.SimilarPI, list.Similar
		out[d.ID] = doc
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", lists, err)
	}
	if seen != len(out) {
		t.Errorf("%s holds %d list documents for the %d products of %s", lists, seen, len(out), alias)
	}
	return out
}

// exactTopK is the reference: brute-force cosine in float64, self excluded,
// the K most similar ordered by their truncated score, ties by id.
func exactTopK(docs map[string]storedDoc, k int) map[string][]string {
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range docs {
			if !yield(id) {
				return
			}
		}
	})
	out := map[string][]string{}
	for _, a := range ids {
		type cand struct {
			id string
			s  float64
		}
		var cands []cand
		for _, b := range ids {
			if a == b {
				continue
			}
			var dot float64
			for i, x := range docs[a].Vector {
				dot += float64(x) * float64(docs[b].Vector[i])
			}
			cands = append(cands, cand{b, dot})
		}
		slices.SortFunc(cands, func(x, y cand) int {
			if x.s != y.s {
				if x.s > y.s {
					return -1
				}
				return 1
			}
			return strings.Compare(x.id, y.id)
		})
		// The top K by full similarity, then shown as the old tool shows
		// them: by the 4-decimal score, ties by id.
		top := cands[:min(k, len(cands))]
		for i := range top {
			top[i].s = math.Trunc(top[i].s*10000) / 10000
		}
		slices.SortStableFunc(top, func(x, y cand) int {
			if x.s != y.s {
				if x.s > y.s {
					return -1
				}
				return 1
			}
			return strings.Compare(x.id, y.id)
		})
		for _, c := range top {
			out[a] = append(out[a], c.id)
		}
	}
	return out
}

// sameUpToTies reports whether got and want list the same ids, allowing
// neighbours whose similarities differ by float32 rounding (which can move one
// across a 4-decimal boundary) to swap.
func sameUpToTies(doc storedDoc, want []string, docs map[string]storedDoc) bool {
	if len(doc.SimilarPI) != len(want) {
		return false
	}
	sim := func(b string) float64 {
		var dot float64
		for i, x := range doc.Vector {
			dot += float64(x) * float64(docs[b].Vector[i])
		}
		return dot
	}
	for i := range want {
		if doc.SimilarPI[i] != want[i] && math.Abs(sim(doc.SimilarPI[i])-sim(want[i])) > 1e-5 {
			return false
		}
	}
	return true
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// e2eRows reads the e2e catalog's rows, for tests that write a variant of it.
func e2eRows(t *testing.T) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e2eDir, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}
