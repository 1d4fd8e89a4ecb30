package groups

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/internal/cputime"
	"github.com/essync/essync/neighbors"
)

// BenchmarkCompute measures groups.Compute against neighbors.Build on the
// same clustered 1280-d vectors in the same process, and reports their ratio
// in wall time and in process CPU time (steadier on a shared machine):
// the neighbour step is only part of a full run, so groups/neighbors bounds
// what groups add to a run. 5 000 items by default; set
// ESSYNC_GROUPS_BENCH_N=100000 for the target size (≈ 1 GiB, minutes).
func BenchmarkCompute(b *testing.B) {
	n := 5000
	if s := os.Getenv("ESSYNC_GROUPS_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 2 {
			b.Fatalf("ESSYNC_GROUPS_BENCH_N=%q: want a number of items ≥ 2", s)
		}
		n = v
	}
	const dims = 1280
	ids, vecs := benchdata.ClusteredOffers(n, dims, 50, 1)
	start, cpu := time.Now(), cputime.Process()
	g, err := neighbors.Build(ids, vecs, dims, neighbors.Options{K: 20, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	build, buildCPU := time.Since(start), cputime.Process()-cpu
	lists := make([][]neighbors.Neighbor, len(ids))
	for i, id := range ids {
		lists[i] = g.Neighbors(id)
	}
	runtime.GC()
	b.ResetTimer()
	cpu = cputime.Process()
	var res *Result
	for range b.N {
		if res, err = Compute(ids, lists, vecs, dims, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perCPU := (cputime.Process() - cpu).Seconds() / float64(b.N)
	per := b.Elapsed().Seconds() / float64(b.N)
	st := res.Stats()
	b.ReportMetric(build.Seconds(), "neighbors-s")
	b.ReportMetric(per, "groups-s")
	b.ReportMetric(per/build.Seconds(), "groups/neighbors")
	b.ReportMetric(perCPU/buildCPU.Seconds(), "cpu-groups/neighbors")
	b.ReportMetric(float64(st.Groups), "groups")
	b.ReportMetric(float64(st.GroupedProducts), "grouped")
	b.ReportMetric(float64(st.Splits), "splits")
	b.ReportMetric(float64(st.Largest), "largest")
}
