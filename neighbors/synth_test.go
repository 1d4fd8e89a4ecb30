package neighbors

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/essync/essync/benchdata"
)

// The package's test data, shared with the groups tests and essync-bench
// through benchdata.
var (
	// clustered makes n unit vectors around n/per clusters of varied
	// spread, ids "p-<i>".
	clustered = benchdata.Clustered
	// unitRows makes n random unit vectors (no clusters) from an rng.
	unitRows = benchdata.UnitRows
)

// scaleDims is the width of the scale benchmarks' rows, the model's.
const scaleDims = 1280

// scaleN is NEIGHBORS_N, the size of the opt-in scale benchmarks; b is
// skipped, with skip as the reason, when it is unset.
func scaleN(b *testing.B, skip string) int {
	n, _ := strconv.Atoi(os.Getenv("NEIGHBORS_N"))
	if n <= 0 {
		b.Skip(skip)
	}
	return n
}

// scaleRows is the scale benchmarks' data at n products: rows 0 … rows-1
// of benchdata.NewVectors(scaleDims, n/6, 42), as `essync-bench --vectors`
// makes them (about 6 near-duplicates a cluster), with ids "p-<i>"
// zero-padded to width digits.
func scaleRows(n, rows, width int) ([]string, []float32) {
	ids := make([]string, rows)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%0*d", width, i)
	}
	return ids, benchdata.NewVectors(scaleDims, n/6, 42).Matrix(0, rows)
}
