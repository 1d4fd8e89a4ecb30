package embed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/internal/cputime"
)

// BenchmarkEmbedModels compares the whole pipeline (read, decode, resize,
// inference, focus pass; no cache) of several model cards on the same 800×800
// JPEGs, interleaved within each iteration so load from other jobs hits all
// alike. The baseline is the first card: by default the previous default
// model (models/efficientnet-lite0-v1, whole image, float32) against today's
// default (int8, scda-crop) and the same int8 model without the focus step
// (card-whole-image.json); ESSYNC_BENCH_CARDS (comma-separated card paths)
// replaces the list. ESSYNC_BENCH_THREADS, ESSYNC_BENCH_STREAMS and
// ESSYNC_BENCH_DECODERS set Options.IntraOpThreads, InferStreams and
// DecodeWorkers (default: the Options defaults); a card path may end in
// ":TxS" to run that card with T ORT threads and S streams instead, so one
// run can compare a card in the old and the new configuration.
// Reports images/s per card (and CPU time per image: on a loaded machine its
// ratio is the steadier estimate of an idle machine's, where every core
// would be this process's), each card's ratio to the first, model passes
// per image (a small localisation pass counts as one), and each card's top-1
// on testdata/eval (all variants, and the pasted-background one).
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
	opts := Options{BatchSize: benchBatch}
	if v := os.Getenv("ESSYNC_BENCH_THREADS"); v != "" {
		fmt.Sscan(v, &opts.IntraOpThreads)
	}
	if v := os.Getenv("ESSYNC_BENCH_DECODERS"); v != "" {
		fmt.Sscan(v, &opts.DecodeWorkers)
	}
	if v := os.Getenv("ESSYNC_BENCH_STREAMS"); v != "" {
		fmt.Sscan(v, &opts.InferStreams)
	}
	embedders := make([]*Embedder, len(cardPaths))
	names := make([]string, len(cardPaths))
	for i, p := range cardPaths {
		o := opts
		p, cfg, _ := strings.Cut(p, ":")
		if cfg != "" {
			if _, err := fmt.Sscanf(cfg, "%dx%d", &o.IntraOpThreads, &o.InferStreams); err != nil {
				b.Fatalf("card %s: configuration %q is not THREADSxSTREAMS: %v", p, cfg, err)
			}
		}
		c, err := LoadCard(p)
		if err != nil {
			b.Fatal(err)
		}
		embedders[i] = newTestEmbedder(b, c, o)
		names[i] = strings.NewReplacer("@", "_", "+", "_").Replace(c.Fingerprint())
		if cfg != "" {
			names[i] += "_" + cfg
		}
	}
	inputs := benchInputs(paths)
	took := make([]time.Duration, len(embedders))
	cpu := make([]time.Duration, len(embedders)) // the process's user+system time
	passes := make([]int64, len(embedders))
	pix := make([]int64, len(embedders))
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for i, e := range embedders {
			start, cpu0, before, pix0 := time.Now(), cputime.Process(), e.inferred.Load(), e.inferredPix.Load()
			if _, err := e.Embed(context.Background(), inputs, nil); err != nil {
				b.Fatal(err)
			}
			took[i] += time.Since(start)
			cpu[i] += cputime.Process() - cpu0
			passes[i] += e.inferred.Load() - before
			pix[i] += e.inferredPix.Load() - pix0
		}
	}
	b.StopTimer()
	set := loadEvalSet(b) // quality of every card on testdata/eval, in the same report
	n := float64(b.N * len(paths))
	for i, e := range embedders {
		scores := scoreRetrieval(set, embedEvalSet(b, e, set))
		b.ReportMetric(scores["all"].Top1, fmt.Sprintf("top1_all_%d", i))
		b.ReportMetric(scores["paste"].Top1, fmt.Sprintf("top1_paste_%d", i))
		b.ReportMetric(n/took[i].Seconds(), fmt.Sprintf("img/s_%d_%s", i, names[i]))
		b.ReportMetric(float64(passes[i])/n, fmt.Sprintf("passes/img_%d", i)) // a locate pass counts as one
		// the same weighed by input pixels: full-size-pass equivalents per image
		b.ReportMetric(float64(pix[i])/n/float64(e.card.Size*e.card.Size), fmt.Sprintf("fullpasses/img_%d", i))
		b.ReportMetric(cpu[i].Seconds()*1000/n, fmt.Sprintf("cpu_ms/img_%d", i))
		if i > 0 {
			b.ReportMetric(took[0].Seconds()/took[i].Seconds(), fmt.Sprintf("x_%d_vs_0", i))
			b.ReportMetric(cpu[0].Seconds()/cpu[i].Seconds(), fmt.Sprintf("x_cpu_%d_vs_0", i))
		}
	}
}
