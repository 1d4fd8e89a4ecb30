package pipeline

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/essync/essync/catalog"
)

// TestLayoutVerifierState checks when the layout verifier runs and what the
// run report says about it: off when turned off or without images (a run
// on --vectors alone), on with the images.
func TestLayoutVerifierState(t *testing.T) {
	images := filepath.Join("..", "testdata", "groups", "images")
	fields := func(_, name string) json.RawMessage {
		return map[string]json.RawMessage{"imageName": json.RawMessage(`"cat-orig.jpg"`)}[name]
	}
	tests := []struct {
		name  string
		cfg   Config
		state string
	}{
		{"images", Config{Catalog: catalog.Options{ImagesDir: images}}, "layout"},
		{"turned off", Config{Catalog: catalog.Options{ImagesDir: images}, Groups: GroupOptions{NoVerify: true}}, "off: --group-verify=false"},
		{"--vectors without --images", Config{Vectors: []string{"v"}}, "off: no images"},
		{"an images folder that is not there", Config{Catalog: catalog.Options{ImagesDir: filepath.Join(t.TempDir(), "gone")}}, "off: images folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, state, closeVerifier := layoutVerifier(&tt.cfg, fields)
			defer closeVerifier()
			if !strings.HasPrefix(state, tt.state) || (v != nil) != (tt.state == "layout") {
				t.Fatalf("state %q (verifier %v), want %q", state, v != nil, tt.state)
			}
			if v == nil {
				return
			}
			same, err := v.Verify([][2]string{{"a", "b"}}) // both read cat-orig.jpg
			if err != nil || !same[0] {
				t.Errorf("one image against itself: %v, %v", same, err)
			}
		})
	}
}
