package verify_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/verify"
)

// BenchmarkVerifyVsScan loads VERIFY_BENCH_N synthetic products (64-d unit
// vectors, top-20 lists from neighbors, flat index_options so loading skips
// the HNSW graph; none of this changes what a scan reads) into the real
// node, then times, in the same process and alternately (VERIFY_BENCH_ROUNDS
// rounds, default 1), a bare point-in-time scan of the whole index (the
// baseline) and verify.Run with the catalog and a 1000-product sample. It
// reports the ratio verify / bare scan and verify's peak heap next to the raw
// vectors' size. Opt-in: it needs minutes. One benchmark iteration does all
// the rounds, so run it with -benchtime 1x (the index is loaded once):
//
//	VERIFY_BENCH_N=100000 VERIFY_BENCH_ROUNDS=3 go test -run '^$' -bench VerifyVsScan -benchtime 1x -timeout 90m ./verify/
func BenchmarkVerifyVsScan(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("VERIFY_BENCH_N"))
	if n <= 0 {
		b.Skip("set VERIFY_BENCH_N (e.g. 100000) to run this benchmark")
	}
	const dims, k = 64, 20
	es := estest.Client(b)
	alias := estest.IndexName(b, "verify-bench")
	ctx := context.Background()
	start := time.Now()
	catalogPath, imagesDir := loadSynthetic(b, ctx, alias, n, dims, k)
	b.Logf("loaded %d products in %.0f s", n, time.Since(start).Seconds())

	bareScan := func(fields []string) time.Duration {
		t0 := time.Now()
		seen := 0
		if err := esindex.Scan(ctx, es, alias, fields, 1000, func(esindex.StoredDoc) error { seen++; return nil }); err != nil {
			b.Fatal(err)
		}
		if seen != n {
			b.Fatalf("scan saw %d documents, want %d", seen, n)
		}
		return time.Since(t0)
	}
	rounds, _ := strconv.Atoi(os.Getenv("VERIFY_BENCH_ROUNDS"))
	rounds = max(rounds, 1)
	var scanT, verifyT time.Duration
	var peak uint64
	b.ResetTimer()
	for range rounds {
		scanT += bareScan(nil)
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stop := watchHeap(&peak)
		t0 := time.Now()
		rep, err := verify.Run(ctx, es, verify.Options{
			Alias: alias, CatalogPath: catalogPath, Catalog: catalog.Options{ImagesDir: imagesDir},
			// The forest reaches recall ≈ 0.95 on random 64-d vectors (real
			// image vectors cluster, and fare better); the bar only has to pass.
			Sample: 1000, Seed: 1, MinRecall: 0.9,
		})
		verifyT += time.Since(t0)
		stop()
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Clean() || rep.Documents != n {
			b.Fatalf("verify on the fresh index: %d documents, findings %v", rep.Documents, rep.Counts)
		}
		b.Logf("sample recall %.4f on %d", rep.Sample.Recall, rep.Sample.Size)
	}
	b.StopTimer()
	runs := float64(rounds)
	b.ReportMetric(scanT.Seconds()/runs, "scan-s")
	b.ReportMetric(verifyT.Seconds()/runs, "verify-s")
	b.ReportMetric(float64(verifyT)/float64(scanT), "verify/scan")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(n*dims*4)/(1<<20), "raw-vectors-MiB")
}

// watchHeap records the largest HeapInuse seen until stop is called.
func watchHeap(peak *uint64) (stop func()) {
	var done atomic.Bool
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var m runtime.MemStats
		for !done.Load() {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > *peak {
				*peak = m.HeapInuse
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() { done.Store(true); <-finished }
}

// loadSynthetic writes a catalog of n products (with an empty file per image:
// the catalog checks that images exist; verify reads them only with --hash),
// computes top-k lists over random unit vectors, and publishes the documents
// behind alias as essync would (schema 2 bookkeeping under "essync").
func loadSynthetic(b *testing.B, ctx context.Context, alias string, n, dims, k int) (catalogPath, imagesDir string) {
	b.Helper()
	es := estest.Client(b)
	dir := b.TempDir()
	imagesDir = filepath.Join(dir, "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		b.Fatal(err)
	}
	catalogPath = filepath.Join(dir, "catalog.ndjson")
	f, err := os.Create(catalogPath)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%07d", i)
		row, _ := json.Marshal(map[string]any{"productId": ids[i], "imageName": ids[i] + ".jpg", "title": "product " + ids[i], "price": float64(i%997) + 0.5})
		w.Write(append(row, '\n'))
		if err := os.WriteFile(filepath.Join(imagesDir, ids[i]+".jpg"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	vecs := benchdata.UnitRows(rand.New(rand.NewPCG(42, 1)), n, dims)
	g, err := neighbors.Build(ids, vecs, dims, neighbors.Options{K: k, Recall: 0.99, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	const model = "synthetic@000000000000"
	body, err := mappings.Render(mappings.Options{Dims: dims, IndexOptions: "flat", Model: model})
	if err != nil {
		b.Fatal(err)
	}
	index := esindex.NewIndexName(alias, time.Now())
	if err := esindex.CreateIndex(ctx, es, index, body); err != nil {
		b.Fatal(err)
	}
	ops := func(yield func(esindex.Op) bool) {
		for i, id := range ids {
			doc := productDoc(id, vecs[i*dims:(i+1)*dims], g.Neighbors(id), model)
			doc["title"], doc["price"] = "product "+id, float64(i%997)+0.5
			body, _ := json.Marshal(doc)
			if !yield(esindex.Op{Action: "index", ID: id, Body: body}) {
				return
			}
		}
	}
	res, err := esindex.Bulk(ctx, es, index, ops, esindex.BulkOptions{})
	if err != nil || len(res.Failed) > 0 {
		b.Fatalf("bulk: %v %v", err, res.Failed)
	}
	if err := esindex.FinishLoad(ctx, es, index, 0, n); err != nil {
		b.Fatal(err)
	}
	if _, err := esindex.SwapAlias(ctx, es, alias, index); err != nil {
		b.Fatal(err)
	}
	return catalogPath, imagesDir
}

// productDoc is a product document in the round's schema: essync's
// bookkeeping under "essync" (image_sha256 is the empty file's).
func productDoc(id string, vec []float32, list []neighbors.Neighbor, model string) map[string]any {
	pis := make([]string, len(list))
	sim := make([]map[string]any, len(list))
	for i, nb := range list {
		pis[i] = nb.ID
		sim[i] = map[string]any{"pi": nb.ID, "similarity": nb.Similarity}
	}
	return map[string]any{
		"product_id": id, "image_name": id + ".jpg", "image_vector": slices.Clone(vec),
		"similar_pi": pis, "similar": sim,
		"essync": map[string]any{"model": model, "image_sha256": emptySHA256, "synced_at": "2026-12-01T00:00:00Z"},
	}
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e855b017e7d79f8f1c5ba0a7a6"
