package embed

import (
	"image"
	"math"
	"os"
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
