package pipeline

import (
	"bytes"
	"unsafe"
)

// sameBits tells whether two vectors are equal bit for bit. The vectors'
// planning compares every product's new vector with the stored one (at a
// million products 5 G floats), and a memcmp does that several times
// faster than a float loop. Bitwise is the stricter test: a vector equal
// only as floats (-0 for 0) counts as changed and is written again, which
// is harmless.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true
	}
	return bytes.Equal(unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), 4*len(a)), unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), 4*len(b)))
}
