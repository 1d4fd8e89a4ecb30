package embed

import (
	"errors"
	"image"
	"runtime"
	"strings"
	"testing"
)

// rgbAt returns 8-bit RGB at (x, y) of img (relative to its bounds).
func rgbAt(img image.Image, x, y int) [3]uint8 {
	b := img.Bounds()
	r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}
}

func near(got [3]uint8, want [3]uint8, tol int) bool {
	for i := range got {
		d := int(got[i]) - int(want[i])
		if d < -tol || d > tol {
			return false
		}
	}
	return true
}

func TestDecodeFormats(t *testing.T) {
	tests := []struct {
		file string
		gray bool // only luminance survives
	}{
		{"baseline.jpg", false},
		{"progressive.jpg", false},
		{"gray.jpg", true},
		{"cmyk.jpg", false},
		{"exif-rotated.jpg", false}, // stored 64×96 on its side; EXIF orientation 6 turns it upright
		{"rgb8.png", false},
		{"rgb16.png", false},
		{"palette.png", false},
		{"anim.gif", false}, // first frame is the picture, the second is all green
		{"lossless.webp", false},
		{"lossy.webp", false},
		{"png-named.jpg", false}, // content decides, not the extension
		{"exif-2.jpg", false},    // each EXIF orientation, stored so that it displays upright
		{"exif-3.jpg", false},
		{"exif-4.jpg", false},
		{"exif-5.jpg", false},
		{"exif-6.jpg", false},
		{"exif-7.jpg", false},
		{"exif-8.jpg", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := img("formats", tt.file)
			data, sum, err := readImageFile(path)
			if err != nil || len(sum) != 64 {
				t.Fatalf("read: %v (sha %q)", err, sum)
			}
			m, err := decodeImage(path, data, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkPicture(t, m, tt.gray)
			if format := string(data[:2]); format == "\xff\xd8" && !strings.Contains(tt.file, "cmyk") {
				// The same file through Go's decoder (decodeImage used libjpeg-turbo if installed).
				g, err := decodeGo(data, "jpeg")
				if err != nil {
					t.Fatal(err)
				}
				checkPicture(t, g, tt.gray)
			}
		})
	}
}

// checkPicture asserts m is the upright 96×64 fixture picture: white square
// top-left, red left half, blue right half (or grey levels for gray).
func checkPicture(t *testing.T, m image.Image, gray bool) {
	t.Helper()
	red, blue, white := [3]uint8{220, 30, 30}, [3]uint8{30, 30, 220}, [3]uint8{255, 255, 255}
	if b := m.Bounds(); b.Dx() != 96 || b.Dy() != 64 {
		t.Fatalf("size %v, want 96×64 (upright)", b.Size())
	}
	tol := 40 // JPEG and palette quantisation
	checks := []struct {
		x, y int
		want [3]uint8
	}{{10, 10, white}, {30, 40, red}, {80, 40, blue}}
	for _, c := range checks {
		got := rgbAt(m, c.x, c.y)
		if gray {
			if got[0] != got[1] || got[1] != got[2] {
				t.Errorf("(%d,%d) = %v, want grey", c.x, c.y, got)
			}
			continue
		}
		if !near(got, c.want, tol) {
			t.Errorf("(%d,%d) = %v, want ≈%v", c.x, c.y, got, c.want)
		}
	}
}

func TestDecodeRefusesBadFiles(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"broken/empty.jpg", "empty file"},
		{"broken/text.jpg", "not a JPEG, PNG, GIF or WebP"},
		{"broken/truncated.jpg", "broken jpeg"},
		{"broken/header-only.jpg", "broken jpeg"},
		{"broken/bomb.png", "60000×60000 = 3600000000 pixels, above the limit"},
		{"broken/missing.jpg", "no such file"},
		{"broken", "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := img(tt.file)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			data, _, err := readImageFile(path)
			if err == nil {
				_, err = decodeImage(path, data, 0, nil)
			}
			runtime.ReadMemStats(&after)
			if err == nil || !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want ErrImage naming %s with %q", err, path, tt.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("refusing %s allocated %d MB", tt.file, grew>>20)
			}
		})
	}
}

func TestDecodeMaxPixelsConfigurable(t *testing.T) {
	path := img("formats", "baseline.jpg")
	data, _, err := readImageFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeImage(path, data, 96*64-1, nil); err == nil || !strings.Contains(err.Error(), "above the limit of 6143") {
		t.Errorf("limit 6143: err = %v", err)
	}
	if _, err := decodeImage(path, data, 96*64, nil); err != nil {
		t.Errorf("limit 6144: %v", err)
	}
}

func TestAlphaPNGCompositedOnWhite(t *testing.T) {
	// alpha.png: opaque red left half, fully transparent (blue) right half.
	path := img("formats", "alpha.png")
	data, _, err := readImageFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeImage(path, data, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Card{Size: 32, Resize: ResizeCrop, Layout: LayoutNCHW, Scaling: ScalingUnit, Filter: FilterBilinear}
	pic, at := resizeImage(c, m) // centre 64×64 crop: left half red, right half transparent
	buf := make([]float32, tensorLen(c))
	fillTensor(c, pic, at, buf)
	if got := pixel(c, buf, 6, 24); !close3(got, [3]float32{220. / 255, 30. / 255, 30. / 255}, 0.03) {
		t.Errorf("opaque part %v, want red", got)
	}
	if got := pixel(c, buf, 28, 24); !close3(got, [3]float32{1, 1, 1}, 0.01) {
		t.Errorf("transparent part %v, want white (not blue, not black)", got)
	}
}

func TestFileSHA256MatchesResult(t *testing.T) {
	p := img("photos", "chelsea.jpg")
	sum, err := FileSHA256(p)
	if err != nil || len(sum) != 64 {
		t.Fatalf("%q %v", sum, err)
	}
	other, _ := FileSHA256(img("photos", "coffee.jpg"))
	if other == sum {
		t.Error("different files, same sha256")
	}
	e := newTestEmbedder(t, tinyCard(t, "tiny-nchw-crop"), Options{})
	res, err := e.Embed(t.Context(), []Input{{"cat", p}}, nil)
	if err != nil || res[0].ImageSHA256 != sum {
		t.Errorf("Result.ImageSHA256 %q, FileSHA256 %q (%v)", res[0].ImageSHA256, sum, err)
	}
	if _, err := FileSHA256(img("broken", "empty.jpg")); !errors.Is(err, ErrImage) {
		t.Errorf("empty file: %v", err)
	}
}
