package neighbors

import (
	"flag"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

// Benchmarks. The kernels report GFLOP/s and the SIMD/pure-Go ratio in the
// same run; the builds report their heap overhead over the raw vectors.
//
//	go test -run '^$' -bench . -benchtime 3x ./neighbors/

var benchData = sync.OnceValues(func() ([]string, []float32) { return clustered(20000, 1280, 25, 42) })

func benchKernel(b *testing.B, simd bool) {
	if simd && !haveAVX2 {
		b.Skip("no AVX2+FMA")
	}
	defer func(old bool) { useSIMD = old }(useSIMD)
	useSIMD = simd
	rng := rand.New(rand.NewPCG(1, 1))
	m := matrix{rows: randRows(rng, 128, 1280), dims: 1280}
	rs := make([]int32, 64)
	cs := make([]int32, 64)
	for i := range rs {
		rs[i], cs[i] = int32(i), int32(64+i)
	}
	out := make([]float32, 64*64)
	b.ResetTimer()
	for range b.N {
		m.tile(rs, cs, out)
	}
	b.ReportMetric(float64(b.N)*64*64*1280*2/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkTileSIMD and BenchmarkTileGo time one 64×64 tile at 1280 dims.
func BenchmarkTileSIMD(b *testing.B) { benchKernel(b, true) }
func BenchmarkTileGo(b *testing.B)   { benchKernel(b, false) }

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// peakHeap samples HeapInuse every 20ms until stop is closed, and returns
// the largest value seen.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	res := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	return res
}

// benchBuild reports, besides time, the recall and the index's heap over the
// raw vectors: retained after Build, and at the peak during it (sampled).
func benchBuild(b *testing.B, n int, opts Options) {
	ids, vecs := benchData()
	ids, vecs = ids[:n], vecs[:n*1280]
	raw := float64(len(vecs) * 4)
	// Same GC target as the CLI: the vectors dominate the heap.
	defer debug.SetGCPercent(debug.SetGCPercent(benchGCPercent))
	b.ResetTimer()
	var g *Graph
	for range b.N {
		g = nil
		before := heapInUse()
		stop := make(chan struct{})
		peak := peakHeap(stop)
		var err error
		if g, err = Build(ids, vecs, 1280, opts); err != nil {
			b.Fatal(err)
		}
		close(stop)
		b.ReportMetric(100*float64(<-peak-before)/raw, "%peak/raw")
		b.ReportMetric(100*float64(heapInUse()-before)/raw, "%index/raw")
	}
	b.ReportMetric(g.Recall(), "recall")
}

// BenchmarkBuildExact and BenchmarkBuildApprox build the top-20 graph of
// 20 000 clustered 1280-d vectors.
func BenchmarkBuildExact(b *testing.B)  { benchBuild(b, 20000, Options{Exact: true}) }
func BenchmarkBuildApprox(b *testing.B) { benchBuild(b, 20000, Options{Recall: 0.99}) }

// benchMatrix is benchData as the forest holds it: a row view of every
// item, and the items 0 … n-1.
func benchMatrix() (matrix, []int32) {
	ids, vecs := benchData()
	m := matrix{rows: make([][]float32, len(ids)), dims: 1280}
	items := make([]int32, len(ids))
	for i := range ids {
		m.rows[i] = vecs[i*1280 : (i+1)*1280]
		items[i] = int32(i)
	}
	return m, items
}

// BenchmarkTree times one angular tree over 20 000 items, on the 64-d sketch
// as Build does (the sketch itself is made once, untimed).
func BenchmarkTree(b *testing.B) {
	m, items := benchMatrix()
	sk := m.sketch(items, 1, runtime.GOMAXPROCS(0))
	b.ResetTimer()
	for i := range b.N {
		t := sk.buildTree(items, 32, uint64(i))
		if i == 0 {
			b.ReportMetric(float64(t.leaves()), "leaves")
		}
	}
}

// BenchmarkSketch times the 64-d random projection of 20 000 1280-d rows.
func BenchmarkSketch(b *testing.B) {
	m, items := benchMatrix()
	b.ResetTimer()
	for range b.N {
		m.sketch(items, 1, runtime.GOMAXPROCS(0))
	}
}

// benchGCPercent is the GC target during build benchmarks: the CLI's 10 by
// default; -gcpercent 2 makes the sampled peak close to the live peak.
var benchGCPercent = 10

func init() {
	flag.IntVar(&benchGCPercent, "gcpercent", 10, "GC target percent during build benchmarks")
}

// BenchmarkUpdate adds 200 and removes 200 items on a 19 600-item
// approximate graph (the graph is rebuilt, untimed, before each run).
func BenchmarkUpdate(b *testing.B) {
	ids, vecs := benchData()
	const n, batch = 19600, 200
	add := map[string][]float32{}
	for i := n; i < n+batch; i++ {
		add[ids[i]] = vecs[i*1280 : (i+1)*1280]
	}
	remove := make([]string, batch)
	for i := range remove {
		remove[i] = ids[i*50]
	}
	changed := 0
	for range b.N {
		b.StopTimer()
		g, err := Build(ids[:n], vecs[:n*1280], 1280, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		ch, err := g.Update(add, remove)
		if err != nil {
			b.Fatal(err)
		}
		changed = len(ch)
	}
	b.ReportMetric(float64(changed), "changed")
}
