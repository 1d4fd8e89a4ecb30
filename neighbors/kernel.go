package neighbors

// Dot-product kernels. The hot loops of both the exact and the approximate
// search are small register-blocked kernels: 4 query rows × 3 item rows (tiles)
// and 1 query × 4 items (candidate lists). On amd64 with AVX2+FMA they run in
// assembly; elsewhere, or when useSIMD is false, the pure-Go versions below
// compute the same sums.

// useSIMD selects the assembly kernels; tests flip it to compare both paths.
var useSIMD = haveAVX2

// kernelChunk is how many floats of a row one kernel call covers, so the 7 rows
// of a 4×3 call stay in L1 cache for any dimension.
const kernelChunk = 1024

// Dot returns a·b for equal-length vectors: the cosine similarity of two unit
// vectors. Pure Go, four sums at a time; for single dots outside the blocked
// kernel (groups, benchmarks, spot checks).
func Dot(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// dot1x4 sets out[j] = q·x[j]. All rows must have len(q) elements.
func dot1x4(q []float32, x [4][]float32, out *[4]float32) {
	n := len(q)
	head := 0
	if useSIMD && n >= 8 {
		head = n &^ 7
		dot1x4AVX2(&q[0], &x[0][0], &x[1][0], &x[2][0], &x[3][0], head, &out[0])
	} else {
		*out = [4]float32{}
	}
	if head == n {
		return
	}
	var s0, s1, s2, s3 float32
	x0, x1, x2, x3 := x[0][head:n], x[1][head:n], x[2][head:n], x[3][head:n]
	for i, v := range q[head:n] {
		s0 += v * x0[i]
		s1 += v * x1[i]
		s2 += v * x2[i]
		s3 += v * x3[i]
	}
	out[0] += s0
	out[1] += s1
	out[2] += s2
	out[3] += s3
}

// dot4x3 sets out[i*3+j] = q[i]·x[j]. All rows must have the same length.
func dot4x3(q *[4][]float32, x *[3][]float32, out *[12]float32) {
	n := len(q[0])
	head := 0
	if useSIMD && n >= 8 {
		head = n &^ 7
		dot4x3AVX2(&q[0][0], &q[1][0], &q[2][0], &q[3][0], &x[0][0], &x[1][0], &x[2][0], head, &out[0])
	} else {
		*out = [12]float32{}
	}
	if head == n {
		return
	}
	for i := 0; i < 4; i++ {
		qi := q[i][head:n]
		x0, x1, x2 := x[0][head:n], x[1][head:n], x[2][head:n]
		var s0, s1, s2 float32
		for t, v := range qi {
			s0 += v * x0[t]
			s1 += v * x1[t]
			s2 += v * x2[t]
		}
		out[i*3] += s0
		out[i*3+1] += s1
		out[i*3+2] += s2
	}
}

// tile sets out[r*len(cs)+c] = row(rs[r])·row(cs[c]) for every r, c. It walks
// the dimensions in kernelChunk slices, 3 items at a time against 4 queries at
// a time, so each item panel is reused from L1 across all the queries.
func (m *matrix) tile(rs, cs []int32, out []float32) { m.tileUpper(rs, cs, 0, out) }

// tileUpper is tile for callers that need, among the first upper columns,
// only the entries above the diagonal (c > r): kernel calls entirely below it
// are skipped and leave unspecified values there.
func (m *matrix) tileUpper(rs, cs []int32, upper int, out []float32) {
	nr, nc := len(rs), len(cs)
	out = out[:nr*nc]
	clear(out)
	if nr == 0 || nc == 0 {
		return
	}
	var q [4][]float32
	var x [3][]float32
	var res [12]float32
	for off := 0; off < m.dims; off += kernelChunk {
		end := min(off+kernelChunk, m.dims)
		for c := 0; c < nc; c += 3 {
			for j := range 3 {
				x[j] = m.rows[cs[min(c+j, nc-1)]][off:end]
			}
			cw := min(3, nc-c)
			rEnd := nr
			if c+cw <= upper {
				rEnd = min(nr, c+cw-1)
			}
			for r := 0; r < rEnd; r += 4 {
				for i := range 4 {
					q[i] = m.rows[rs[min(r+i, nr-1)]][off:end]
				}
				dot4x3(&q, &x, &res)
				rw := min(4, nr-r)
				for i := 0; i < rw; i++ {
					o := out[(r+i)*nc+c:]
					for j := 0; j < cw; j++ {
						o[j] += res[i*3+j]
					}
				}
			}
		}
	}
}

// dots sets out[j] = row(q)·row(cs[j]), four items per kernel call. It sums
// over the same kernelChunk slices as tile, so both give identical scores.
func (m *matrix) dots(q int32, cs []int32, out []float32) {
	qv := m.rows[q]
	var x [4][]float32
	var res [4]float32
	clear(out[:len(cs)])
	for off := 0; off < m.dims; off += kernelChunk {
		end := min(off+kernelChunk, m.dims)
		for c := 0; c < len(cs); c += 4 {
			for j := range 4 {
				x[j] = m.rows[cs[min(c+j, len(cs)-1)]][off:end]
			}
			dot1x4(qv[off:end], x, &res)
			for j := c; j < min(c+4, len(cs)); j++ {
				out[j] += res[j-c]
			}
		}
	}
}
