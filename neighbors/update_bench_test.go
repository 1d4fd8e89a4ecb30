package neighbors

import (
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/essync/essync/internal/cputime"
)

// BenchmarkUpdateScale is the incremental sync's neighbour step at scale on
// the data of `essync-bench incremental --vectors` (benchdata.NewVectors(1280,
// n/6, 42), rows 0 … n-1, then 1 % new rows n … and 0.5 % deleted): Build
// the graph before, Restore it from its top-K lists (as the stored lists are),
// then Update it twice from the same restored state — new items inserted by
// graph search (the default above searchAbove) and by brute force against
// every item (the previous code) — and Build the graph after from scratch,
// as a full run would. It reports each step's wall and CPU seconds and the
// recall@20 of the three graphs after the change on one sample (250 random
// items and up to 250 new ones) against brute force, and the recall of the
// graph before on 250 random items of its own (recall-before: a full run's
// on this data). Opt-in, being long; NEIGHBORS_SKIP_AFTER=1 leaves out the
// build after (at 300 000 it is the longest step):
//
//	NEIGHBORS_N=100000 go test -run '^$' -bench UpdateScale -benchtime 1x -timeout 60m ./neighbors/
func BenchmarkUpdateScale(b *testing.B) {
	n := scaleN(b, "set NEIGHBORS_N to run")
	const dims, k = scaleDims, 20
	added, removed := n/100, n/200
	ids, all := scaleRows(n, n+added, 7)
	rng := rand.New(rand.NewPCG(42, 5))
	gone := map[int]bool{}
	var remove []string
	for _, i := range rng.Perm(n)[:removed] {
		gone[i] = true
		remove = append(remove, ids[i])
	}
	add := map[string][]float32{}
	for i := n; i < n+added; i++ {
		add[ids[i]] = all[i*dims : (i+1)*dims]
	}
	var afterIDs []string
	var afterRows []int
	for i := range n + added {
		if !gone[i] {
			afterIDs, afterRows = append(afterIDs, ids[i]), append(afterRows, i)
		}
	}
	after := make([]float32, 0, len(afterRows)*dims)
	for _, i := range afterRows {
		after = append(after, all[i*dims:(i+1)*dims]...)
	}
	// The recall sample: random items of the catalog after, and new ones.
	var sample []int
	for _, t := range rng.Perm(len(afterIDs))[:min(250, len(afterIDs))] {
		sample = append(sample, t)
	}
	for t, i := range afterRows {
		if i >= n && len(sample) < 250+min(250, added) {
			sample = append(sample, t)
		}
	}
	truth, err := ExactTopK(afterIDs, after, dims, sample, k, 0)
	if err != nil {
		b.Fatal(err)
	}
	recall := func(g *Graph) float64 {
		hit := 0
		for s, t := range sample {
			kth := truth[s].Similarities[k-1]
			q := after[t*dims : (t+1)*dims]
			got := 0
			for _, nb := range g.Neighbors(afterIDs[t]) {
				if Dot(q, rowOf(all, nb.ID, dims)) >= kth-1e-6 {
					got++
				}
			}
			hit += min(got, k)
		}
		return float64(hit) / float64(k*len(sample))
	}
	timed := func(name string, f func()) {
		runtime.GC()
		cpu0, t0 := cputime.Process(), time.Now()
		f()
		b.ReportMetric(time.Since(t0).Seconds(), name+"-s")
		b.ReportMetric((cputime.Process() - cpu0).Seconds(), name+"-cpu-s")
	}
	defer func(v int) { searchAbove = v }(searchAbove)
	for range b.N {
		var before *Graph
		timed("build", func() { before, err = Build(ids[:n], all[:n*dims], dims, Options{K: k, Seed: 1}) })
		if err != nil {
			b.Fatal(err)
		}
		lists := make([][]string, n)
		for i, id := range ids[:n] {
			lists[i] = idsOf(before.Neighbors(id))
		}
		b.ReportMetric(independentRecall(before, ids[:n], all[:n*dims], dims, k, 250), "recall-before")
		before = nil
		update := func(name string, above int) (*Graph, int) {
			var g *Graph
			var changed []string
			timed("restore-"+name, func() { g, _, err = Restore(ids[:n], all[:n*dims], dims, lists, Options{K: k, Seed: 1}) })
			if err != nil {
				b.Fatal(err)
			}
			searchAbove = above
			timed("update-"+name, func() { changed, err = g.Update(add, remove) })
			if err != nil {
				b.Fatal(err)
			}
			return g, len(changed)
		}
		bySearch, changedSearch := update("search", 0)
		b.ReportMetric(recall(bySearch), "recall-search")
		b.ReportMetric(float64(changedSearch), "changed-search")
		bySearch = nil
		byBrute, changedBrute := update("brute", math.MaxInt)
		b.ReportMetric(recall(byBrute), "recall-brute")
		b.ReportMetric(float64(changedBrute), "changed-brute")
		byBrute = nil
		if os.Getenv("NEIGHBORS_SKIP_AFTER") != "" {
			continue
		}
		var full *Graph
		timed("build-after", func() { full, err = Build(afterIDs, after, dims, Options{K: k, Seed: 1}) })
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(recall(full), "recall-full")
	}
}

// rowOf is the row of all named by a benchmark id p-<row>.
func rowOf(all []float32, id string, dims int) []float32 {
	i, err := strconv.Atoi(id[2:])
	if err != nil {
		panic(err)
	}
	return all[i*dims : (i+1)*dims]
}
