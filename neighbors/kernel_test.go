package neighbors

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randRows(rng *rand.Rand, rows, n int) [][]float32 {
	out := make([][]float32, rows)
	for i := range out {
		out[i] = make([]float32, n)
		for j := range out[i] {
			out[i][j] = float32(rng.NormFloat64())
		}
	}
	return out
}

func refDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// TestKernelsAgree checks the assembly and pure-Go kernels against a float64
// reference for lengths around the 8-float SIMD width and a real dimension.
func TestKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 1280, 1283} {
		rows := randRows(rng, 7, n)
		for _, simd := range []bool{false, true} {
			if simd && !haveAVX2 {
				continue
			}
			useSIMD = simd
			var q [4][]float32
			var x [3][]float32
			copy(q[:], rows[:4])
			copy(x[:], rows[4:])
			var out [12]float32
			dot4x3(&q, &x, &out)
			var out4 [4]float32
			dot1x4(rows[0], [4][]float32{rows[1], rows[2], rows[3], rows[4]}, &out4)
			tol := 1e-4 * math.Sqrt(float64(n))
			for i := range 4 {
				for j := range 3 {
					if want := refDot(q[i], x[j]); math.Abs(float64(out[i*3+j])-want) > tol {
						t.Errorf("n=%d simd=%v dot4x3[%d][%d] = %v, want %v", n, simd, i, j, out[i*3+j], want)
					}
				}
				if want := refDot(rows[0], rows[i+1]); math.Abs(float64(out4[i])-want) > tol {
					t.Errorf("n=%d simd=%v dot1x4[%d] = %v, want %v", n, simd, i, out4[i], want)
				}
			}
			if want := refDot(rows[5], rows[6]); math.Abs(float64(Dot(rows[5], rows[6]))-want) > tol {
				t.Errorf("n=%d Dot = %v, want %v", n, Dot(rows[5], rows[6]), want)
			}
		}
	}
	useSIMD = haveAVX2
}

// TestTileUpper checks the entries tileUpper promises: above the diagonal in
// the first upper columns, everything after them.
func TestTileUpper(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 4))
	m := matrix{rows: randRows(rng, 40, 72), dims: 72}
	for _, shape := range [][3]int{{10, 25, 10}, {7, 7, 7}, {13, 40, 13}, {5, 9, 5}} {
		rs := make([]int32, shape[0])
		cs := make([]int32, shape[1])
		for i := range cs {
			cs[i] = int32(rng.IntN(40))
		}
		copy(rs, cs)
		out := make([]float32, len(rs)*len(cs))
		m.tileUpper(rs, cs, shape[2], out)
		for r := range rs {
			for c := range cs {
				if c < shape[2] && c <= r {
					continue
				}
				if want := refDot(m.rows[rs[r]], m.rows[cs[c]]); math.Abs(float64(out[r*len(cs)+c])-want) > 1e-3 {
					t.Fatalf("shape %v: [%d][%d] = %v, want %v", shape, r, c, out[r*len(cs)+c], want)
				}
			}
		}
	}
}

// TestDotsMatchTile checks that the 1×4 and 4×3 paths give bit-identical
// scores, so a pair scored by either ranks the same.
func TestDotsMatchTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 4))
	for _, dims := range []int{13, 1280, 2100} {
		m := matrix{rows: randRows(rng, 11, dims), dims: dims}
		cs := []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
		want := make([]float32, len(cs)*len(cs))
		m.tile(cs, cs, want)
		got := make([]float32, len(cs))
		for r, q := range cs {
			m.dots(q, cs, got)
			for c := range cs {
				if got[c] != want[r*len(cs)+c] {
					t.Fatalf("dims %d: dots[%d][%d] = %v, tile %v", dims, r, c, got[c], want[r*len(cs)+c])
				}
			}
		}
	}
}

// TestTile checks the blocked tile, including ragged edges, against single dots.
func TestTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := matrix{rows: randRows(rng, 23, 1100), dims: 1100}
	for _, shape := range [][2]int{{1, 1}, {4, 3}, {5, 7}, {23, 23}, {2, 17}} {
		rs := make([]int32, shape[0])
		cs := make([]int32, shape[1])
		for i := range rs {
			rs[i] = int32(rng.IntN(23))
		}
		for i := range cs {
			cs[i] = int32(rng.IntN(23))
		}
		out := make([]float32, len(rs)*len(cs))
		m.tile(rs, cs, out)
		for r := range rs {
			for c := range cs {
				if want := refDot(m.rows[rs[r]], m.rows[cs[c]]); math.Abs(float64(out[r*len(cs)+c])-want) > 1e-3 {
					t.Fatalf("shape %v: tile[%d][%d] = %v, want %v", shape, r, c, out[r*len(cs)+c], want)
				}
			}
		}
	}
}
