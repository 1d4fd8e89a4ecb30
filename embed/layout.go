package embed

import (
	"fmt"
	"image"
	"math"

	"github.com/disintegration/imaging"
)

// LayoutSide is the side of a Layout: LayoutSide×LayoutSide grey cells.
const LayoutSide = 32

// LayoutVersion names how Layouts are made; it keys the layout cache, so a
// change to LayoutOf invalidates every cached signature. Bump it with any
// change to the code below that can change a Layout's bytes.
const LayoutVersion = "layout-v1"

// layoutWork is the long side the image is shrunk to before its plain
// borders are found: fine enough for a 1 % border, cheap to scan.
const layoutWork = 128

// layoutDecodeCard sets the size LayoutOf decodes a JPEG at (shrunk by
// libjpeg-turbo in the DCT domain): that of the default model card, so the
// Layout made from a file is the one the embedder keeps for it when it
// decodes the file to embed it (layouthook.go), bit for bit.
var layoutDecodeCard = &Card{Size: 224, Resize: ResizeCrop}

// Layout is a cheap signature of where things are in a photo: the image's
// luminance after its plain borders (white padding, a coloured backdrop) are
// trimmed away, averaged into LayoutSide×LayoutSide cells. Shops' copies of
// one photo (resized, recompressed, padded, on another plain background,
// cropped a little) give nearly the same Layout up to a small zoom and
// shift, which Match searches; two different regions of one scene (the left
// and right half of a photo) do not, even where the model's vectors cannot
// tell them apart. Offer groups use it to verify a candidate link.
type Layout [LayoutSide * LayoutSide]uint8

// LayoutOf decodes an image file's bytes (JPEG, PNG, GIF, WebP; EXIF
// orientation applied; refused above maxPixels, 0 = DefaultMaxPixels) and
// returns its Layout. name is only for error messages.
func LayoutOf(name string, data []byte, maxPixels int) (l Layout, err error) {
	defer func() {
		// A decoder bug on a crafted file must cost one signature, not the run.
		if r := recover(); r != nil {
			err = imageError(name, "decoder crashed: %v", r)
		}
	}()
	img, err := decodeImage(name, data, maxPixels, layoutDecodeCard)
	if err != nil {
		return l, err
	}
	return layoutOfImage(img), nil
}

// layoutOfImage is LayoutOf on a decoded image: it averages boxes of f×f
// pixels (f the least factor that brings the longer side to layoutWork or
// below) into a grey work image, trims its plain borders and averages the
// rest into the Layout's cells. One pass over the pixels, no copies: cheap
// enough to run on every image the embedder decodes anyway.
func layoutOfImage(img image.Image) Layout {
	nrgba, ok := img.(*image.NRGBA)
	if !ok || nrgba.Rect.Min != (image.Point{}) {
		nrgba = imaging.Clone(img) // the Go decoders' YCbCr, RGBA, Gray: rare
	}
	b := nrgba.Bounds()
	f := max(1, (max(b.Dx(), b.Dy())+layoutWork-1)/layoutWork)
	w, h := (b.Dx()+f-1)/f, (b.Dy()+f-1)/f
	// Sums of 1000× the BT.601 luminance per work pixel, in integers.
	sums, n := make([]uint64, w*h), make([]uint32, w*h)
	// Where a work pixel covers 3×3 image pixels or more, every other row
	// and column of it (from its first) is enough for its mean: a quarter
	// of the reads, which is most of this function's time (at 2×2 it would
	// alias fine textures).
	every := func(i int) bool { return f < 3 || (i%f)%2 == 0 }
	var xs, cs []int32 // image columns read, and their work columns
	for x := range b.Dx() {
		if every(x) {
			xs, cs = append(xs, int32(x)), append(cs, int32(x/f))
		}
	}
	for y := range b.Dy() {
		if !every(y) {
			continue
		}
		row := nrgba.Pix[y*nrgba.Stride : y*nrgba.Stride+4*b.Dx()]
		cells := sums[(y/f)*w : (y/f+1)*w]
		counts := n[(y/f)*w : (y/f+1)*w]
		for t, x := range xs {
			c := cs[t]
			p := row[4*x : 4*x+4 : 4*x+4]
			v := 299*uint32(p[0]) + 587*uint32(p[1]) + 114*uint32(p[2])
			if a := uint32(p[3]); a != 255 { // transparent: over white, as a shop page shows it
				v = (a*v + (255-a)*255000) / 255
			}
			cells[c] += uint64(v)
			counts[c]++
		}
	}
	grey := make([]float32, w*h)
	for i, s := range sums {
		grey[i] = float32(s) / (1000 * float32(n[i]))
	}
	box := trimPlainBorders(grey, w, h)
	var l Layout
	for i, v := range areaResample(grey, w, box, LayoutSide) {
		l[i] = uint8(min(255, max(0, math.Round(float64(v)))))
	}
	return l
}

