package embed

import (
	"image"
	"math"

	"github.com/disintegration/imaging"
)

// resizeImage turns img into a Size×Size *image.NRGBA as the card says:
// ResizeCrop scales the centre square (the shorter side) to Size;
// ResizePad scales the whole image to fit and returns the placement rectangle
// of the picture inside the square (the rest is padding).
func resizeImage(c *Card, img image.Image) (*image.NRGBA, image.Rectangle) {
	filter := imaging.CatmullRom
	if c.Filter == FilterBilinear {
		filter = imaging.Linear
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	size := c.Size
	if c.Resize == ResizeCrop {
		side := min(w, h)
		x0 := b.Min.X + (w-side)/2
		y0 := b.Min.Y + (h-side)/2
		sq := subImage(img, image.Rect(x0, y0, x0+side, y0+side))
		return imaging.Resize(sq, size, size, filter), image.Rect(0, 0, size, size)
	}
	// Pad: like tf.image.resize_with_pad — scale by the larger ratio, floor
	// the scaled sides, centre with the smaller half of the padding first.
	ratio := math.Max(float64(w)/float64(size), float64(h)/float64(size))
	nw := max(1, min(size, int(float64(w)/ratio)))
	nh := max(1, min(size, int(float64(h)/ratio)))
	small := imaging.Resize(img, nw, nh, filter)
	left, top := (size-nw)/2, (size-nh)/2
	return small, image.Rect(left, top, left+nw, top+nh)
}

// subImage crops without copying when the decoded type supports it.
func subImage(img image.Image, r image.Rectangle) image.Image {
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	return imaging.Crop(img, r)
}

// fillTensor writes one preprocessed image into dst (3×Size×Size floats, in
// the card's layout): pixels of pic go to the rectangle at, alpha composited
// over white; the rest is padding of PadValue; then the card's scaling.
func fillTensor(c *Card, pic *image.NRGBA, at image.Rectangle, dst []float32) {
	size := c.Size
	plane := size * size
	var mean, inv [3]float32
	for ch := 0; ch < 3; ch++ {
		mean[ch], inv[ch] = 0, 1
		if c.Scaling == ScalingMeanStd {
			mean[ch], inv[ch] = c.Mean[ch], 1/c.Std[ch]
		}
	}
	pad := c.PadValue
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			r, g, b := pad, pad, pad
			if (image.Point{x, y}).In(at) {
				i := pic.PixOffset(x-at.Min.X, y-at.Min.Y)
				p := pic.Pix[i : i+4 : i+4]
				a := float32(p[3]) / 255
				white := 1 - a // composite over white; NRGBA is not premultiplied
				r = float32(p[0])/255*a + white
				g = float32(p[1])/255*a + white
				b = float32(p[2])/255*a + white
			}
			r = (r - mean[0]) * inv[0]
			g = (g - mean[1]) * inv[1]
			b = (b - mean[2]) * inv[2]
			if c.Layout == LayoutNCHW {
				o := y*size + x
				dst[o], dst[plane+o], dst[2*plane+o] = r, g, b
			} else {
				o := (y*size + x) * 3
				dst[o], dst[o+1], dst[o+2] = r, g, b
			}
		}
	}
}

// tensorLen is the number of floats one image takes in the input tensor.
func tensorLen(c *Card) int { return 3 * c.Size * c.Size }

// normalize scales v to unit L2 length in place. It reports false for a
// zero, NaN or Inf vector, which must not be used as a result.
func normalize(v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return false
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
	return true
}
