package embed

import (
	"testing"
	"time"
)

// BenchmarkQuantPrecision measures what session.x64quantprecision costs: the
// default card's first pass over the 48 e2e photos, run by two embedders in
// the same process — one with ORT's precise int8 products (essync's setting:
// the same vectors on every x86 CPU) and one with ORT's default saturating
// u8×s8 products — alternating round by round (ESSYNC_BENCH_ROUNDS, default
// 6) so the machine's load hits both alike. It reports per photo the wall and
// this process's CPU time of each, their ratio, and the lowest cosine between
// the two embedders' vectors of a photo (1.0 on CPUs with VNNI, where the two
// settings compute the same):
//
//	go test -run '^$' -bench QuantPrecision -benchtime 1x ./embed/
func BenchmarkQuantPrecision(b *testing.B) {
	lib := needORT(b)
	open := func(fast bool) *Embedder {
		defer func(old bool) { ortFastQuant = old }(ortFastQuant)
		ortFastQuant = fast
		e, err := New(defaultCard(b), Options{ORTLib: lib})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close() })
		return e
	}
	modes := []struct {
		name string
		e    *Embedder
	}{{"precise", open(false)}, {"fast", open(true)}}
	passes := e2eFirstPasses(b, modes[0].e)
	vecs := make([][][]float32, len(modes))
	run := func(m int) {
		vecs[m] = vecs[m][:0]
		for i := range passes {
			res, err := modes[m].e.RunPasses(passes[i : i+1])
			if err == nil {
				err = res[0].err
			}
			if err != nil {
				b.Fatal(err)
			}
			vecs[m] = append(vecs[m], res[0].vec)
		}
	}
	for m := range modes { // warm-up
		run(m)
	}
	rounds := benchRounds()
	wall := make([]time.Duration, len(modes))
	cpu := make([]int64, len(modes))
	b.ResetTimer()
	for range b.N {
		for r := range rounds {
			for j := range modes {
				m := (r + j) % len(modes)
				c0, t0 := processCPU(), time.Now()
				run(m)
				wall[m] += time.Since(t0)
				cpu[m] += processCPU() - c0
			}
		}
	}
	b.StopTimer()
	photos := float64(b.N * rounds * len(passes))
	for m, mode := range modes {
		wallMS := float64(wall[m].Microseconds()) / 1000 / photos
		cpuMS := float64(cpu[m]) / 1e6 / photos
		b.ReportMetric(wallMS, mode.name+"-wall-ms/photo")
		b.ReportMetric(cpuMS, mode.name+"-cpu-ms/photo")
	}
	b.ReportMetric(float64(wall[0])/float64(wall[1]), "precise/fast-wall")
	b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "precise/fast-cpu")
	_, lowest := cosines(vecs[0], vecs[1]) // the passes' vectors are unit length
	b.ReportMetric(lowest, "min-cosine")
}
