package pipeline_test

import (
	"cmp"
	"context"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// approxCatalog sizes: the neighbors package computes exact lists below
// 16 000 items, so both catalogs stay above that to exercise the approximate
// search. 1.2% of the products are new, 0.6% deleted.
const (
	approxBefore  = 16200 // products 0 … approxBefore-1 form A
	approxAdded   = 200   // products approxBefore … +approxAdded-1 form B
	approxDelEach = 160   // every approxDelEach-th product of A is deleted (C)
)

// approxCatalogs renders A ∪ B as 32×32 PNGs (about 8 variants per scene,
// so lists hold near-duplicate groups and reverse neighbours matter) and
// writes the catalogs A and A ∪ B − C.
func approxCatalogs(t *testing.T) (dir, before, after string, deleted []string) {
	t.Helper()
	dir = t.TempDir()
	products, err := benchdata.Generate(dir, 0, approxBefore+approxAdded,
		benchdata.Options{Size: 32, Format: benchdata.PNG, Scenes: 2000, Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	var final []benchdata.Product
	for i, p := range products {
		if i < approxBefore && i%approxDelEach == approxDelEach/2 {
			deleted = append(deleted, p.ID)
			continue
		}
		final = append(final, p)
	}
	before, after = filepath.Join(dir, "before.json"), filepath.Join(dir, "after.json")
	if err := benchdata.WriteCatalog(before, products[:approxBefore]); err != nil {
		t.Fatal(err)
	}
	if err := benchdata.WriteCatalog(after, final); err != nil {
		t.Fatal(err)
	}
	return dir, before, after, deleted
}

// meanOverlap is the mean over want's products of |got ∩ want| / |want| of
// their similar_pi lists; a product missing from got counts as 0.
func meanOverlap(got, want map[string][]string) float64 {
	var sum float64
	for id, w := range want {
		if len(w) == 0 {
			continue
		}
		n := 0
		for _, pi := range got[id] {
			if slices.Contains(w, pi) {
				n++
			}
		}
		sum += float64(n) / float64(len(w))
	}
	return sum / float64(len(want))
}

func lists(docs map[string]storedDoc) map[string][]string {
	out := make(map[string][]string, len(docs))
	for id, d := range docs {
		out[id] = d.SimilarPI
	}
	return out
}

// exactSample is the brute-force top-K of every 200th stored product (sorted
// ids), for the log: enough to quote a recall, cheap under -race.
func exactSample(docs map[string]storedDoc, k int) map[string][]string {
	ids := slices.Sorted(maps.Keys(docs))
	out := map[string][]string{}
	for n := 0; n < len(ids); n += 200 {
		a := docs[ids[n]]
		type cand struct {
			id string
			s  float32
		}
		cands := make([]cand, 0, len(ids))
		for _, b := range ids {
			if b == ids[n] {
				continue
			}
			var dot float32
			for i, x := range a.Vector {
				dot += x * docs[b].Vector[i]
			}
			cands = append(cands, cand{b, dot})
		}
		slices.SortFunc(cands, func(x, y cand) int { return cmp.Compare(y.s, x.s) })
		for _, c := range cands[:min(k, len(cands))] {
			out[ids[n]] = append(out[ids[n]], c.id)
		}
	}
	return out
}

// TestIncrementalEqualsFullInApproximateMode is issue 6's equivalence in
// approximate mode: full(A) then incremental(A ∪ B − C) must agree with
// full(A ∪ B − C) on at least 99% of every top-20 list on average, name no
// deleted product, and a second incremental run must write nothing.
func TestIncrementalEqualsFullInApproximateMode(t *testing.T) {
	if testing.Short() {
		t.Skip("renders and syncs 16 400 products")
	}
	es := estest.Client(t)
	ctx := context.Background()
	start := time.Now()
	elapsed := func(step string) { t.Logf("%-28s done at %5.1f s", step, time.Since(start).Seconds()) }
	dir, before, after, deleted := approxCatalogs(t)
	elapsed("render 16 400 images")
	config := func(alias, catalogPath string) pipeline.Config {
		return pipeline.Config{
			CatalogPath: catalogPath,
			Catalog:     catalog.Options{ImagesDir: dir},
			ModelCard:   filepath.Join("..", "testdata", "models", "tiny-nchw-crop.json"),
			Embed:       embed.Options{CachePath: filepath.Join(dir, "vectors.bolt")},
			Recall:      0.99,
			Seed:        1,
			// The lists are what this test compares; the layout verifier
			// (its own full/incremental test) would check ~100 000
			// candidate links of the tiny model's vectors, for 30 minutes
			// under -race.
			Groups:     pipeline.GroupOptions{NoVerify: true},
			ES:         &esindex.Config{URLs: []string{estest.URL()}},
			Alias:      alias,
			Keep:       1,
			MaxSkipped: 0,
			OutDir:     t.TempDir(),
		}
	}

	live := config(estest.IndexName(t, "approx"), before)
	rep, err := pipeline.Full(ctx, live)
	if err != nil {
		t.Fatalf("full(A): %v", err)
	}
	elapsed("full(A)")
	if rep.Neighbors.Exact {
		t.Fatalf("full(A) of %d products computed exact lists; this test needs the approximate search", rep.Products)
	}
	live.CatalogPath = after
	inc, err := pipeline.Incremental(ctx, live)
	if err != nil {
		t.Fatalf("incremental: %v", err)
	}
	elapsed("incremental")
	if c := inc.Changes; c.New != approxAdded || c.Deleted != len(deleted) || inc.Neighbors.Exact {
		t.Errorf("incremental saw %+v (exact %v), want %d new and %d deleted, approximate", c, inc.Neighbors.Exact, approxAdded, len(deleted))
	}

	reference := config(estest.IndexName(t, "approxref"), after)
	ref, err := pipeline.Full(ctx, reference)
	if err != nil {
		t.Fatalf("full(A ∪ B − C): %v", err)
	}
	elapsed("full(A ∪ B − C)")
	got, want := readAll(t, es, live.Alias), readAll(t, es, reference.Alias)
	if len(got) != len(want) {
		t.Errorf("incremental index holds %d documents, full run %d", len(got), len(want))
	}
	for id, doc := range got {
		for _, pi := range doc.SimilarPI {
			if slices.Contains(deleted, pi) {
				t.Errorf("%s still lists deleted %s", id, pi)
			}
		}
	}
	overlap := meanOverlap(lists(got), lists(want))
	truth := exactSample(want, 20)
	t.Logf("%d products, %d lists changed, %d written; mean top-20 overlap with full: %.4f; recall vs brute force (every 200th product): incremental %.4f, full %.4f (measured by full: %.4f)",
		len(want), inc.Changes.ListsChanged, inc.Changes.Written, overlap, meanOverlap(lists(got), truth), meanOverlap(lists(want), truth), ref.Neighbors.Recall)
	elapsed("compare")
	if overlap < 0.99 {
		t.Errorf("mean top-20 overlap between incremental and full is %.4f, want ≥ 0.99", overlap)
	}

	again, err := pipeline.Incremental(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	elapsed("second incremental")
	if again.Changes.Written != 0 || again.Embedded != 0 {
		t.Errorf("second incremental run wrote %d documents and embedded %d images, want nothing: %+v", again.Changes.Written, again.Embedded, again.Changes)
	}
}
