package pipeline

import (
	"math"
	"slices"
	"testing"
)

func TestSameBits(t *testing.T) {
	a := []float32{0.5, -0.25, 1e-7, 0.75}
	tests := []struct {
		name string
		b    []float32
		want bool
	}{
		{"equal", slices.Clone(a), true},
		{"last bit of one value", []float32{0.5, -0.25, math.Nextafter32(1e-7, 1), 0.75}, false},
		{"shorter", a[:3], false},
	}
	for _, tt := range tests {
		if got := sameBits(a, tt.b); got != tt.want {
			t.Errorf("%s: sameBits = %v, want %v", tt.name, got, tt.want)
		}
	}
	zero, negZero := []float32{0, 1}, []float32{float32(math.Copysign(0, -1)), 1}
	if sameBits(zero, negZero) || !slices.Equal(zero, negZero) {
		t.Error("-0 for 0 should differ bitwise (and only bitwise)")
	}
	if !sameBits(nil, []float32{}) {
		t.Error("two empty vectors differ")
	}
}

// BenchmarkSameBits compares sameBits with the float loop it replaced in
// planVectorChanges, on 1280-d rows.
func BenchmarkSameBits(b *testing.B) {
	x := make([]float32, 1280)
	for i := range x {
		x[i] = float32(i) / 1280
	}
	y := slices.Clone(x)
	b.Run("sameBits", func(b *testing.B) {
		for range b.N {
			if !sameBits(x, y) {
				b.Fatal("differ")
			}
		}
	})
	b.Run("slices.Equal", func(b *testing.B) {
		for range b.N {
			if !slices.Equal(x, y) {
				b.Fatal("differ")
			}
		}
	})
}
