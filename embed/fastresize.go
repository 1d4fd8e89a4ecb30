package embed

import (
	"image"
	"math"
)

// fastResizeToTensor is resizeImage + fillTensor in one pass for opaque
// *image.NRGBA sources (what libjpeg-turbo decodes to): a separable float32
// filter with the same kernels, supports and sample positions as imaging's
// Resize, written straight into the tensor without an intermediate image.
// It reports false (doing nothing) for other sources, which take the general path.
func fastResizeToTensor(c *Card, img image.Image, dst []float32) bool {
	src, ok := img.(*image.NRGBA)
	if !ok || !src.Opaque() {
		return false
	}
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
	kernel, support := catmullRom, 2.0
	if c.Filter == FilterBilinear {
		kernel, support = linear, 1.0
	}
	wx := filterWeights(outW, sr.Dx(), kernel, support)
	wy := filterWeights(outH, sr.Dy(), kernel, support)

	// Horizontal pass: every source row of the rectangle → outW RGB floats.
	tmp := make([]float32, sr.Dy()*outW*3)
	for y := 0; y < sr.Dy(); y++ {
		row := src.Pix[src.PixOffset(sr.Min.X, sr.Min.Y+y):]
		t := tmp[y*outW*3 : (y+1)*outW*3]
		for x, fw := range wx {
			var r, g, bl float32
			p := fw.start * 4
			for _, k := range fw.w {
				px := row[p : p+3 : p+3]
				r += float32(px[0]) * k
				g += float32(px[1]) * k
				bl += float32(px[2]) * k
				p += 4
			}
			t[3*x], t[3*x+1], t[3*x+2] = r, g, bl
		}
	}

	var mean, inv [3]float32
	for ch := range mean {
		mean[ch], inv[ch] = 0, 1
		if c.Scaling == ScalingMeanStd {
			mean[ch], inv[ch] = c.Mean[ch], 1/c.Std[ch]
		}
	}
	plane := size * size
	put := func(x, y int, r, g, bl float32) {
		r, g, bl = (r-mean[0])*inv[0], (g-mean[1])*inv[1], (bl-mean[2])*inv[2]
		if c.Layout == LayoutNCHW {
			o := y*size + x
			dst[o], dst[plane+o], dst[2*plane+o] = r, g, bl
		} else {
			o := (y*size + x) * 3
			dst[o], dst[o+1], dst[o+2] = r, g, bl
		}
	}
	if outW != size || outH != size {
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				if x < left || x >= left+outW || y < top || y >= top+outH {
					put(x, y, c.PadValue, c.PadValue, c.PadValue)
				}
			}
		}
	}
	// Vertical pass, row by row (contiguous, so the inner loop is a plain
	// multiply-add), then clamp to the 0..255 an 8-bit image would hold, scale, store.
	stride := outW * 3
	acc := make([]float32, stride)
	for y, fw := range wy {
		clear(acc)
		for k, wk := range fw.w {
			row := tmp[(fw.start+k)*stride : (fw.start+k+1)*stride]
			row = row[:len(acc)]
			for i, v := range row {
				acc[i] += v * wk
			}
		}
		for x := 0; x < outW; x++ {
			put(left+x, top+y, clamp255(acc[3*x])/255, clamp255(acc[3*x+1])/255, clamp255(acc[3*x+2])/255)
		}
	}
	return true
}

func clamp255(v float32) float32 { return min(max(v, 0), 255) }

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
