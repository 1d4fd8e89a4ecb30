package embed

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/disintegration/imaging"
)

// scene draws a w×h picture of random soft blobs on a dark ground: enough
// structure at every scale for a layout, different in each region.
func scene(w, h int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.NRGBA{30, 30, 40, 255}}, image.Point{}, draw.Src)
	for range 60 {
		cx, cy, r := rng.IntN(w), rng.IntN(h), 4+rng.IntN(w/8)
		c := color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
		for y := max(0, cy-r); y < min(h, cy+r); y++ {
			for x := max(0, cx-r); x < min(w, cx+r); x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
					img.SetNRGBA(x, y, c)
				}
			}
		}
	}
	return img
}

// onBackground centres img on a square canvas of colour with margin (a
// fraction of its longer side) on each side, as shops pad photos.
func onBackground(img image.Image, c color.Color, margin float64) *image.NRGBA {
	b := img.Bounds()
	side := int(float64(max(b.Dx(), b.Dy())) * (1 + 2*margin))
	canvas := imaging.New(side, side, c)
	return imaging.Paste(canvas, img, image.Pt((side-b.Dx())/2, (side-b.Dy())/2))
}

// encode returns img as a JPEG of quality q, or a PNG for q 0.
func encode(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if q == 0 {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: q})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layoutOf(t *testing.T, data []byte) *Layout {
	t.Helper()
	l, err := LayoutOf("test", data, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &l
}

// TestLayoutMatch checks what a shop does to one photo keeps its layout
// (score at least LayoutCut) and another region of the same scene does not.
func TestLayoutMatch(t *testing.T) {
	photo := scene(240, 180, 1)
	wide := scene(480, 180, 2) // its halves: two items cut from one photo
	original := layoutOf(t, encode(t, photo, 90))
	plain := imaging.New(200, 200, color.White)
	tests := []struct {
		name  string
		img   image.Image
		q     int
		other *Layout // nil: the original photo
		match bool
	}{
		{"same file", photo, 90, nil, true},
		{"half size", imaging.Resize(photo, 120, 90, imaging.Lanczos), 90, nil, true},
		{"JPEG quality 35", photo, 35, nil, true},
		{"PNG", photo, 0, nil, true},
		{"padded on white", onBackground(photo, color.White, 0.12), 90, nil, true},
		{"on a beige backdrop", onBackground(photo, color.NRGBA{208, 200, 186, 255}, 0.06), 90, nil, true},
		{"90 % crop, off centre", imaging.Crop(photo, image.Rect(17, 9, 17+216, 9+162)), 90, nil, true},
		{"another photo", scene(240, 180, 3), 90, nil, false},
		{"the right half against the left", imaging.Crop(wide, image.Rect(240, 0, 480, 180)), 90,
			layoutOf(t, encode(t, imaging.Crop(wide, image.Rect(0, 0, 240, 180)), 90)), false},
		{"a plain image against a photo", plain, 90, nil, false},
		{"two plain images", plain, 90, layoutOf(t, encode(t, imaging.New(50, 80, color.Black), 90)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := tt.other
			if other == nil {
				other = original
			}
			l := layoutOf(t, encode(t, tt.img, tt.q))
			score := l.Match(other, 2)
			if (score >= LayoutCut) != tt.match {
				t.Errorf("Match = %.3f, cut %.2f, want match %v", score, LayoutCut, tt.match)
			}
			if back := other.Match(l, 2); back != score {
				t.Errorf("Match is not symmetric: %.4f one way, %.4f the other", score, back)
			}
			if early := l.Match(other, LayoutCut); (early >= LayoutCut) != tt.match {
				t.Errorf("stopping at the cut gives %.3f, the full search %.3f", early, score)
			}
		})
	}
}

// TestLayoutCut holds LayoutCut against the labelled set testdata/groups:
// every two shop copies of one item match, and the two items cut from one
// photo (deep-field quarters, coin halves: the pairs the model's vectors
// cannot tell apart) do not, each with a margin.
func TestLayoutCut(t *testing.T) {
	dir := filepath.Join(testdata, "groups")
	raw, err := os.ReadFile(filepath.Join(dir, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		ID    string `json:"productId"`
		Image string `json:"imageName"`
		Group string `json:"group"`
		Photo string `json:"photo"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	layouts := make([]*Layout, len(rows))
	for i, r := range rows {
		data, err := os.ReadFile(filepath.Join(dir, "images", r.Image))
		if err != nil {
			t.Fatal(err)
		}
		layouts[i] = layoutOf(t, data)
	}
	hue := regexp.MustCompile(`-hue\d+$`)
	const margin = 0.05
	var same, regions []float32
	for i, a := range rows {
		for j := i + 1; j < len(rows); j++ {
			b := rows[j]
			switch {
			case a.Group == b.Group:
				s := layouts[i].Match(layouts[j], 2)
				same = append(same, s)
				if s < LayoutCut+margin {
					t.Errorf("%s and %s, one item, match only %.3f (cut %.2f, margin %.2f)", a.ID, b.ID, s, LayoutCut, margin)
				}
			case a.Photo == b.Photo && hue.ReplaceAllString(a.Group, "") != hue.ReplaceAllString(b.Group, ""):
				s := layouts[i].Match(layouts[j], 2)
				regions = append(regions, s)
				if s > LayoutCut-margin {
					t.Errorf("%s and %s, two regions of one photo, match %.3f (cut %.2f, margin %.2f)", a.ID, b.ID, s, LayoutCut, margin)
				}
			}
		}
	}
	if len(same) == 0 || len(regions) == 0 {
		t.Fatalf("%d same-item and %d same-photo pairs: the labelled set changed", len(same), len(regions))
	}
	t.Logf("one item: %d pairs, lowest %.3f; two regions of one photo: %d pairs, highest %.3f; cut %.2f",
		len(same), slices.Min(same), len(regions), slices.Max(regions), LayoutCut)
}

// TestLayoutOfAnySize makes Layouts of images of awkward sizes (one pixel,
// thin strips, sides that are no multiple of the sampling step): every
// cell must be a number, never NaN from a work pixel that got no samples.
func TestLayoutOfAnySize(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {2, 3}, {1, 900}, {900, 1}, {262, 262}, {301, 299}, {383, 257}, {385, 129}, {1000, 3}, {640, 641}} {
		photo := scene(max(size[0], 8), max(size[1], 8), 9)
		img := imaging.Resize(photo, size[0], size[1], imaging.Box)
		for _, src := range []image.Image{img, image.Image(imaging.Grayscale(img)), img.SubImage(image.Rect(0, 0, size[0], size[1]))} {
			l := layoutOfImage(src)
			if s := l.Match(&l, 2); s < 0.99 && s != 0 {
				t.Errorf("%v %T: a layout matches itself %.3f", size, src, s)
			}
			g := layoutFloatsOK(&l)
			if !g {
				t.Errorf("%v %T: layout %v has a NaN", size, src, l.String())
			}
		}
	}
}

// layoutFloatsOK tells whether a Layout's float form is free of NaN.
func layoutFloatsOK(l *Layout) bool {
	f := l.floats()
	return f.norm == f.norm
}
