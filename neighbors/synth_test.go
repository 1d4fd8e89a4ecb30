package neighbors

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// clustered makes n unit vectors of dims floats shaped like image embeddings:
// points scatter with varied spread around n/per cluster centres in a
// latent space of 64 dimensions, which a fixed random map lifts to dims, plus
// a little isotropic noise. ids are "p-<i>".
func clustered(n, dims, per int, seed uint64) ([]string, []float32) {
	const latent = 64
	rng := rand.New(rand.NewPCG(seed, 1))
	lift := make([]float64, latent*dims)
	for i := range lift {
		lift[i] = rng.NormFloat64() / math.Sqrt(latent)
	}
	nc := max(1, n/per)
	centres := make([]float64, nc*latent)
	for i := range centres {
		centres[i] = rng.NormFloat64()
	}
	spread := make([]float64, nc)
	for c := range spread {
		spread[c] = 0.2 + 0.6*rng.Float64()
	}
	ids := make([]string, n)
	vecs := make([]float32, n*dims)
	z := make([]float64, latent)
	row64 := make([]float64, dims)
	for i := range n {
		ids[i] = fmt.Sprintf("p-%d", i)
		c := rng.IntN(nc)
		for t := range z {
			z[t] = centres[c*latent+t] + spread[c]*rng.NormFloat64()
		}
		for d := range row64 {
			row64[d] = 0.05 * rng.NormFloat64()
		}
		for t, zt := range z {
			l := lift[t*dims : (t+1)*dims]
			for d := range row64 {
				row64[d] += zt * l[d]
			}
		}
		var s float64
		for _, v := range row64 {
			s += v * v
		}
		inv := 1 / math.Sqrt(s)
		row := vecs[i*dims : (i+1)*dims]
		for d := range row {
			row[d] = float32(row64[d] * inv)
		}
	}
	return ids, vecs
}
