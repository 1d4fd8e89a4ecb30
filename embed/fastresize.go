package embed

// #include "fastresize.h"
import "C"

import (
	"image"
	"math"
	"sync"
	"unsafe"
)

// resizeAVX2 is whether this CPU has AVX2, so fastResizeToTensor
// takes essync_resize_rgba_avx2 (about 4× cheaper, same tensor) instead of the SSE loops.
var resizeAVX2 = C.essync_resize_avx2_ok() != 0

// fastResizeToTensor is resizeImage + fillTensor in one pass for opaque
// *image.NRGBA sources (what libjpeg-turbo decodes to): a separable float32
// filter with the same kernels, supports and sample positions as imaging's
// Resize, written straight into the tensor without an intermediate image.
// It reports false (doing nothing) for other sources, which take the general path.
//
// It runs once or twice per catalog image, so the loops are in C
// (fastresize.c): four channels per SIMD register, every output sample with
// the same number of taps, source rows filtered horizontally once into a
// small ring buffer. About 3× less CPU than the same filter in plain Go
// (BenchmarkFastResize; docs/BENCHMARKS.md). On AVX2 CPUs the loops
// hold two pixels per register and the tap tables come from a small cache.
func fastResizeToTensor(c *Card, img image.Image, dst []float32) bool {
	src, ok := img.(*image.NRGBA)
	if !ok || src.Rect.Empty() || len(dst) < tensorLen(c) {
		return false
	}
	b := src.Bounds()
	if C.essync_opaque_rgba((*C.uchar)(unsafe.Pointer(&src.Pix[src.PixOffset(b.Min.X, b.Min.Y)])), C.int(src.Stride),
		C.int(b.Dx()), C.int(b.Dy())) == 0 {
		return false
	}
	return resizeTensorC(c, src, dst, resizeAVX2, true)
}

// resizeTensorC is fastResizeToTensor's work on a non-empty opaque src with
// len(dst) ≥ tensorLen(c), the loops chosen: avx2 takes the AVX2 kernel
// (only where resizeAVX2), cached reuses tap tables. With both false it is
// the SSE kernel with fresh tables, the fallback (and the code before AVX2).
func resizeTensorC(c *Card, src *image.NRGBA, dst []float32, avx2, cached bool) bool {
	b := src.Bounds()
	w, h, size := b.Dx(), b.Dy(), c.Size
	sr := b // source rectangle
	outW, outH, left, top := size, size, 0, 0
	if c.Resize == ResizeCrop {
		side := min(w, h)
		x0, y0 := b.Min.X+(w-side)/2, b.Min.Y+(h-side)/2
		sr = image.Rect(x0, y0, x0+side, y0+side)
	} else {
		ratio := math.Max(float64(w)/float64(size), float64(h)/float64(size))
		outW = max(1, min(size, int(float64(w)/ratio)))
		outH = max(1, min(size, int(float64(h)/ratio)))
		left, top = (size-outW)/2, (size-outH)/2
	}
	bilinear := c.Filter == FilterBilinear
	var wx, wy *tapTable
	if cached {
		wx, wy = taps.get(outW, sr.Dx(), bilinear), taps.get(outH, sr.Dy(), bilinear)
	} else {
		wx, wy = newFilterTaps(outW, sr.Dx(), bilinear), newFilterTaps(outH, sr.Dy(), bilinear)
	}

	var scale, shift [3]float32 // tensor value = clamped 0..255 sample × scale + shift
	for ch := range scale {
		mean, inv := float32(0), float32(1)
		if c.Scaling == ScalingMeanStd {
			mean, inv = c.Mean[ch], 1/c.Std[ch]
		}
		scale[ch], shift[ch] = inv/255, -mean*inv
	}
	size2 := size * size
	nhwc := 0
	if c.Layout == LayoutNHWC {
		nhwc = 1
	}
	if outW != size || outH != size {
		for ch := 0; ch < 3; ch++ {
			v := c.PadValue*255*scale[ch] + shift[ch]
			for o := 0; o < size2; o++ {
				if nhwc == 1 {
					dst[3*o+ch] = v
				} else {
					dst[ch*size2+o] = v
				}
			}
		}
	}
	if avx2 {
		rowLen := (outW*4 + 7) &^ 7
		scratch := getScratch(wy.n*rowLen + 4*sr.Dx() + 16)
		rc := C.essync_resize_rgba_avx2((*C.uchar)(unsafe.Pointer(&src.Pix[src.PixOffset(sr.Min.X, sr.Min.Y)])), C.int(src.Stride), C.int(sr.Dx()),
			C.int(outW), C.int(outH),
			C.int(wx.n), (*C.int)(unsafe.Pointer(&wx.start[0])), (*C.float)(unsafe.Pointer(&wx.w2[0])),
			C.int(wy.n), (*C.int)(unsafe.Pointer(&wy.start[0])), (*C.float)(unsafe.Pointer(&wy.w[0])),
			(*C.float)(unsafe.Pointer(&dst[0])), C.int(size), C.int(left), C.int(top), C.int(nhwc),
			(*C.float)(unsafe.Pointer(&scale[0])), (*C.float)(unsafe.Pointer(&shift[0])),
			(*C.float)(unsafe.Pointer(&(*scratch)[0])))
		scratchPool.Put(scratch)
		return rc == 0
	}
	rc := C.essync_resize_rgba((*C.uchar)(unsafe.Pointer(&src.Pix[src.PixOffset(sr.Min.X, sr.Min.Y)])), C.int(src.Stride), C.int(sr.Dx()),
		C.int(outW), C.int(outH),
		C.int(wx.n), (*C.int)(unsafe.Pointer(&wx.start[0])), (*C.float)(unsafe.Pointer(&wx.w[0])),
		C.int(wy.n), (*C.int)(unsafe.Pointer(&wy.start[0])), (*C.float)(unsafe.Pointer(&wy.w[0])),
		(*C.float)(unsafe.Pointer(&dst[0])), C.int(size), C.int(left), C.int(top), C.int(nhwc),
		(*C.float)(unsafe.Pointer(&scale[0])), (*C.float)(unsafe.Pointer(&shift[0])))
	return rc == 0
}

