package serve

// The benchmark's index: a synthetic catalog of n products around the e2e
// photos' vectors, loaded behind a fresh alias, and the wait for its merges.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

// loadSyntheticIndex builds an index of n products behind a fresh alias:
// vectors are the 48 e2e photos' real vectors plus Gaussian noise
// (σ = 0.02 per dimension, then renormalised: cosine ≈ 0.8 to their photo),
// with catalog fields. It returns the alias and the photos' bytes for queries.
func loadSyntheticIndex(b *testing.B, emb *embed.Embedder, n int) (alias string, photos [][]byte) {
	b.Helper()
	es := estest.Client(b)
	alias = estest.IndexName(b, "bench-serve")
	names, _ := filepath.Glob(filepath.Join(e2eDir, "images", "*.jpg"))
	if len(names) == 0 {
		b.Fatalf("no photos in %s/images: run from the serve package folder", e2eDir)
	}
	var inputs []embed.Input
	for _, name := range names {
		inputs = append(inputs, embed.Input{ID: name, Path: name})
		data, _ := os.ReadFile(name)
		photos = append(photos, data)
	}
	res, err := emb.Embed(context.Background(), inputs, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	index := alias + "-1"
	createModelIndex(b, es, index, emb.Dims(), emb.Fingerprint())
	rng := rand.New(rand.NewPCG(1, 2))
	ops := iter.Seq[esindex.Op](func(yield func(esindex.Op) bool) {
		vec := make([]float32, emb.Dims())
		for i := range n {
			base := res[i%len(res)].Vector
			var norm float64
			for d := range vec {
				vec[d] = base[d] + float32(0.02*rng.NormFloat64())
				norm += float64(vec[d]) * float64(vec[d])
			}
			for d := range vec {
				vec[d] /= float32(math.Sqrt(norm))
			}
			id := fmt.Sprintf("p-%05d", i)
			doc, _ := json.Marshal(map[string]any{
				"product_id": id, "image_name": filepath.Base(names[i%len(names)]), "image_vector": vec,
				"title": "Synthetic product " + id, "price": float64(1 + i%200), "shop": fmt.Sprintf("shop-%d", i%7),
			})
			if !yield(esindex.Op{ID: id, Body: doc}) {
				return
			}
		}
	})
	start := time.Now()
	if _, err := esindex.Bulk(ctx, es, index, ops, esindex.BulkOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := esindex.FinishLoad(ctx, es, index, 0, n); err != nil {
		b.Fatal(err)
	}
	if _, err := esindex.SwapAlias(ctx, es, alias, index); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d synthetic products into %s in %s", n, index, time.Since(start).Round(time.Second))
	settleMerges(b, index)
	return alias, photos
}

// settleMerges waits (at most 3 minutes) until Elasticsearch has no merge
// running on index, so the measurements see the index as a shop serves it and
// no HNSW merge competes for the cores; with ESSYNC_BENCH_FORCE_MERGE=1 it
// first merges the index into one segment (essync full does not).
func settleMerges(b *testing.B, index string) {
	b.Helper()
	base := strings.TrimRight(estest.URL(), "/") + "/" + index
	if os.Getenv("ESSYNC_BENCH_FORCE_MERGE") == "1" {
		t0 := time.Now()
		res, err := http.Post(base+"/_forcemerge?max_num_segments=1", "application/json", nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		b.Logf("force-merged %s in %s (%s)", index, time.Since(t0).Round(time.Second), res.Status)
	}
	t0 := time.Now()
	for {
		var st struct {
			All struct {
				Total struct {
					Merges   struct{ Current int } `json:"merges"`
					Segments struct{ Count int }   `json:"segments"`
				} `json:"total"`
			} `json:"_all"`
		}
		res, err := http.Get(base + "/_stats/merge,segments")
		if err != nil {
			b.Fatal(err)
		}
		err = json.NewDecoder(res.Body).Decode(&st)
		res.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		if st.All.Total.Merges.Current == 0 || time.Since(t0) > 3*time.Minute {
			b.Logf("index %s: %d segments, %d merges running, after waiting %s for merges", index,
				st.All.Total.Segments.Count, st.All.Total.Merges.Current, time.Since(t0).Round(time.Second))
			return
		}
		time.Sleep(time.Second)
	}
}
