package embed

import (
	"image"
	"math"
	"os"
	"syscall"
	"testing"
)

// TestFastResizeMatchesGeneralPath: for opaque NRGBA images the one-pass
// kernel must give the tensor resizeImage+fillTensor gives (up to the 8-bit
// rounding imaging does between its passes), in every layout, mode and filter.
func TestFastResizeMatchesGeneralPath(t *testing.T) {
	var pics []*image.NRGBA
	for _, p := range []string{"chelsea.jpg", "rocket.jpg", "astronaut.jpg"} {
		data, err := os.ReadFile(img("photos", p))
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodeGo(data, "jpeg")
		if err != nil {
			t.Fatal(err)
		}
		pics = append(pics, imagingClone(m))
	}
	for _, layout := range []string{LayoutNCHW, LayoutNHWC} {
		for _, mode := range []string{ResizeCrop, ResizePad} {
			for _, filter := range []string{FilterBicubic, FilterBilinear} {
				c := &Card{Size: 64, Layout: layout, Resize: mode, Filter: filter, PadValue: 0.25,
					Scaling: ScalingMeanStd, Mean: []float32{0.5, 0.4, 0.3}, Std: []float32{0.5, 0.25, 1}}
				for i, pic := range pics {
					slow := make([]float32, tensorLen(c))
					fast := make([]float32, tensorLen(c))
					p, at := resizeImage(c, pic)
					fillTensor(c, p, at, slow)
					if !fastResizeToTensor(c, pic, fast) {
						t.Fatal("fast path refused an opaque NRGBA image")
					}
					var sum, worst float64
					for j := range slow {
						d := math.Abs(float64(slow[j] - fast[j]))
						sum += d
						worst = max(worst, d)
					}
					// One 8-bit level is 1/255/std ≤ 0.016 here.
					t.Logf("%s %s %s photo %d: mean diff %.5f, max %.4f", layout, mode, filter, i, sum/float64(len(slow)), worst)
					if mean := sum / float64(len(slow)); mean > 0.005 || worst > 0.08 {
						t.Errorf("%s %s %s photo %d: mean diff %.4f, max %.4f", layout, mode, filter, i, mean, worst)
					}
				}
			}
		}
	}
	// Not applicable: transparent pixels, or another image type.
	c := &Card{Size: 32, Layout: LayoutNCHW, Resize: ResizeCrop, Scaling: ScalingUnit}
	seeThrough := image.NewNRGBA(image.Rect(0, 0, 40, 40))
	if fastResizeToTensor(c, seeThrough, make([]float32, tensorLen(c))) {
		t.Error("fast path took an image with transparency")
	}
	if fastResizeToTensor(c, image.NewGray(image.Rect(0, 0, 40, 40)), make([]float32, tensorLen(c))) {
		t.Error("fast path took a Gray image")
	}
}

// imagingClone converts any image to *image.NRGBA.
func imagingClone(m image.Image) *image.NRGBA {
	b := m.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(x, y, m.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

// BenchmarkFastResize costs the 300→224 bicubic resize into a tensor (an
// 800×800 JPEG DCT-scaled by 3/8, the default card's size) by the fast path
// and by the general path (imaging.Resize + fillTensor), same image, same run.
//
//	go test ./embed -run '^$' -bench BenchmarkFastResize
func BenchmarkFastResize(b *testing.B) {
	c := &Card{Size: 224, Layout: LayoutNCHW, Resize: ResizeCrop, Filter: FilterBicubic,
		Scaling: ScalingMeanStd, Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}
	src := image.NewNRGBA(image.Rect(0, 0, 300, 300))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*7 + i/1200)
		if i%4 == 3 {
			src.Pix[i] = 255
		}
	}
	dst := make([]float32, tensorLen(c))
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fastResizeToTensor(c, src, dst)
		}
	})
	b.Run("general", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p, at := resizeImage(c, src)
			fillTensor(c, p, at, dst)
		}
	})
}

