package embed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkEmbedModels compares the whole pipeline (read, decode, resize,
// inference, focus pass; no cache) of several model cards on the same 800×800
// JPEGs, interleaved within each iteration so load from other jobs hits all
// alike. The baseline is the first card: by default the previous default
// model (models/efficientnet-lite0-v1, whole image, float32) against today's
// default (int8, scda-crop) and the same int8 model without the focus step
// (card-whole-image.json); ESSYNC_BENCH_CARDS (comma-separated card paths)
// replaces the list. ESSYNC_BENCH_THREADS and ESSYNC_BENCH_DECODERS set ORT's
// intra-op threads and the decode workers (default: one each per CPU).
// Reports images/s per card, each card's ratio to the first, and model passes
// per image (a small localisation pass counts as one).
//
//	go test ./embed -run '^$' -bench BenchmarkEmbedModels -benchtime 3x
func BenchmarkEmbedModels(b *testing.B) {
	paths := benchJPEGs(b)
	var cardPaths []string
	if v := os.Getenv("ESSYNC_BENCH_CARDS"); v != "" {
		cardPaths = strings.Split(v, ",")
	} else {
		def, err := DefaultCardPath()
		if err != nil {
			b.Fatal(err)
		}
		dir := filepath.Dir(def)
		cardPaths = []string{filepath.Join(filepath.Dir(dir), "efficientnet-lite0-v1", "card.json"), def,
			filepath.Join(dir, "card-whole-image.json")}
	}
	opts := Options{BatchSize: benchBatch, IntraOpThreads: runtime.NumCPU(), DecodeWorkers: runtime.NumCPU()}
	if v := os.Getenv("ESSYNC_BENCH_THREADS"); v != "" {
		fmt.Sscan(v, &opts.IntraOpThreads)
	}
	if v := os.Getenv("ESSYNC_BENCH_DECODERS"); v != "" {
		fmt.Sscan(v, &opts.DecodeWorkers)
	}
	embedders := make([]*Embedder, len(cardPaths))
	names := make([]string, len(cardPaths))
	for i, p := range cardPaths {
		c, err := LoadCard(p)
		if err != nil {
			b.Fatal(err)
		}
		embedders[i] = newTestEmbedder(b, c, opts)
		names[i] = strings.NewReplacer("@", "_", "+", "_").Replace(c.Fingerprint())
	}
	inputs := benchInputs(paths)
	took := make([]time.Duration, len(embedders))
	passes := make([]int64, len(embedders))
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for i, e := range embedders {
			start, before := time.Now(), e.inferred.Load()
			if _, err := e.Embed(context.Background(), inputs, nil); err != nil {
				b.Fatal(err)
			}
			took[i] += time.Since(start)
			passes[i] += e.inferred.Load() - before
		}
	}
	n := float64(b.N * len(paths))
	for i := range embedders {
		b.ReportMetric(n/took[i].Seconds(), fmt.Sprintf("img/s_%d_%s", i, names[i]))
		b.ReportMetric(float64(passes[i])/n, fmt.Sprintf("passes/img_%d", i)) // a locate pass counts as one
		if i > 0 {
			b.ReportMetric(took[0].Seconds()/took[i].Seconds(), fmt.Sprintf("x_%d_vs_0", i))
		}
	}
}