// tapTable holds, for every output sample, n consecutive source samples from
// start on and their weights (w[i*n:(i+1)*n], zero where the filter's support
// is shorter than n), so the inner loops have a fixed length. w2 is w laid out
// for the AVX2 kernel: for output pair p and tap k, 8 floats at (p*n+k)*8 —
// w[2p][k] four times, then w[2p+1][k] four times (zero past the last output).
type tapTable struct {
	n     int
	start []int32
	w     []float32
	w2    []float32
}

// newFilterTaps is newTapTable for the card's filter (Catmull-Rom, or bilinear).
func newFilterTaps(dstSize, srcSize int, bilinear bool) *tapTable {
	kernel, support := catmullRom, 2.0
	if bilinear {
		kernel, support = linear, 1.0
	}
	tt := newTapTable(dstSize, srcSize, kernel, support)
	pairs := (dstSize + 1) / 2
	tt.w2 = make([]float32, pairs*tt.n*8)
	for i := 0; i < dstSize; i++ {
		for k := 0; k < tt.n; k++ {
			at := ((i/2)*tt.n+k)*8 + 4*(i&1)
			for j := 0; j < 4; j++ {
				tt.w2[at+j] = tt.w[i*tt.n+k]
			}
		}
	}
	return &tt
}

// tapCacheMax bounds the cached tap tables (one per distinct source side:
// a few KB each); past it the cache starts over.
const tapCacheMax = 512

// tapKey names one tap table: output and source sizes and the filter.
type tapKey struct {
	dst, src int
	bilinear bool
}

// tapCache keeps tap tables across calls: a catalog's photos share a few
// sizes, and building the two tables of a 300→224 resize (float64 kernels, a
// slice per output) costs 0.09–0.12 ms, half of what the AVX2 filter costs.
type tapCache struct {
	mu sync.Mutex
	m  map[tapKey]*tapTable
}

// taps is the process's tap table cache.
var taps tapCache

// get returns the (shared, read-only) table for dst outputs from src samples.
func (tc *tapCache) get(dst, src int, bilinear bool) *tapTable {
	k := tapKey{dst, src, bilinear}
	tc.mu.Lock()
	t, ok := tc.m[k]
	tc.mu.Unlock()
	if ok {
		return t
	}
	t = newFilterTaps(dst, src, bilinear)
	tc.mu.Lock()
	if tc.m == nil || len(tc.m) >= tapCacheMax {
		tc.m = make(map[tapKey]*tapTable)
	}
	tc.m[k] = t
	tc.mu.Unlock()
	return t
}

// scratchPool holds the AVX2 kernel's row buffers, so a call allocates nothing.
var scratchPool sync.Pool

// getScratch returns a pooled buffer of at least n floats (put it back in scratchPool).
func getScratch(n int) *[]float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && len(*p) >= n {
		return p
	}
	b := make([]float32, n)
	return &b
}

// newTapTable computes, like imaging's precomputeWeights, the normalised
// taps mapping srcSize samples to dstSize, widening the kernel when shrinking.
func newTapTable(dstSize, srcSize int, kernel func(float64) float64, support float64) tapTable {
	taps := filterWeights(dstSize, srcSize, kernel, support)
	n := 0
	for _, t := range taps {
		n = max(n, len(t.w))
	}
	n = min(n, srcSize)
	tt := tapTable{n: n, start: make([]int32, dstSize), w: make([]float32, dstSize*n)}
	for i, t := range taps {
		s := min(t.start, srcSize-n) // keep start+n inside the source; shift the weights instead
		tt.start[i] = int32(s)
		copy(tt.w[i*n+(t.start-s):], t.w)
	}
	return tt
}

// filterTaps are the source samples (from start on) and weights of one output sample.
type filterTaps struct {
	start int
	w     []float32
}

// filterWeights computes, like imaging's precomputeWeights, the normalised
// taps mapping srcSize samples to dstSize, widening the kernel when shrinking.
func filterWeights(dstSize, srcSize int, kernel func(float64) float64, support float64) []filterTaps {
	du := float64(srcSize) / float64(dstSize)
	scale := max(du, 1)
	ru := math.Ceil(scale * support)
	out := make([]filterTaps, dstSize)
	for v := range out {
		fu := (float64(v)+0.5)*du - 0.5
		begin := max(int(math.Ceil(fu-ru)), 0)
		end := min(int(math.Floor(fu+ru)), srcSize-1)
		ws := make([]float64, 0, end-begin+1)
		var sum float64
		for u := begin; u <= end; u++ {
			k := kernel((float64(u) - fu) / scale)
			ws = append(ws, k)
			sum += k
		}
		taps := filterTaps{start: begin, w: make([]float32, len(ws))}
		for i, k := range ws {
			if sum != 0 {
				k /= sum
			}
			taps.w[i] = float32(k)
		}
		out[v] = taps
	}
	return out
}

// catmullRom is the bicubic kernel with B=0, C=0.5 (imaging.CatmullRom, PIL's BICUBIC).
func catmullRom(x float64) float64 {
	x = math.Abs(x)
	switch {
	case x < 1:
		return 1.5*x*x*x - 2.5*x*x + 1
	case x < 2:
		return -0.5*x*x*x + 2.5*x*x - 4*x + 2
	}
	return 0
}

// linear is the triangle kernel (imaging.Linear).
func linear(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}
