package embed

import (
	"fmt"
	"image"
	"math"

	"github.com/essync/essync/internal/parallel"
)

// Focus values of Card.Focus: how the object in a photo is found and embedded,
// so the same product on another background still gets a similar vector.
const (
	// FocusNone embeds the whole input (the model's own pooled features).
	FocusNone = ""
	// FocusSCDACrop finds the object on the model's last feature map (SCDA:
	// cells whose summed activation is above the mean, largest connected
	// region; Wei et al., "Selective Convolutional Descriptor Aggregation",
	// 2017), crops the image to it and embeds the crop in a second pass.
	// Photos whose object already fills the frame skip the second pass.
	FocusSCDACrop = "scda-crop"
	// FocusSCDAPool averages the feature map over the SCDA region only: one
	// pass, no crop.
	FocusSCDAPool = "scda-pool"
)

// focusFillFrac is the share of the feature map's cells the object's bounding
// box must cover for the photo to count as "object fills the frame", when
// FocusSCDACrop keeps the first pass's vector. Measured on testdata/eval
// (scripts/eval-quality): quality is the same for 0.7 and 0.9.
const focusFillFrac = 0.7

// focusMinSide is the smallest crop side in source pixels worth a second
// pass; smaller boxes keep the whole-image vector.
const focusMinSide = 16

// scdaRegion returns the SCDA mask of one feature map fm ([channels][h][w],
// row-major, non-negative) and the bounding box of its cells: the cells whose
// activation summed over channels is above the mean of all cells, reduced to
// their largest 4-connected region. ok is false for an all-equal map (no
// cell above the mean).
func scdaRegion(fm []float32, channels, h, w int) (mask []bool, box image.Rectangle, ok bool) {
	cells := h * w
	sum := make([]float64, cells)
	for ch := 0; ch < channels; ch++ {
		plane := fm[ch*cells : (ch+1)*cells]
		for i, v := range plane {
			sum[i] += float64(v)
		}
	}
	var mean float64
	for _, s := range sum {
		mean += s
	}
	mean /= float64(cells)
	above := make([]bool, cells)
	for i, s := range sum {
		above[i] = s > mean
	}
	// Largest 4-connected component by flood fill; ties go to the first found.
	label := make([]int, cells)
	best, bestSize, n := 0, 0, 0
	stack := make([]int, 0, cells)
	for start := range above {
		if !above[start] || label[start] != 0 {
			continue
		}
		n++
		size := 0
		label[start] = n
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			y, x := i/w, i%w
			for _, nb := range [4][2]int{{y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}} {
				if nb[0] < 0 || nb[0] >= h || nb[1] < 0 || nb[1] >= w {
					continue
				}
				j := nb[0]*w + nb[1]
				if above[j] && label[j] == 0 {
					label[j] = n
					stack = append(stack, j)
				}
			}
		}
		if size > bestSize {
			best, bestSize = n, size
		}
	}
	if best == 0 {
		return nil, image.Rectangle{}, false
	}
	mask = make([]bool, cells)
	box = image.Rectangle{Min: image.Pt(w, h)} // grown below; image.Rect would reorder the corners
	for i, l := range label {
		if l != best {
			continue
		}
		mask[i] = true
		y, x := i/w, i%w
		box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
		box.Max.X, box.Max.Y = max(box.Max.X, x+1), max(box.Max.Y, y+1)
	}
	return mask, box, true
}

// maskedPool averages fm ([channels][h·w]) over the cells in mask, into a
// channels-long vector: the SCDA descriptor.
func maskedPool(fm []float32, channels, cells int, mask []bool) []float32 {
	v := make([]float32, channels)
	var n int
	for _, m := range mask {
		if m {
			n++
		}
	}
	if n == 0 {
		return v
	}
	for ch := range v {
		plane := fm[ch*cells : (ch+1)*cells]
		var s float32
		for i, m := range mask {
			if m {
				s += plane[i]
			}
		}
		v[ch] = s / float32(n)
	}
	return v
}

// inputFrame is where the model's Size×Size input came from in the source
// image: source x = X0 + u·Scale for input column u (likewise y), as
// resizeImage and fastResizeToTensor place it.
type inputFrame struct {
	X0, Y0, Scale float64
}

// frameOf returns the inputFrame the card's resize gives an image of bounds b.
func frameOf(c *Card, b image.Rectangle) inputFrame {
	w, h := b.Dx(), b.Dy()
	if c.Resize == ResizeCrop {
		side := min(w, h)
		return inputFrame{
			X0:    float64(b.Min.X + (w-side)/2),
			Y0:    float64(b.Min.Y + (h-side)/2),
			Scale: float64(side) / float64(c.Size),
		}
	}
	ratio := math.Max(float64(w)/float64(c.Size), float64(h)/float64(c.Size))
	nw := max(1, min(c.Size, int(float64(w)/ratio)))
	nh := max(1, min(c.Size, int(float64(h)/ratio)))
	left, top := (c.Size-nw)/2, (c.Size-nh)/2
	return inputFrame{
		X0:    float64(b.Min.X) - float64(left)*ratio,
		Y0:    float64(b.Min.Y) - float64(top)*ratio,
		Scale: ratio,
	}
}

