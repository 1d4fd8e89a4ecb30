package benchdata

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// The generators below are the small, whole-matrix data of the neighbors
// and groups packages' tests; Vectors is the streamed data of the large
// runs. All lift points of a 64-dimensional latent space to dims through a
// fixed random map (newLift, addLifted) and scale the result to unit length
// (toUnit). Each keeps its own order of random draws: tests pin recall and
// group counts on exactly these vectors.

// Clustered makes n unit vectors of dims floats shaped like image
// embeddings: points scatter with varied spread around n/per cluster
// centres in the latent space, plus a little isotropic noise. ids are
// "p-<i>". The same arguments always give the same vectors.
func Clustered(n, dims, per int, seed uint64) ([]string, []float32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	lift := newLift(rng, dims)
	nc := max(1, n/per)
	centres := normals(rng, nc*latentDims)
	spread := make([]float64, nc)
	for c := range spread {
		spread[c] = 0.2 + 0.6*rng.Float64()
	}
	ids := make([]string, n)
	vecs := make([]float32, n*dims)
	z := make([]float64, latentDims)
	row64 := make([]float64, dims)
	for i := range n {
		ids[i] = fmt.Sprintf("p-%d", i)
		c := rng.IntN(nc)
		for t := range z {
			z[t] = centres[c*latentDims+t] + spread[c]*rng.NormFloat64()
		}
		for d := range row64 {
			row64[d] = 0.05 * rng.NormFloat64()
		}
		addLifted(row64, z, lift)
		toUnit(vecs[i*dims:(i+1)*dims], row64)
	}
	return ids, vecs
}

// ClusteredOffers makes n unit vectors of dims floats shaped like a shop
// catalog's image embeddings: products scatter around n/per category
// centres in the latent space, and each product is sold as 1–4 offers
// whose vectors differ by a little noise, like one photo resized and
// recompressed by several shops (what offer grouping must find). ids are
// "p-<i>". The same arguments always give the same vectors.
func ClusteredOffers(n, dims, per int, seed uint64) ([]string, []float32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	lift := newLift(rng, dims)
	nc := max(1, n/per)
	centres := normals(rng, nc*latentDims)
	ids := make([]string, n)
	vecs := make([]float32, n*dims)
	product := make([]float64, latentDims)
	z := make([]float64, latentDims)
	row64 := make([]float64, dims)
	offers := 0
	for i := range n {
		ids[i] = fmt.Sprintf("p-%d", i)
		if offers == 0 {
			offers = 1 + rng.IntN(4)
			c := rng.IntN(nc)
			for t := range product {
				product[t] = centres[c*latentDims+t] + 0.7*rng.NormFloat64()
			}
		}
		offers--
		for t := range z {
			z[t] = product[t] + 0.08*rng.NormFloat64()
		}
		for d := range row64 {
			row64[d] = 0.02 * rng.NormFloat64()
		}
		addLifted(row64, z, lift)
		toUnit(vecs[i*dims:(i+1)*dims], row64)
	}
	return ids, vecs
}

// UnitRows makes n random unit vectors of dims floats, uniform on the
// sphere (no clusters), drawing from rng; a row is rounded to float32
// before it is scaled.
func UnitRows(rng *rand.Rand, n, dims int) []float32 {
	v := make([]float32, n*dims)
	for i := range n {
		row := v[i*dims : (i+1)*dims]
		var s float64
		for d := range row {
			row[d] = float32(rng.NormFloat64())
			s += float64(row[d]) * float64(row[d])
		}
		for d := range row {
			row[d] = float32(float64(row[d]) / math.Sqrt(s))
		}
	}
	return v
}

// newLift draws the latent space's random map to dims: latentDims×dims
// normal values scaled so a lifted unit point has about unit length.
func newLift(rng *rand.Rand, dims int) []float64 {
	lift := normals(rng, latentDims*dims)
	for i := range lift {
		lift[i] /= math.Sqrt(latentDims)
	}
	return lift
}

// normals draws n standard normal values.
func normals(rng *rand.Rand, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = rng.NormFloat64()
	}
	return out
}

// addLifted adds the latent point z, lifted by lift, to row.
func addLifted(row, z, lift []float64) {
	dims := len(row)
	for t, zt := range z {
		l := lift[t*dims : (t+1)*dims]
		for d := range row {
			row[d] += zt * l[d]
		}
	}
}

// toUnit writes row scaled to unit length into dst.
func toUnit(dst []float32, row []float64) {
	var s float64
	for _, x := range row {
		s += x * x
	}
	inv := 1 / math.Sqrt(s)
	for d := range dst {
		dst[d] = float32(row[d] * inv)
	}
}
