package neighbors

import (
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/essync/essync/internal/cputime"
	"github.com/essync/essync/internal/memstat"
)

// BenchmarkForestScale builds the approximate top-20 graph at recall target
// 0.99 over NEIGHBORS_N 1280-d rows (default 20 000) and reports build
// seconds, process CPU seconds, recall@20 measured independently of the
// build's own estimate (brute force on 500 random items) and the process's
// peak RSS (the vectors are on the Go heap here; GC target 10% as the CLI). NEIGHBORS_DATA picks
// the data: "clustered" (benchdata.NewVectors(1280, n/6, 42), as
// `essync-bench full --vectors` makes it, about 6 near-duplicates a cluster)
// or "old" (this package's clustered(n, 1280, 25, 42), the data of the
// earlier forest benchmarks). Opt-in, being long; it uses only the public
// API, so the same file runs against an older commit for a ratio:
//
//	NEIGHBORS_N=100000 NEIGHBORS_DATA=clustered \
//	  go test -run '^$' -bench ForestScale -benchtime 1x -timeout 60m ./neighbors/
func BenchmarkForestScale(b *testing.B) {
	n := scaleN(b, "set NEIGHBORS_N (and NEIGHBORS_DATA=clustered|old) to run")
	const dims, k = scaleDims, 20
	var ids []string
	var vecs []float32
	switch data := os.Getenv("NEIGHBORS_DATA"); data {
	case "", "clustered":
		ids, vecs = scaleRows(n, n, 6)
	case "old":
		ids, vecs = clustered(n, dims, 25, 42)
	default:
		b.Fatalf("NEIGHBORS_DATA=%q: want clustered or old", data)
	}
	if os.Getenv("NEIGHBORS_DEBUG") != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	b.ResetTimer()
	for range b.N {
		cpu0 := cputime.Process()
		t0 := time.Now()
		g, err := Build(ids, vecs, dims, Options{K: k, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "build-s")
		b.ReportMetric((cputime.Process() - cpu0).Seconds(), "cpu-s")
		b.ReportMetric(float64(memstat.PeakRSS())/(1<<20), "peak-MiB")
		b.ReportMetric(float64(len(vecs)*4)/(1<<20), "raw-MiB")
		b.StopTimer()
		b.ReportMetric(independentRecall(g, ids, vecs, dims, k, 500), "recall")
		b.ReportMetric(g.Recall(), "self-recall")
		b.StartTimer()
	}
}

// independentRecall is recall@k of g on q random items against brute force,
// counting ties at the k-th score as hits.
func independentRecall(g *Graph, ids []string, vecs []float32, dims, k, q int) float64 {
	rng := rand.New(rand.NewPCG(7, 7))
	n := len(ids)
	row := make(map[string]int, n)
	for i, id := range ids {
		row[id] = i
	}
	hit, total := 0, 0
	sims := make([]float32, n)
	for range q {
		a := rng.IntN(n)
		qa := vecs[a*dims : (a+1)*dims]
		for j := range n {
			sims[j] = Dot(qa, vecs[j*dims:(j+1)*dims])
		}
		sims[a] = -2
		top := append([]float32(nil), sims...)
		kth := quickselect(top, k-1, rand.New(rand.NewPCG(1, 1)))
		got := 0
		for _, nb := range g.Neighbors(ids[a]) {
			j := row[nb.ID]
			if Dot(qa, vecs[j*dims:(j+1)*dims]) >= kth-1e-6 {
				got++
			}
		}
		hit += min(got, k)
		total += k
	}
	return float64(hit) / float64(total)
}
