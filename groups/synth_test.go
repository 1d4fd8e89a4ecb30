package groups

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// clustered makes n unit vectors of dims floats shaped like a shop catalog's
// image embeddings: products scatter around n/per category centres in a
// latent space of 64 dimensions (lifted to dims by a fixed random map), and
// each product is sold as 1–4 offers whose vectors differ by a little noise,
// like one photo resized and recompressed by several shops. ids are "p-<i>".
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
	ids := make([]string, n)
	vecs := make([]float32, n*dims)
	product := make([]float64, latent)
	z := make([]float64, latent)
	row64 := make([]float64, dims)
	offers := 0
	for i := range n {
		ids[i] = fmt.Sprintf("p-%d", i)
		if offers == 0 {
			offers = 1 + rng.IntN(4)
			c := rng.IntN(nc)
			for t := range product {
				product[t] = centres[c*latent+t] + 0.7*rng.NormFloat64()
			}
		}
		offers--
		for t := range z {
			z[t] = product[t] + 0.08*rng.NormFloat64()
		}
		for d := range row64 {
			row64[d] = 0.02 * rng.NormFloat64()
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
