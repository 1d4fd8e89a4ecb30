package embed

import (
	"image"
	"image/color"
	"math"
	"testing"
)

// solid makes a w×h NRGBA image where column x gets colour f(x).
func striped(w, h int, f func(x int) color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, f(x))
		}
	}
	return m
}

// pixel reads channel values at (x, y) from a preprocessed tensor.
func pixel(c *Card, t []float32, x, y int) [3]float32 {
	s := c.Size
	if c.Layout == LayoutNCHW {
		o := y*s + x
		return [3]float32{t[o], t[s*s+o], t[2*s*s+o]}
	}
	o := (y*s + x) * 3
	return [3]float32{t[o], t[o+1], t[o+2]}
}

func close3(a, b [3]float32, tol float32) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > float64(tol) {
			return false
		}
	}
	return true
}

func TestPreprocess(t *testing.T) {
	red := color.NRGBA{255, 0, 0, 255}
	green := color.NRGBA{0, 255, 0, 255}
	// 100×50: green 25 columns, red 50, green 25. Crop keeps the red centre square.
	bands := striped(100, 50, func(x int) color.NRGBA {
		if x < 25 || x >= 75 {
			return green
		}
		return red
	})
	seeThrough := striped(40, 40, func(int) color.NRGBA { return color.NRGBA{0, 0, 255, 0} })
	mkCard := func(layout, resize, scaling string, pad float32) *Card {
		c := &Card{Name: "t", File: "x", SHA256: "", InputName: "in", Layout: layout, Size: 32, Resize: resize,
			PadValue: pad, Scaling: scaling, OutputName: "o", Dims: 1, Filter: FilterBilinear}
		if scaling == ScalingMeanStd {
			c.Mean, c.Std = []float32{0.5, 0.5, 0.5}, []float32{0.25, 0.5, 1}
		}
		return c
	}
	tests := []struct {
		name   string
		card   *Card
		img    image.Image
		x, y   int
		want   [3]float32
		reason string
	}{
		{"crop centre", mkCard(LayoutNCHW, ResizeCrop, ScalingUnit, 0), bands, 1, 16, [3]float32{1, 0, 0}, "crop keeps the centre square"},
		{"crop centre NHWC", mkCard(LayoutNHWC, ResizeCrop, ScalingUnit, 0), bands, 30, 16, [3]float32{1, 0, 0}, "same in NHWC"},
		{"pad band top", mkCard(LayoutNCHW, ResizePad, ScalingUnit, 0), bands, 16, 2, [3]float32{0, 0, 0}, "letterbox rows are black (pad_value 0)"},
		{"pad picture", mkCard(LayoutNCHW, ResizePad, ScalingUnit, 0), bands, 16, 16, [3]float32{1, 0, 0}, "picture centred"},
		{"pad picture edge", mkCard(LayoutNHWC, ResizePad, ScalingUnit, 0), bands, 2, 16, [3]float32{0, 1, 0}, "whole width kept"},
		{"pad grey", mkCard(LayoutNHWC, ResizePad, ScalingUnit, 0.5), bands, 16, 30, [3]float32{0.5, 0.5, 0.5}, "pad_value 0.5"},
		{"mean std", mkCard(LayoutNCHW, ResizePad, ScalingMeanStd, 0), bands, 16, 16, [3]float32{2, -1, -0.5}, "(v-mean)/std"},
		{"alpha on white", mkCard(LayoutNCHW, ResizeCrop, ScalingUnit, 0), seeThrough, 5, 5, [3]float32{1, 1, 1}, "transparent → white"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pic, at := resizeImage(tt.card, tt.img)
			buf := make([]float32, tensorLen(tt.card))
			fillTensor(tt.card, pic, at, buf)
			if got := pixel(tt.card, buf, tt.x, tt.y); !close3(got, tt.want, 0.02) {
				t.Errorf("(%d,%d) = %v, want %v: %s", tt.x, tt.y, got, tt.want, tt.reason)
			}
		})
	}
}

func TestPadPlacementMatchesResizeWithPad(t *testing.T) {
	// tf.image.resize_with_pad(100×50 → 32): scaled to 32×16, 8 rows of padding above and below.
	c := &Card{Size: 32, Resize: ResizePad, Filter: FilterBilinear}
	_, at := resizeImage(c, image.NewNRGBA(image.Rect(0, 0, 100, 50)))
	if want := image.Rect(0, 8, 32, 24); at != want {
		t.Errorf("placement %v, want %v", at, want)
	}
	_, at = resizeImage(c, image.NewNRGBA(image.Rect(0, 0, 30, 97)))
	if want := image.Rect(11, 0, 20, 32); at != want {
		t.Errorf("placement %v, want %v", at, want)
	}
}

func TestNormalize(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct {
		in   []float32
		ok   bool
		want []float32
	}{
		{[]float32{3, 4}, true, []float32{0.6, 0.8}},
		{[]float32{0, 0}, false, nil},
		{[]float32{1, nan}, false, nil},
		{[]float32{inf, 1}, false, nil},
		{[]float32{-2}, true, []float32{-1}},
	}
	for _, tt := range tests {
		v := append([]float32(nil), tt.in...)
		if ok := normalize(v); ok != tt.ok {
			t.Errorf("normalize(%v) ok = %v", tt.in, ok)
			continue
		}
		for i := range tt.want {
			if math.Abs(float64(v[i]-tt.want[i])) > 1e-6 {
				t.Errorf("normalize(%v) = %v, want %v", tt.in, v, tt.want)
			}
		}
	}
}
