package embed

import (
	"image"
	"os"
	"testing"
)

func needTurbo(t *testing.T) {
	t.Helper()
	if turboJPEG() == "" {
		t.Skip("libjpeg-turbo not installed (run scripts/install-turbojpeg); JPEGs use Go's decoder")
	}
}

// meanAbsDiff compares two same-sized images channel by channel, 0..255.
func meanAbsDiff(t *testing.T, a, b image.Image) float64 {
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("sizes %v vs %v", a.Bounds().Size(), b.Bounds().Size())
	}
	var sum float64
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			pa, pb := rgbAt(a, x, y), rgbAt(b, x, y)
			for c := range pa {
				d := float64(pa[c]) - float64(pb[c])
				if d < 0 {
					d = -d
				}
				sum += d
			}
		}
	}
	return sum / float64(3*w*h)
}

func TestTurboMatchesGoDecoder(t *testing.T) {
	needTurbo(t)
	for _, p := range []string{
		img("photos", "chelsea.jpg"), img("photos", "rocket.jpg"), img("formats", "progressive.jpg"),
		img("formats", "gray.jpg"), img("formats", "exif-rotated.jpg"),
	} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fast, err := decodeJPEGTurbo(data, 0, false)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		slow, err := decodeGo(data, "jpeg")
		if err != nil {
			t.Fatal(err)
		}
		if d := meanAbsDiff(t, fast, slow); d > 3 {
			t.Errorf("%s: libjpeg-turbo and Go differ by %.2f levels on average", p, d)
		}
	}
}

func TestTurboScalesInDCTDomain(t *testing.T) {
	needTurbo(t)
	data, _ := os.ReadFile(img("photos", "coffee.jpg")) // 480×320
	tests := []struct {
		minSide    int
		keepLonger bool
		want       image.Point
	}{
		{0, false, image.Pt(480, 320)},
		{224, false, image.Pt(360, 240)}, // shorter side ≥ 224: 6/8
		{100, false, image.Pt(180, 120)}, // 3/8
		{224, true, image.Pt(240, 160)},  // longer side ≥ 224: 4/8
		{32, true, image.Pt(60, 40)},     // 1/8
	}
	for _, tt := range tests {
		m, err := decodeJPEGTurbo(data, tt.minSide, tt.keepLonger)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Bounds().Size(); got != tt.want {
			t.Errorf("minSide %d longer %v: %v, want %v", tt.minSide, tt.keepLonger, got, tt.want)
		}
	}
	// CMYK is left to Go's decoder; a truncated file is an error, not grey fill.
	cmyk, _ := os.ReadFile(img("formats", "cmyk.jpg"))
	if _, err := decodeJPEGTurbo(cmyk, 0, false); err != errTurboUnsupported {
		t.Errorf("cmyk: %v", err)
	}
	trunc, _ := os.ReadFile(img("broken", "truncated.jpg"))
	if _, err := decodeJPEGTurbo(trunc, 0, false); err == nil {
		t.Error("truncated JPEG decoded without error")
	}
}

func TestJPEGOrientation(t *testing.T) {
	rotated, _ := os.ReadFile(img("formats", "exif-rotated.jpg"))
	plain, _ := os.ReadFile(img("formats", "baseline.jpg"))
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"exif 6", rotated, 6},
		{"none", plain, 1},
		{"empty", nil, 1},
		{"not jpeg", []byte("GIF89a......"), 1},
		{"cut inside exif", rotated[:30], 1},
		{"bad segment length", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x'}, 1},
	}
	for _, tt := range tests {
		if got := jpegOrientation(tt.data); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}
