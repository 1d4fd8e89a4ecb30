package benchdata_test

import (
	"bytes"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/essync/essync/benchdata"
)

func TestGenerateIsDeterministicAndDecodable(t *testing.T) {
	cases := []struct {
		name string
		opts benchdata.Options
	}{
		{"jpeg", benchdata.Options{Size: 64, Scenes: 3, Seed: 1}},
		{"png", benchdata.Options{Size: 32, Scenes: 3, Seed: 1, Format: benchdata.PNG}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			pa, err := benchdata.Generate(a, 0, 8, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			// Growing the catalog later gives the same bytes for the same product.
			if _, err := benchdata.Generate(b, 5, 3, tc.opts); err != nil {
				t.Fatal(err)
			}
			for _, p := range pa[5:] {
				x, _ := os.ReadFile(filepath.Join(a, p.ImageName))
				y, err := os.ReadFile(filepath.Join(b, p.ImageName))
				if err != nil || !bytes.Equal(x, y) {
					t.Errorf("%s differs between runs (%v)", p.ImageName, err)
				}
				cfg, format, err := image.DecodeConfig(bytes.NewReader(x))
				if err != nil || cfg.Width != tc.opts.Size || format != tc.name {
					t.Errorf("%s: %v %dx%d %s", p.ImageName, err, cfg.Width, cfg.Height, format)
				}
			}
			if err := benchdata.WriteCatalog(filepath.Join(a, "catalog.json"), pa); err != nil {
				t.Fatal(err)
			}
		})
	}
}
