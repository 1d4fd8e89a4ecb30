package serve

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/essync/essync/embed"
)

// BenchmarkORTLayouts compares, in one process, ways to spend 2 cores on
// single-photo model passes: one 2-thread session fed one pass at a time (the
// raw baseline), the same session fed batches of 4 and 8, and two 1-thread
// sessions fed in parallel. It reports passes per second of each, alternating
// the layouts for ESSYNC_BENCH_REPEATS rounds.
//
//	go test -run '^$' -bench ORTLayouts -benchtime 1x ./serve/
func BenchmarkORTLayouts(b *testing.B) {
	needORT(b)
	card, err := embed.LoadCardOrDefault("")
	if err != nil {
		b.Fatal(err)
	}
	two, err := embed.New(card, embed.Options{IntraOpThreads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer two.Close()
	var ones [2]*embed.Embedder
	for i := range ones {
		if ones[i], err = embed.New(card, embed.Options{IntraOpThreads: 1}); err != nil {
			b.Fatal(err)
		}
		defer ones[i].Close()
	}
	names, _ := filepath.Glob(filepath.Join(e2eDir, "images", "*.jpg"))
	var passes []embed.Pass
	for _, name := range names {
		data, _ := os.ReadFile(name)
		q, err := two.Prepare(name, data)
		if err != nil {
			b.Fatal(err)
		}
		_, p := two.Start(q)
		passes = append(passes, p)
	}
	n := envInt("ESSYNC_BENCH_PASSES", 96)
	run := func(e *embed.Embedder, from, count, batch int) {
		for i := 0; i < count; i += batch {
			var ps []embed.Pass
			for j := i; j < min(count, i+batch); j++ {
				ps = append(ps, passes[(from+j)%len(passes)])
			}
			if _, err := e.RunPasses(ps); err != nil {
				b.Fatal(err)
			}
		}
	}
	layouts := []struct {
		name string
		f    func()
	}{
		{"one 2-thread session, batch 1", func() { run(two, 0, n, 1) }},
		{"one 2-thread session, batch 4", func() { run(two, 0, n, 4) }},
		{"one 2-thread session, batch 8", func() { run(two, 0, n, 8) }},
		{"two 1-thread sessions in parallel, batch 1", func() {
			var wg sync.WaitGroup
			for k, e := range ones {
				wg.Add(1)
				go func() { defer wg.Done(); run(e, k*n/2, n/2, 1) }()
			}
			wg.Wait()
		}},
		{"two 1-thread sessions in parallel, batch 4", func() {
			var wg sync.WaitGroup
			for k, e := range ones {
				wg.Add(1)
				go func() { defer wg.Done(); run(e, k*n/2, n/2, 4) }()
			}
			wg.Wait()
		}},
	}
	for _, l := range layouts {
		l.f() // warm-up
	}
	rates := make([][]float64, len(layouts))
	for range envInt("ESSYNC_BENCH_REPEATS", 3) {
		for i, l := range layouts {
			t0 := time.Now()
			l.f()
			rates[i] = append(rates[i], float64(n)/time.Since(t0).Seconds())
		}
	}
	for i, l := range layouts {
		b.Logf("%-45s passes/s %.1f (each round: %.1f), ratio to the first %.2f (load %s)", l.name, median(rates[i]), rates[i], median(rates[i])/median(rates[0]), loadAverage())
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
