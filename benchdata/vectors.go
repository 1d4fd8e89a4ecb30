package benchdata

import "math/rand/v2"

// Vectors generates synthetic image-embedding-like unit vectors one row at a
// time, so a million 1280-d rows (5 GB) can be streamed into a load or a
// comparison without holding them: rows scatter with varied spread around
// N/PerCluster cluster centres in a 64-dimensional latent space, which a
// fixed random map lifts to Dims, plus a little isotropic noise — the recipe
// of the neighbors package's benchmarks. Row i depends only on (i, Seed,
// Dims, Clusters), so any row can be regenerated anywhere.
type Vectors struct {
	Dims     int
	Clusters int // number of cluster centres (at least 1)
	Seed     uint64
	lift     []float64 // latent×Dims
}

const latentDims = 64

// NewVectors prepares a generator of dims-long rows around clusters centres.
func NewVectors(dims, clusters int, seed uint64) *Vectors {
	v := &Vectors{Dims: dims, Clusters: max(1, clusters), Seed: seed}
	v.lift = newLift(rand.New(rand.NewPCG(seed, 0x11f7)), dims)
	return v
}

// Row writes row i (a unit vector) into dst, which must hold Dims values.
// It is safe to call from several goroutines.
func (v *Vectors) Row(i int, dst []float32) {
	c := int(mix(uint64(i), v.Seed^0xc105) % uint64(v.Clusters))
	crng := rand.New(rand.NewPCG(uint64(c), v.Seed^0xce47e))
	spread := 0.2 + 0.6*crng.Float64()
	rng := rand.New(rand.NewPCG(uint64(i), v.Seed^0x20f))
	row := make([]float64, v.Dims)
	for d := range row {
		row[d] = 0.05 * rng.NormFloat64()
	}
	var z [latentDims]float64
	for t := range z {
		z[t] = crng.NormFloat64() + spread*rng.NormFloat64()
	}
	addLifted(row, z[:], v.lift)
	toUnit(dst[:v.Dims], row)
}

// Matrix returns rows first … first+n-1 as one contiguous row-major matrix.
func (v *Vectors) Matrix(first, n int) []float32 {
	out := make([]float32, n*v.Dims)
	for k := range n {
		v.Row(first+k, out[k*v.Dims:(k+1)*v.Dims])
	}
	return out
}
