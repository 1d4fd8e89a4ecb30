package neighbors

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/essync/essync/npy"
)

// BenchmarkIncrementalNPY is the incremental sync at scale on a real matrix:
// Build over all rows but the last 1000, Restore from its lists (as
// `essync incremental` does), then Update adding those 1000 and removing
// 1000 others. It reports each step's seconds. Opt-in, since it needs data:
//
//	NEIGHBORS_NPY=$PWD/.cache/bench/clustered-100000x1280-s42/vectors.npy \
//	  go test -run '^$' -bench IncrementalNPY -benchtime 1x -timeout 30m ./neighbors/
func BenchmarkIncrementalNPY(b *testing.B) {
	path := os.Getenv("NEIGHBORS_NPY")
	if path == "" {
		b.Skip("set NEIGHBORS_NPY to a float32 .npy of unit rows")
	}
	data, rows, cols, err := npy.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	if rows < 3*batch {
		b.Fatalf("%s has %d rows, want at least %d", path, rows, 3*batch)
	}
	ids := make([]string, rows)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%d", i)
	}
	n := rows - batch
	add := map[string][]float32{}
	for i := n; i < rows; i++ {
		add[ids[i]] = data[i*cols : (i+1)*cols]
	}
	remove := make([]string, batch)
	for i := range remove {
		remove[i] = ids[i*(n/batch)]
	}
	for range b.N {
		t0 := time.Now()
		g, err := Build(ids[:n], data[:n*cols], cols, Options{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "build-s")
		b.ReportMetric(g.Recall(), "recall")
		lists := make([][]string, n)
		for i, id := range ids[:n] {
			for _, nb := range g.Neighbors(id) {
				lists[i] = append(lists[i], nb.ID)
			}
		}
		t0 = time.Now()
		r, _, err := Restore(ids[:n], data[:n*cols], cols, lists, Options{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "restore-s")
		t0 = time.Now()
		changed, err := r.Update(add, remove)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "update-s")
		b.ReportMetric(float64(len(changed)), "changed")
	}
}
