package neighbors

import (
	"cmp"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
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
// earlier forest benchmarks). NEIGHBORS_LEAF, a comma-separated list of
// Options.LeafSize values (default "0", the automatic choice), builds once
// per value in the same process, on the same data, so leaf sizes (and the
// old default, 32) compare at the same load. Opt-in, being long; it uses only
// the public API, so the same file runs against an older commit for a ratio:
//
//	NEIGHBORS_N=100000 NEIGHBORS_DATA=clustered NEIGHBORS_LEAF=32,0 \
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
	leaves := strings.Split(cmp.Or(os.Getenv("NEIGHBORS_LEAF"), "0"), ",")
	var recall func(g *Graph) float64
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	for _, ls := range leaves {
		leaf, err := strconv.Atoi(ls)
		if err != nil || leaf < 0 {
			b.Fatalf("NEIGHBORS_LEAF=%q: want leaf sizes ≥ 0 (0: automatic)", ls)
		}
		b.Run(fmt.Sprint("leaf=", leaf), func(b *testing.B) {
			for range b.N {
				cpu0 := cputime.Process()
				t0 := time.Now()
				g, err := Build(ids, vecs, dims, Options{K: k, Seed: 1, LeafSize: leaf})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(t0).Seconds(), "build-s")
				b.ReportMetric((cputime.Process() - cpu0).Seconds(), "cpu-s")
				b.ReportMetric(float64(memstat.PeakRSS())/(1<<20), "peak-MiB")
				b.ReportMetric(float64(len(vecs)*4)/(1<<20), "raw-MiB")
				b.StopTimer()
				if recall == nil {
					recall = recallAgainstExact(b, ids, vecs, dims, k, 500)
				}
				b.ReportMetric(recall(g), "recall")
				b.ReportMetric(g.Recall(), "self-recall")
				b.StartTimer()
			}
		})
	}
}

// recallAgainstExact returns the recall@k of a graph over ids on q random
// items against their exact top-k (computed once, by ExactTopK's SIMD
// kernel), counting ties at the k-th score as hits: independentRecall's
// figure for several graphs of the same data at the cost of one.
func recallAgainstExact(tb testing.TB, ids []string, vecs []float32, dims, k, q int) func(*Graph) float64 {
	rng := rand.New(rand.NewPCG(7, 7))
	n := len(ids)
	row := make(map[string]int, n)
	for i, id := range ids {
		row[id] = i
	}
	qs := make([]int, q)
	for i := range qs {
		qs[i] = rng.IntN(n)
	}
	truth, err := ExactTopK(ids, vecs, dims, qs, k, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return func(g *Graph) float64 {
		hit := 0
		for i, a := range qs {
			kth, got := truth[i].Similarities[k-1], 0
			qa := vecs[a*dims : (a+1)*dims]
			for _, nb := range g.Neighbors(ids[a]) {
				j := row[nb.ID]
				if Dot(qa, vecs[j*dims:(j+1)*dims]) >= kth-1e-6 {
					got++
				}
			}
			hit += min(got, k)
		}
		return float64(hit) / float64(k*q)
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