// TestFastResizeAVX2MatchesSSE: the AVX2 kernel (cached taps, pooled scratch,
// fused vertical pass) must give the SSE kernel's tensor bit for bit (same
// multiplies and adds in the same order, no FMA), for shrinking, enlarging,
// odd sizes (the kernels' tails), both layouts, modes and filters: an int8
// model quantises its input, so even last-bit differences move vectors.
// Without AVX2 it is skipped; the SSE path is then the one every test runs.
func TestFastResizeAVX2MatchesSSE(t *testing.T) {
	if !resizeAVX2 {
		t.Skip("this CPU has no AVX2; fastResizeToTensor uses the SSE kernel")
	}
	data, err := os.ReadFile(img("photos", "chelsea.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeGo(data, "jpeg")
	if err != nil {
		t.Fatal(err)
	}
	photo := imagingClone(m)
	cases := []struct {
		name       string
		w, h, size int
	}{
		{"shrink 300→224", 300, 300, 224},
		{"enlarge 200→224", 200, 180, 224},
		{"crop 210×170→192", 210, 170, 192},
		{"odd 37×91→29", 37, 91, 29},
		{"strong shrink 451→17", 451, 300, 17},
		{"one pixel", 1, 1, 8},
	}
	for _, tc := range cases {
		src := photo.SubImage(image.Rect(3, 5, 3+tc.w, 5+tc.h)).(*image.NRGBA)
		for _, layout := range []string{LayoutNCHW, LayoutNHWC} {
			for _, mode := range []string{ResizeCrop, ResizePad} {
				for _, filter := range []string{FilterBicubic, FilterBilinear} {
					c := &Card{Size: tc.size, Layout: layout, Resize: mode, Filter: filter, PadValue: 0.5,
						Scaling: ScalingMeanStd, Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}
					sse := make([]float32, tensorLen(c))
					avx := make([]float32, tensorLen(c))
					for i := range avx {
						avx[i] = float32(math.NaN()) // every element must be written
					}
					copy(sse, avx)
					if !resizeTensorC(c, src, sse, false, false) || !resizeTensorC(c, src, avx, true, true) {
						t.Fatalf("%s: a kernel refused the image", tc.name)
					}
					differ, first := 0, -1
					for j := range sse {
						if math.Float32bits(sse[j]) != math.Float32bits(avx[j]) {
							differ++
							if first < 0 {
								first = j
							}
						}
					}
					if differ > 0 {
						t.Errorf("%s %s %s %s: %d of %d values differ, first at %d: SSE %g, AVX2 %g",
							tc.name, layout, mode, filter, differ, len(sse), first, sse[first], avx[first])
					}
				}
			}
		}
	}
}

// processCPU is the process's user+system CPU time so far, in ns: with one
// benchmark goroutine it is the kernel's CPU, whatever else loads the machine.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchNRGBA is an opaque w×h test pattern.
func benchNRGBA(w, h int) *image.NRGBA {
	src := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*7 + i/1200)
		if i%4 == 3 {
			src.Pix[i] = 255
		}
	}
	return src
}

// BenchmarkFastResizeShapes costs, per call, the shapes serve and sync meet:
// an 800×800 JPEG DCT-scaled by 3/8 (300×300) to 224, a ~200 px photo
// enlarged to 224, and a 250×250 focus crop to 192; "old" is the SSE kernel
// with tap tables rebuilt each call and Go's alpha check (the code before AVX2), "new" what
// fastResizeToTensor runs here. Compare old/new within one run:
//
//	go test ./embed -run '^$' -bench BenchmarkFastResizeShapes -count 5
func BenchmarkFastResizeShapes(b *testing.B) {
	for _, s := range []struct {
		name       string
		side, size int
	}{{"300to224", 300, 224}, {"200to224", 200, 224}, {"250to192", 250, 192}} {
		c := &Card{Size: s.size, Layout: LayoutNCHW, Resize: ResizeCrop, Filter: FilterBicubic,
			Scaling: ScalingMeanStd, Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}
		src := benchNRGBA(s.side, s.side)
		dst := make([]float32, tensorLen(c))
		b.Run(s.name+"/old", func(b *testing.B) {
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				if src.Opaque() { // what fastResizeToTensor checked before
					resizeTensorC(c, src, dst, false, false)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
		b.Run(s.name+"/new", func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				fastResizeToTensor(c, src, dst)
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestFastResizeOpaqueCheck: the C alpha check must refuse an image with a
// single see-through pixel wherever it is (the odd last column, inside a
// pair, in a sub-image's last row) and agree with image.NRGBA.Opaque.
func TestFastResizeOpaqueCheck(t *testing.T) {
	c := &Card{Size: 16, Layout: LayoutNCHW, Resize: ResizeCrop, Scaling: ScalingUnit}
	for _, tc := range []struct {
		name   string
		w, h   int
		hole   image.Point // the pixel made see-through, or (-1,-1) for none
		within image.Rectangle
	}{
		{"opaque, odd width", 33, 20, image.Pt(-1, -1), image.Rect(0, 0, 33, 20)},
		{"last column of odd width", 33, 20, image.Pt(32, 7), image.Rect(0, 0, 33, 20)},
		{"second of a pair", 32, 20, image.Pt(5, 19), image.Rect(0, 0, 32, 20)},
		{"first pixel", 32, 20, image.Pt(0, 0), image.Rect(0, 0, 32, 20)},
		{"outside the sub-image", 40, 30, image.Pt(39, 29), image.Rect(3, 2, 38, 28)},
		{"sub-image's last row", 40, 30, image.Pt(20, 27), image.Rect(3, 2, 38, 28)},
	} {
		m := benchNRGBA(tc.w, tc.h)
		if tc.hole.X >= 0 {
			m.Pix[m.PixOffset(tc.hole.X, tc.hole.Y)+3] = 254
		}
		sub := m.SubImage(tc.within).(*image.NRGBA)
		got := fastResizeToTensor(c, sub, make([]float32, tensorLen(c)))
		if want := sub.Opaque(); got != want {
			t.Errorf("%s: fast path took it = %v, Opaque = %v", tc.name, got, want)
		}
	}
}
