package benchdata

import (
	"math"
	"testing"
)

// Vector rows are unit length, reproducible, and clustered: a row is much
// closer to a row of its own cluster than to an average other row.
func TestVectorsRows(t *testing.T) {
	v := NewVectors(256, 10, 7)
	a, b := make([]float32, 256), make([]float32, 256)
	v.Row(3, a)
	v.Row(3, b)
	dot := func(x, y []float32) float64 {
		var s float64
		for i := range x {
			s += float64(x[i]) * float64(y[i])
		}
		return s
	}
	if a[0] != b[0] || math.Abs(dot(a, a)-1) > 1e-5 {
		t.Fatalf("row 3 not reproducible or not unit: %v %v, norm² %v", a[0], b[0], dot(a, a))
	}
	m := v.Matrix(0, 400)
	var same, other float64
	var ns, no int
	for i := range 400 {
		for j := range i {
			d := dot(m[i*256:(i+1)*256], m[j*256:(j+1)*256])
			if mix(uint64(i), 7^0xc105)%10 == mix(uint64(j), 7^0xc105)%10 {
				same += d
				ns++
			} else {
				other += d
				no++
			}
		}
	}
	if same/float64(ns) < other/float64(no)+0.2 {
		t.Errorf("mean similarity within clusters %.3f, across %.3f: not clustered", same/float64(ns), other/float64(no))
	}
}
