package embed

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/essync/essync/npy"
)

func imagenetClasses(t *testing.T) []string {
	f, err := os.Open(filepath.Join(testdata, "models", "imagenet_classes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	for s := bufio.NewScanner(f); s.Scan(); {
		names = append(names, s.Text())
	}
	if len(names) != 1000 {
		t.Fatalf("%d ImageNet classes, want 1000", len(names))
	}
	return names
}

// top5 runs the default model's classifier head on one image.
func top5(t *testing.T, e *Embedder, path string, classes []string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tensor, err := e.Tensor(path, data) // the whole image at the card's Size
	if err != nil {
		t.Fatal(err)
	}
	_, logits, errs, err := e.infer(tensor, 1)
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs[0])
	}
	idx := make([]int, len(logits[0]))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return logits[0][idx[a]] > logits[0][idx[b]] })
	var names []string
	for _, i := range idx[:5] {
		names = append(names, classes[i])
	}
	return names
}

// TestDefaultModelClassifiesPhotos proves the shipped model, its weights and
// the card's preprocessing fit together: real photos get their ImageNet class
// in the top 5. Wrong mean/std, channel order, layout or resize would break it.
func TestDefaultModelClassifiesPhotos(t *testing.T) {
	card := defaultCard(t)
	e := newTestEmbedder(t, card, Options{IntraOpThreads: 2})
	classes := imagenetClasses(t)
	tests := []struct {
		photo string
		any   []string // one of these must be in the top 5
	}{
		{"chelsea.jpg", []string{"tabby", "tiger cat", "Egyptian cat"}},
		{"coffee.jpg", []string{"espresso", "cup", "coffee mug"}},
		{"rocket.jpg", []string{"missile", "projectile", "space shuttle"}},
	}
	for _, tt := range tests {
		t.Run(tt.photo, func(t *testing.T) {
			got := top5(t, e, img("photos", tt.photo), classes)
			t.Logf("%s: top 5 %q", tt.photo, got)
			if !slices.ContainsFunc(got, func(s string) bool { return slices.Contains(tt.any, s) }) {
				t.Errorf("%s: top 5 %q has none of %q", tt.photo, got, tt.any)
			}
			if !slices.Contains(tt.any, got[0]) {
				t.Logf("%s: top 1 is %q", tt.photo, got[0])
			}
		})
	}
	res, err := e.Embed(context.Background(), []Input{{"cat", img("photos", "chelsea.jpg")}}, nil)
	if err != nil || res[0].Err != nil || len(res[0].Vector) != 1280 || !unitLength(res[0].Vector) {
		t.Fatalf("Embed: %v %+v", err, res[0].Err)
	}
	if e.Fingerprint() != "efficientnet-lite0-int8@"+card.SHA256[:12]+"+scda-crop-c192-k70-s1" {
		t.Errorf("fingerprint %q", e.Fingerprint())
	}
}

// TestDefaultModelMatchesReference compares essync's vectors with reference
// vectors made in Python (PIL bicubic resize, the card's mean/std, ONNX Runtime;
// scripts/export-default-model.py --golden). The top-5 check above tolerates
// a wrong mean/std or resize mode (the network is robust); this does not:
// measured cosine ≥ 0.994 with the card's preprocessing, ≤ 0.95 with 0..1
// scaling or torchvision's ImageNet mean/std, ≤ 0.84 with pad instead of crop.
func TestDefaultModelMatchesReference(t *testing.T) {
	gold, rows, cols, err := npy.ReadFile(filepath.Join(testdata, "models", "efficientnet-lite0-golden.npy"))
	if err != nil || rows != 3 || cols != 1280 {
		t.Fatalf("golden: %d×%d %v", rows, cols, err)
	}
	// The float32 whole-image model (the default before issue 13): the
	// reference is its pooled features. The int8 default with the same
	// preprocessing is compared with it by scripts/eval-quality (cosine).
	card, err := LoadCard(filepath.Join("..", "models", "efficientnet-lite0-v1", "card.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEmbedder(t, card, Options{IntraOpThreads: 2})
	photos := []string{"chelsea.jpg", "coffee.jpg", "rocket.jpg"} // GOLDEN_PHOTOS in the export script
	inputs := make([]Input, len(photos))
	for i, p := range photos {
		inputs[i] = Input{ID: p, Path: img("photos", p)}
	}
	res, err := e.Embed(context.Background(), inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		var cos float64
		for j, x := range r.Vector {
			cos += float64(x) * float64(gold[i*cols+j])
		}
		t.Logf("%s: cosine to the Python reference %.4f (JPEG decoder: %q)", r.ID, cos, turboJPEG())
		if cos < 0.985 {
			t.Errorf("%s: cosine %.4f to the reference vector, want ≥ 0.985: preprocessing differs from the card", r.ID, cos)
		}
	}
}
