package embed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"
	bolt "go.etcd.io/bbolt"
)

// TestLayoutVerifier runs the verifier over pairs of files: shop copies are
// confirmed, two halves of one photo and an unreadable image are turned
// down, and a second verifier on the same cache decodes nothing.
func TestLayoutVerifier(t *testing.T) {
	wide := scene(480, 180, 5)
	left := imaging.Crop(wide, image.Rect(0, 0, 240, 180))
	files := map[string][]byte{
		"left":       encode(t, left, 90),
		"left-half":  encode(t, imaging.Resize(left, 120, 90, imaging.Lanczos), 90),
		"left-q35":   encode(t, left, 35),
		"right":      encode(t, imaging.Crop(wide, image.Rect(240, 0, 480, 180)), 90),
		"broken":     []byte("not an image"),
		"left-again": encode(t, left, 90), // same bytes as left: one cache entry
	}
	read := func(id string) ([]byte, error) {
		if data, ok := files[id]; ok {
			return data, nil
		}
		return nil, errors.New("no such file")
	}
	tests := []struct {
		a, b string
		want bool
	}{
		{"left", "left-half", true},
		{"left-q35", "left", true},
		{"left", "left-again", true},
		{"left", "right", false},
		{"left-half", "right", false},
		{"left", "broken", false},
		{"missing", "left", false},
	}
	pairs := make([][2]string, len(tests))
	for i, tt := range tests {
		pairs[i] = [2]string{tt.a, tt.b}
	}
	cachePath := LayoutCachePath(filepath.Join(t.TempDir(), "vectors.bolt"))
	for round, want := range []LayoutStats{
		{Pairs: 7, Rejected: 4, Products: 7, Computed: 5, Failed: 2},
		{Pairs: 7, Rejected: 4, Products: 7, Cached: 5, Failed: 2},
	} {
		cache, err := OpenLayoutCache(cachePath)
		if err != nil {
			t.Fatal(err)
		}
		v := &LayoutVerifier{Read: read, Cache: cache}
		same, err := v.Verify(pairs)
		cache.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, tt := range tests {
			if same[i] != tt.want {
				t.Errorf("round %d: %s ~ %s = %v, want %v", round, tt.a, tt.b, same[i], tt.want)
			}
		}
		got := v.Stats()
		want.Cut = LayoutCut
		got.Seconds, got.Layouts = 0, 0
		if got != want {
			t.Errorf("round %d: stats %+v, want %+v", round, got, want)
		}
	}
}

// TestLayoutCacheRefusesDamage checks a cached Layout whose bytes changed
// is a miss, never a result, and a corrupt file is moved aside.
func TestLayoutCacheRefusesDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.bolt")
	cache, err := OpenLayoutCache(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("x"))
	sha := hex.EncodeToString(sum[:])
	var l Layout
	l[3] = 9
	if err := cache.Put(map[string]*Layout{sha: &l}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := cache.Get(sha); err != nil || !ok || got != l {
		t.Fatalf("Get = %v, %v, %v; want the stored layout", got[:4], ok, err)
	}
	if err := cache.s.flush(); err != nil {
		t.Fatal(err)
	}
	var other Layout
	if err := cache.Put(map[string]*Layout{sha: &other}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := cache.Get(sha); got != l {
		t.Error("a second Put replaced the stored layout")
	}
	key, _ := layoutKey(sha)
	if err := cache.s.db.Update(func(tx *bolt.Tx) error {
		v := append([]byte(nil), tx.Bucket(layoutBucket).Get(key)...)
		v[3]++
		return tx.Bucket(layoutBucket).Put(key, v)
	}); err != nil {
		t.Fatal(err)
	}
	cache.s.pending = map[string]Layout{} // what the second Put buffered
	if _, ok, err := cache.Get(sha); ok || err != nil {
		t.Errorf("a damaged entry: ok %v, err %v; want a miss", ok, err)
	}
	if _, _, err := cache.Get("beef"); err == nil {
		t.Error("a bad sha256 gave no error")
	}
	cache.Close()
	if err := os.WriteFile(path, []byte("garbage, not a bolt file"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache, err = OpenLayoutCache(path)
	if err != nil {
		t.Fatalf("a corrupt file is not moved aside: %v", err)
	}
	defer cache.Close()
	if _, ok, _ := cache.Get(sha); ok {
		t.Error("a fresh cache has the old entry")
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("moved aside: %v, want one file", aside)
	}
}

// TestEmbedKeepsLayouts checks the embedder stores the Layout of every image
// it decodes in the layout cache beside its vector cache, that the groups
// stage can open that cache while the embedder holds it, and that a stored
// Layout matches one made from the file alone.
func TestEmbedKeepsLayouts(t *testing.T) {
	dir := filepath.Join(testdata, "groups", "images")
	names := []string{"coins-a-orig.jpg", "coins-b-orig.jpg", "cat-pad.jpg", "horse-bg.jpg"}
	cachePath := filepath.Join(t.TempDir(), "vectors.bolt")
	e := newTestEmbedder(t, defaultCard(t), Options{CachePath: cachePath})
	inputs := make([]Input, len(names))
	for i, n := range names {
		inputs[i] = Input{ID: n, Path: filepath.Join(dir, n)}
	}
	results, err := e.Embed(context.Background(), inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := OpenLayoutCache(LayoutCachePath(cachePath))
	if err != nil {
		t.Fatalf("the groups stage cannot open the layout cache the embedder holds: %v", err)
	}
	defer cache.Close()
	for i, r := range results {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		kept, ok, err := cache.Get(r.ImageSHA256)
		if err != nil || !ok {
			t.Errorf("%s: no layout kept (ok %v, err %v)", names[i], ok, err)
			continue
		}
		data, err := os.ReadFile(inputs[i].Path)
		if err != nil {
			t.Fatal(err)
		}
		fromFile := layoutOf(t, data)
		if s := kept.Match(fromFile, 2); s < 0.95 {
			t.Errorf("%s: the kept layout matches the file's own only %.3f", names[i], s)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := cache.Get(results[0].ImageSHA256); !ok {
		t.Error("the layout is gone once the embedder closed")
	}
}
