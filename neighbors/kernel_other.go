//go:build !amd64

package neighbors

// haveAVX2 is false off amd64: the pure-Go kernels run instead.
var haveAVX2 = false

func dot4x3AVX2(q0, q1, q2, q3, x0, x1, x2 *float32, n int, out *float32) {
	panic("neighbors: AVX2 kernel called off amd64")
}

func dot1x4AVX2(q, x0, x1, x2, x3 *float32, n int, out *float32) {
	panic("neighbors: AVX2 kernel called off amd64")
}
