package embed

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// addFixtures seeds a fuzz target with every image fixture.
func addFixtures(f *testing.F) {
	for _, dir := range []string{"formats", "broken", "photos"} {
		paths, _ := filepath.Glob(img(dir, "*"))
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil && len(data) < 64<<10 {
				f.Add(data)
			}
		}
	}
}

// FuzzDecodeImage: any bytes either decode within the pixel limit or give an
// ErrImage; never a panic, never a huge allocation (limit 4 MP here).
func FuzzDecodeImage(f *testing.F) {
	addFixtures(f)
	card := &Card{Size: 32, Resize: ResizeCrop}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeImage("fuzz.bin", data, 4_000_000, card)
		if err != nil {
			if !errors.Is(err, ErrImage) {
				t.Fatalf("error without ErrImage: %v", err)
			}
			return
		}
		if b := m.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 || int64(b.Dx())*int64(b.Dy()) > 4_000_000 {
			t.Fatalf("decoded %v", b)
		}
	})
}

// FuzzJPEGOrientation: the EXIF reader returns 1..8 for any input.
func FuzzJPEGOrientation(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := jpegOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}
