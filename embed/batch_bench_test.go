package embed

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkInferBatch asks whether a model call of several queued query
// photos costs less CPU per photo than single-photo calls, as the search
// service's queue batches them at 16 clients: the default card's first pass
// (the query tensors of the 48 e2e photos, made once) run through RunPasses
// in calls of 1, 2, 4 and 8 photos, the sizes alternating round by round
// (ESSYNC_BENCH_ROUNDS, default 6, of 48 photos each) so the machine's load
// hits them alike. It reports per photo the wall time and this process's CPU
// time (user + system, the ORT threads included), and both against calls of 1:
//
//	go test -run '^$' -bench InferBatch -benchtime 1x ./embed/
func BenchmarkInferBatch(b *testing.B) {
	lib := needORT(b)
	e, err := New(defaultCard(b), Options{ORTLib: lib})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	passes := e2eFirstPasses(b, e)
	sizes := []int{1, 2, 4, 8}
	wall := map[int]time.Duration{}
	cpu := map[int]int64{}
	photos := map[int]int{}
	run := func(size int) {
		for i := 0; i+size <= len(passes); i += size {
			if _, err := e.RunPasses(passes[i : i+size]); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, size := range sizes { // warm-up: ORT's arenas for every shape
		run(size)
	}
	rounds := benchRounds()
	b.ResetTimer()
	for range b.N {
		for r := range rounds {
			for j := range sizes {
				size := sizes[(r+j)%len(sizes)]
				c0, t0 := processCPU(), time.Now()
				run(size)
				wall[size] += time.Since(t0)
				cpu[size] += processCPU() - c0
				photos[size] += len(passes) / size * size
			}
		}
	}
	b.StopTimer()
	per := func(d time.Duration, size int) float64 {
		return float64(d.Microseconds()) / 1000 / float64(photos[size])
	}
	perNs := func(ns int64, size int) float64 { return per(time.Duration(ns), size) }
	for _, size := range sizes {
		b.ReportMetric(per(wall[size], size), fmt.Sprintf("b%d-wall-ms/photo", size))
		b.ReportMetric(perNs(cpu[size], size), fmt.Sprintf("b%d-cpu-ms/photo", size))
		b.Logf("calls of %d: %.2f ms wall, %.2f ms CPU a photo; against calls of 1: wall %.2f, CPU %.2f (load %s)", size,
			per(wall[size], size), perNs(cpu[size], size), per(wall[size], size)/per(wall[1], 1), perNs(cpu[size], size)/perNs(cpu[1], 1), loadAverage())
	}
}

// loadAverage is the 1/5/15-minute load average, for the log.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// e2eFirstPasses prepares the 48 e2e photos as queries of e and returns
// their first model passes: ready tensors, for benchmarks of the model call.
func e2eFirstPasses(b *testing.B, e *Embedder) []Pass {
	names, _ := filepath.Glob(filepath.Join(testdata, "e2e", "images", "*.jpg"))
	if len(names) == 0 {
		b.Fatal("no e2e photos")
	}
	var passes []Pass
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			b.Fatal(err)
		}
		q, err := e.Prepare(n, data)
		if err != nil {
			b.Fatal(err)
		}
		_, first := e.Start(q)
		passes = append(passes, first)
	}
	return passes
}

// benchRounds is ESSYNC_BENCH_ROUNDS, the rounds a paired model benchmark
// alternates its variants over (default 6).
func benchRounds() int {
	rounds := 6
	if v, err := fmt.Sscan(os.Getenv("ESSYNC_BENCH_ROUNDS"), &rounds); v != 1 || err != nil {
		rounds = 6
	}
	return rounds
}