// focusCrop maps the SCDA box (in cells of an h×w map over the card's input)
// to a rectangle of the source image with bounds b, widened to a square
// around its centre (so the card's centre crop keeps all of it) and clamped
// to the image. ok is false when the box already fills the frame
// (focusFillFrac), when the crop would keep Card.CropMaxShare or more of the
// frame, or when it would be too small to be worth a second pass.
func focusCrop(c *Card, b image.Rectangle, box image.Rectangle, h, w int) (image.Rectangle, bool) {
	if float64(box.Dx()*box.Dy()) >= focusFillFrac*float64(h*w) {
		return image.Rectangle{}, false
	}
	f := frameOf(c, b)
	cellX := float64(c.Size) / float64(w) * f.Scale
	cellY := float64(c.Size) / float64(h) * f.Scale
	x0, x1 := f.X0+float64(box.Min.X)*cellX, f.X0+float64(box.Max.X)*cellX
	y0, y1 := f.Y0+float64(box.Min.Y)*cellY, f.Y0+float64(box.Max.Y)*cellY
	// Clamp to the image first (pad mode's cells can lie on the padding).
	x0, x1 = math.Max(x0, float64(b.Min.X)), math.Min(x1, float64(b.Max.X))
	y0, y1 = math.Max(y0, float64(b.Min.Y)), math.Min(y1, float64(b.Max.Y))
	side := math.Min(math.Max(x1-x0, y1-y0), float64(min(b.Dx(), b.Dy())))
	if side < focusMinSide {
		return image.Rectangle{}, false
	}
	cx, cy := (x0+x1)/2, (y0+y1)/2
	sx := math.Min(math.Max(cx-side/2, float64(b.Min.X)), float64(b.Max.X)-side)
	sy := math.Min(math.Max(cy-side/2, float64(b.Min.Y)), float64(b.Max.Y)-side)
	r := image.Rect(int(math.Round(sx)), int(math.Round(sy)), int(math.Round(sx+side)), int(math.Round(sy+side)))
	if c.CropMaxShare > 0 && side*side >= c.CropMaxShare*seenArea(c, b) {
		return image.Rectangle{}, false
	}
	return r.Intersect(b), true
}

// seenArea is how many source pixels of an image with bounds b the card's
// pass looks at: the centre square with ResizeCrop, the whole image otherwise.
func seenArea(c *Card, b image.Rectangle) float64 {
	if c.Resize == ResizeCrop {
		side := float64(min(b.Dx(), b.Dy()))
		return side * side
	}
	return float64(b.Dx()) * float64(b.Dy())
}

// DefaultFocusSteps is how many times FocusSCDACrop may zoom in when the
// card does not say (Card.FocusSteps): the crop is looked at again and
// cropped once more when its own region still does not fill it. Measured on
// testdata/eval with the int8 model: two steps put the pasted-background
// variant at top-1 0.94 against 0.91 for one (one query of 32; every other
// variant 1.00 either way), at 0.34 more passes per image on the benchmark's
// JPEGs; the shipped default card uses one.
const DefaultFocusSteps = 2

// refocus is FocusSCDACrop's extra passes over one batch: every image whose
// SCDA region does not fill the frame is cropped to it (in parallel, into
// scratch, which holds at least len(imgs) tensors at the card's Size), the
// crops run through the model together, and their vectors replace the
// previous pass's in vecs; then again on the crops, up to Card.FocusSteps times.
// With Card.LocateSize the first pass was the small localisation pass, so
// the first step also embeds the images it does not crop (whole, at Size),
// and clears their first-pass errors when that succeeds. Otherwise images
// with an error, no region or no decoded image keep the vector they have.
func (e *Embedder) refocus(imgs []image.Image, regions []region, errs []error, vecs [][]float32, scratch []float32) error {
	crop := e.card.cropCard() // what the crop passes resize for
	per := tensorLen(crop)
	locate := e.card.LocateSize > 0
	frames := make([]image.Rectangle, len(imgs)) // what the last pass saw of each image
	todo := make([]int, 0, len(imgs))            // images still zooming in
	cur := make([]region, 0, len(imgs))          // their regions, aligned with todo
	for i, img := range imgs {
		if img != nil && (errs[i] == nil || locate) {
			frames[i] = img.Bounds()
			todo = append(todo, i)
			cur = append(cur, regions[i])
		}
	}
	for step := 0; step < e.card.focusSteps() && len(todo) > 0; step++ {
		frameCard := crop
		if step == 0 {
			frameCard = e.card.locateCard() // the card the regions were found with
		}
		next := todo[:0:0]
		var cropped []bool // aligned with next: false for a whole image embedded at Size
		for k, i := range todo {
			r, ok := image.Rectangle{}, false
			if cur[k].ok {
				r, ok = focusCrop(frameCard, frames[i], cur[k].box, cur[k].h, cur[k].w)
			}
			if ok {
				frames[i] = r
			}
			if ok || (step == 0 && locate) {
				next = append(next, i)
				cropped = append(cropped, ok)
			}
		}
		todo = next
		if len(todo) == 0 {
			break
		}
		parallel.For(len(todo), e.opts.DecodeWorkers, func(k int) {
			i := todo[k]
			toTensor(crop, subImage(imgs[i], frames[i]), scratch[k*per:(k+1)*per])
		})
		v, _, regs, errs2, err := e.inferRegions(crop.Size, scratch[:len(todo)*per], len(todo))
		if err != nil {
			return fmt.Errorf("focus pass %d: %w", step+2, err)
		}
		next, cur = todo[:0:0], cur[:0]
		for k, i := range todo {
			switch {
			case errs2[k] == nil:
				vecs[i], errs[i] = v[k], nil
				if cropped[k] {
					next = append(next, i)
					cur = append(cur, regs[k])
				}
			case step == 0 && locate:
				vecs[i], errs[i] = nil, errs2[k] // the localisation pass's vector is never a result
			}
		}
		todo = next
	}
	return nil
}