const (
	// plainTolerance is how far (grey levels) a pixel may be from the
	// border's colour and still count as background: JPEG noise at q35 on a
	// flat area stays well inside it.
	plainTolerance = 20
	// plainShare is the share of a row or column that must be background for
	// it to be trimmed (the rest may be JPEG ringing at the photo's edge).
	plainShare = 0.99
	// plainBorder is the share of a box's outermost pixels that must be
	// one colour for a round to trim: a shop's border runs all round (or
	// along both long sides), a plain patch of the photo itself rarely does.
	plainBorder = 0.5
	// trimRounds bounds the rounds of trimming (each takes one nested
	// border: a beige backdrop around a photo that itself sits on white).
	trimRounds = 8
)

// trimPlainBorders returns the part of the grey image (w wide) left after
// removing plain borders: while at least half the box's outermost pixels
// are one colour (their median), rows and columns at the edges that are
// (almost) all that colour, repeated for nested borders. It never trims
// below a quarter of either side, so a plain image keeps its box.
func trimPlainBorders(grey []float32, w, h int) image.Rectangle {
	r := image.Rect(0, 0, w, h)
	minW, minH := max(1, w/4), max(1, h/4)
	for range trimRounds {
		bg, share := borderMedian(grey, w, r)
		if share < plainBorder {
			break // the picture's own edge: only a border all round is trimmed
		}
		plain := func(x0, y0, x1, y1 int) bool {
			n, off := 0, 0
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					n++
					if d := grey[y*w+x] - bg; d > plainTolerance || d < -plainTolerance {
						off++
					}
				}
			}
			return float64(off) <= (1-plainShare)*float64(n)
		}
		was := r
		for r.Dy() > minH && plain(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+1) {
			r.Min.Y++
		}
		for r.Dy() > minH && plain(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y) {
			r.Max.Y--
		}
		for r.Dx() > minW && plain(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y) {
			r.Min.X++
		}
		for r.Dx() > minW && plain(r.Max.X-1, r.Min.Y, r.Max.X, r.Max.Y) {
			r.Max.X--
		}
		if r == was {
			break
		}
		// The row or column where a border meets the picture is a blend of
		// both (resampling, JPEG ringing): drop it too, so the next round
		// sees the picture's own edge, as it would without the border.
		if r.Min.Y > was.Min.Y && r.Dy() > minH {
			r.Min.Y++
		}
		if r.Max.Y < was.Max.Y && r.Dy() > minH {
			r.Max.Y--
		}
		if r.Min.X > was.Min.X && r.Dx() > minW {
			r.Min.X++
		}
		if r.Max.X < was.Max.X && r.Dx() > minW {
			r.Max.X--
		}
	}
	return r
}

// borderMedian is the median grey of the outermost pixels of r and the
// share of them within plainTolerance of it.
func borderMedian(grey []float32, w int, r image.Rectangle) (median, share float32) {
	var hist [256]int
	n := 0
	add := func(x, y int) {
		hist[int(min(255, max(0, grey[y*w+x])))]++
		n++
	}
	for x := r.Min.X; x < r.Max.X; x++ {
		add(x, r.Min.Y)
		add(x, r.Max.Y-1)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		add(r.Min.X, y)
		add(r.Max.X-1, y)
	}
	median = 255
	for v, seen := 0, 0; v < 256; v++ {
		if seen += hist[v]; 2*seen >= n {
			median = float32(v)
			break
		}
	}
	near := 0
	for v := max(0, int(median)-plainTolerance); v <= min(255, int(median)+plainTolerance); v++ {
		near += hist[v]
	}
	return median, float32(near) / float32(n)
}

// areaResample averages the box of the grey image (w wide) into side×side
// cells, each the exact area mean of the source pixels it covers.
func areaResample(grey []float32, w int, box image.Rectangle, side int) []float32 {
	xs := areaWeights(box.Min.X, box.Dx(), side)
	ys := areaWeights(box.Min.Y, box.Dy(), side)
	rows := make([]float32, side*box.Dy()) // columns resampled first
	for y := range box.Dy() {
		src := grey[(box.Min.Y+y)*w:]
		for cx, ws := range xs {
			var s float32
			for _, t := range ws {
				s += t.w * src[t.i]
			}
			rows[y*side+cx] = s
		}
	}
	out := make([]float32, side*side)
	for cy, ws := range ys {
		for cx := range side {
			var s float32
			for _, t := range ws {
				s += t.w * rows[(t.i-box.Min.Y)*side+cx]
			}
			out[cy*side+cx] = s
		}
	}
	return out
}

// tap is one source pixel's share in an output cell.
type tap struct {
	i int
	w float32
}

// areaWeights splits the n source pixels from start into side cells of equal
// width, giving each cell its covered pixels and their weights (summing to 1).
func areaWeights(start, n, side int) [][]tap {
	out := make([][]tap, side)
	step := float64(n) / float64(side)
	for c := range side {
		lo, hi := float64(c)*step, float64(c+1)*step
		for p := int(lo); p < n && float64(p) < hi; p++ {
			cover := math.Min(hi, float64(p+1)) - math.Max(lo, float64(p))
			if cover > 0 {
				out[c] = append(out[c], tap{start + p, float32(cover / step)})
			}
		}
	}
	return out
}

// String is a short description for logs and test failures.
func (l *Layout) String() string {
	var s int
	for _, v := range l {
		s += int(v)
	}
	return fmt.Sprintf("layout(mean %d)", s/len(l))
}
