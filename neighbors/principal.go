package neighbors

import (
	"math"
	"math/rand/v2"
)

// The approximate search runs its NN-descent first on the rows projected on
// their top principal directions, then re-scores the lists on the full rows.
// Image embeddings concentrate their energy in far fewer directions than they
// have dimensions, and a candidate only has to be found there: its final
// score is always exact. At 128 of 1280 dimensions a pair costs a tenth of
// the arithmetic and memory traffic, which pays for the wider working lists
// that catalogs of small near-duplicate clusters need (most of each top-20
// then lies outside the item's own cluster, in a space of high intrinsic
// dimension where trees alone find little). The projection keeps dot
// products (rows are not renormalised), so scores in the reduced space are
// the full scores minus the part outside the subspace.

// reducedDims is the width of the coarse space; inputs at most twice as wide
// are searched directly. A variable so tests can force a too-narrow subspace.
var reducedDims = 128

const (
	// principalSample is how many rows estimate the second-moment matrix.
	principalSample = 4096
	// principalIters is the number of subspace (block power) iterations.
	principalIters = 8
)

// principal returns the live rows projected on the reducedDims leading
// eigenvectors of their uncentred second-moment matrix, estimated on a
// random sample, and the share of the sample's energy the projection keeps;
// or m itself and 1 when m is not wider than 2×reducedDims. Rows not in live
// are nil. The result depends only on the rows and the seed.
func (m *matrix) principal(live []int32, seed uint64, workers int) (*matrix, float64) {
	d := m.dims
	if d <= 2*reducedDims || len(live) == 0 {
		return m, 1
	}
	rng := rand.New(rand.NewPCG(seed, 0x9ca))
	sample := sampleOf(live, principalSample, rng)
	// The sample transposed: one row per dimension, so the second-moment
	// matrix S = XᵀX is a tile of dimension rows against dimension rows.
	tr := &matrix{rows: make([][]float32, d), dims: len(sample)}
	flat := make([]float32, d*len(sample))
	for j := range tr.rows {
		tr.rows[j] = flat[j*len(sample) : (j+1)*len(sample) : (j+1)*len(sample)]
	}
	for t, i := range sample {
		for j, v := range m.rows[i] {
			tr.rows[j][t] = v
		}
	}
	dimsIdx := make([]int32, d)
	for j := range dimsIdx {
		dimsIdx[j] = int32(j)
	}
	// S and the current basis Q live in one matrix of width d, so S·Q is a
	// tile of S's rows against Q's rows.
	sq := &matrix{rows: make([][]float32, d+reducedDims), dims: d}
	sflat := make([]float32, (d+reducedDims)*d)
	for j := range sq.rows {
		sq.rows[j] = sflat[j*d : (j+1)*d : (j+1)*d]
	}
	const block = 64
	nb := (d + block - 1) / block
	parallel(workers, nb, func(_, b int) {
		rs := dimsIdx[b*block : min((b+1)*block, d)]
		out := make([]float32, len(rs)*d)
		tr.tile(rs, dimsIdx, out)
		for r, j := range rs {
			copy(sq.rows[j], out[r*d:(r+1)*d])
		}
	})
	basis := sq.rows[d:]
	for _, q := range basis {
		for j := range q {
			q[j] = float32(rng.NormFloat64())
		}
	}
	orthonormalize(basis)
	qIdx := make([]int32, reducedDims)
	for j := range qIdx {
		qIdx[j] = int32(d + j)
	}
	prod := make([]float32, d*reducedDims)
	for range principalIters {
		parallel(workers, nb, func(_, b int) {
			rs := dimsIdx[b*block : min((b+1)*block, d)]
			sq.tile(rs, qIdx, prod[b*block*reducedDims:])
		})
		for j, q := range basis {
			for r := range q {
				q[r] = prod[r*reducedDims+j]
			}
		}
		orthonormalize(basis)
	}
	// Project every live row on the basis, a block of rows at a time.
	both := &matrix{rows: append(append([][]float32(nil), m.rows...), basis...), dims: d}
	cs := make([]int32, reducedDims)
	for j := range cs {
		cs[j] = int32(len(m.rows) + j)
	}
	out := &matrix{rows: make([][]float32, len(m.rows)), dims: reducedDims}
	rows := make([]float32, len(live)*reducedDims)
	parallel(workers, (len(live)+block-1)/block, func(_, b int) {
		lo, hi := b*block, min((b+1)*block, len(live))
		buf := rows[lo*reducedDims : hi*reducedDims]
		both.tile(live[lo:hi], cs, buf)
		for t := lo; t < hi; t++ {
			out.rows[live[t]] = rows[t*reducedDims : (t+1)*reducedDims : (t+1)*reducedDims]
		}
	})
	var kept float64
	for _, i := range sample {
		for _, v := range out.rows[i] {
			kept += float64(v) * float64(v)
		}
	}
	return out, kept / float64(len(sample))
}

// orthonormalize makes vs an orthonormal set by modified Gram–Schmidt in
// float64; a vector that vanishes is replaced by a unit axis vector made
// orthogonal to the others, so the basis keeps its size.
func orthonormalize(vs [][]float32) {
	d := len(vs[0])
	acc := make([]float64, d)
	done := make([][]float64, 0, len(vs))
	for i, v := range vs {
		for attempt := 0; ; attempt++ {
			for j, x := range v {
				acc[j] = float64(x)
			}
			if attempt > 0 {
				clear(acc)
				acc[(i+attempt)%d] = 1
			}
			for range 2 { // twice is enough for float64 (Kahan)
				for _, u := range done {
					var p float64
					for j := range acc {
						p += acc[j] * u[j]
					}
					for j := range acc {
						acc[j] -= p * u[j]
					}
				}
			}
			var s float64
			for _, x := range acc {
				s += x * x
			}
			if s > 1e-20 || attempt > d {
				inv := 1 / math.Sqrt(s)
				u := make([]float64, d)
				for j := range acc {
					u[j] = acc[j] * inv
					v[j] = float32(u[j])
				}
				done = append(done, u)
				break
			}
		}
	}
}
