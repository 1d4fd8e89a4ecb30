package neighbors

import (
	"math"
	"math/rand/v2"
)

// sketchDims is the width of the random projection the trees are built on.
// Splitting only has to group likely neighbours (every candidate is re-scored
// on the full vectors), and a 1280-d row costs 20× more memory traffic than a
// 64-d sketch: the trees' projections would otherwise be bound by memory
// bandwidth, not arithmetic.
const sketchDims = 64

// sketch returns the rows of live projected on sketchDims random Gaussian
// directions and normalised (Johnson–Lindenstrauss: angles are roughly kept),
// or m itself when the rows are already that narrow. Rows not in live are nil.
func (m *matrix) sketch(live []int32, seed uint64, workers int) *matrix {
	if m.dims <= 2*sketchDims {
		return m
	}
	rng := rand.New(rand.NewPCG(seed, 0x5ce7c4))
	dirs := &matrix{rows: make([][]float32, sketchDims), dims: m.dims}
	for i := range dirs.rows {
		dirs.rows[i] = make([]float32, m.dims)
		for d := range dirs.rows[i] {
			dirs.rows[i][d] = float32(rng.NormFloat64())
		}
	}
	// Score item rows against the directions with the tile kernel, on a
	// matrix that holds both, then copy each block out.
	both := &matrix{rows: append(append([][]float32(nil), m.rows...), dirs.rows...), dims: m.dims}
	cs := make([]int32, sketchDims)
	for i := range cs {
		cs[i] = int32(len(m.rows) + i)
	}
	flat := make([]float32, len(live)*sketchDims)
	out := &matrix{rows: make([][]float32, len(m.rows)), dims: sketchDims}
	const block = 64
	bufs := make([][]float32, workers)
	parallel(workers, (len(live)+block-1)/block, func(w, b int) {
		if bufs[w] == nil {
			bufs[w] = make([]float32, block*sketchDims)
		}
		lo, hi := b*block, min((b+1)*block, len(live))
		both.tile(live[lo:hi], cs, bufs[w])
		for t := lo; t < hi; t++ {
			row := flat[t*sketchDims : (t+1)*sketchDims : (t+1)*sketchDims]
			copy(row, bufs[w][(t-lo)*sketchDims:])
			var s float64
			for _, v := range row {
				s += float64(v) * float64(v)
			}
			if s > 0 {
				inv := float32(1 / math.Sqrt(s))
				for d := range row {
					row[d] *= inv
				}
			}
			out.rows[live[t]] = row
		}
	})
	return out
}
