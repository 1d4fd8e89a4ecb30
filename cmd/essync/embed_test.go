package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/essync/essync/embed"
	"github.com/essync/essync/npy"
	"github.com/essync/essync/vectors"
)

func needORTLib(t *testing.T) {
	t.Helper()
	if _, err := embed.FindORTLibrary(""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ONNX Runtime is required in CI: %v", err)
		}
		t.Skipf("ONNX Runtime not installed (run scripts/install-ort): %v", err)
	}
}

func TestEmbedCommandFolder(t *testing.T) {
	needORTLib(t)
	images := t.TempDir()
	copyFile := func(src, name string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(images, name), data, 0o644)
	}
	copyFile("../../testdata/images/photos/chelsea.jpg", "a-cat.jpg")
	copyFile("../../testdata/images/broken/text.jpg", "b-text.jpg")
	copyFile("../../testdata/images/photos/coffee.jpg", "c-coffee.jpg")
	copyFile("../../testdata/images/broken/bomb.png", "d-bomb.png")
	out := filepath.Join(t.TempDir(), "out")
	card := "../../testdata/models/tiny-nchw-pad.json"
	args := []string{"essync", "embed", "--images", images, "--out", out, "--model", card, "--cache", filepath.Join(t.TempDir(), "c.bolt")}
	for run := 0; run < 2; run++ {
		if code := runArgs(args...); code != exitOK {
			t.Fatalf("run %d: exit %d", run, code)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	data, rows, cols, err := npy.ReadFile(filepath.Join(out, "vectors.npy"))
	if err != nil || rows != 2 || cols != 16 || len(data) != 32 {
		t.Fatalf("vectors.npy: %d×%d, %v", rows, cols, err)
	}
	var ids []string
	readJSON(t, filepath.Join(out, "ids.json"), &ids)
	if !slices.Equal(ids, []string{"a-cat.jpg", "c-coffee.jpg"}) {
		t.Errorf("ids %v", ids)
	}
	// digests.bin describes the vectors written: an incremental run
	// trusts it instead of reading the rows.
	set, err := vectors.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.DigestsComputed) != 0 || !slices.Equal(set.Digests, []uint64{vectors.RowDigest(data[:16]), vectors.RowDigest(data[16:])}) {
		t.Errorf("vectors.Open: digests %x computed %v, want digests.bin's, those of the rows", set.Digests, set.DigestsComputed)
	}
	set.Close()
	var rep embedReport
	readJSON(t, filepath.Join(out, "report.json"), &rep)
	if rep.Products != 4 || rep.Embedded != 2 || rep.FromCache != 2 || len(rep.Skipped) != 2 ||
		rep.Skipped[0].ID != "b-text.jpg" || rep.Skipped[1].ID != "d-bomb.png" || rep.Dims != 16 {
		t.Errorf("report %+v", rep)
	}
	if code := runArgs(append(args, "--max-skipped", "1")...); code != exitTooManySkip {
		t.Errorf("--max-skipped 1 with 2 skipped: exit %d, want %d", code, exitTooManySkip)
	}
}

func TestEmbedCommandUsage(t *testing.T) {
	tests := [][]string{
		{"essync", "embed", "--out", t.TempDir()},
		{"essync", "embed", "--images", "/does/not/exist", "--out", t.TempDir()},
		{"essync", "embed", "--images", t.TempDir(), "--out", t.TempDir(), "--batch", "0"},
		{"essync", "embed", "--images", t.TempDir(), "--out", t.TempDir(), "--infer-streams", "0"},
	}
	for _, args := range tests {
		if code := runArgs(args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func runArgs(args ...string) int { return run(args) }

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestEmbedCommandCatalog(t *testing.T) {
	needORTLib(t)
	images := t.TempDir()
	for name, src := range map[string]string{"cat.jpg": "photos/chelsea.jpg", "cup.jpg": "photos/coffee.jpg", "bad.jpg": "broken/truncated.jpg"} {
		data, err := os.ReadFile("../../testdata/images/" + src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(images, name), data, 0o644)
	}
	cat := filepath.Join(t.TempDir(), "catalog.ndjson")
	os.WriteFile(cat, []byte(`{"productId":"p-1","imageName":"cat.jpg","title":"cat"}
{"productId":"p-2","imageName":"missing.jpg"}
{"productId":"p-3","imageName":"bad.jpg"}
{"productId":"p-4","imageName":"cup.jpg"}
`), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	if code := runArgs("essync", "embed", "--catalog", cat, "--images", images, "--out", out,
		"--model", "../../testdata/models/tiny-nhwc-crop.json", "--no-cache"); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var ids []string
	readJSON(t, filepath.Join(out, "ids.json"), &ids)
	if !slices.Equal(ids, []string{"p-1", "p-4"}) {
		t.Errorf("ids %v", ids)
	}
	var rep embedReport
	readJSON(t, filepath.Join(out, "report.json"), &rep)
	if rep.Products != 4 || rep.Embedded != 2 || len(rep.Skipped) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if s := rep.Skipped[0]; s.ID != "p-2" || s.Row != 2 || s.Kind != "image-not-found" {
		t.Errorf("first skip %+v", s)
	}
	if s := rep.Skipped[1]; s.ID != "p-3" || s.Row != 3 || s.Kind != "image" || s.Image != "bad.jpg" {
		t.Errorf("second skip %+v", s)
	}
	_, rows, cols, err := npy.ReadFile(filepath.Join(out, "vectors.npy"))
	if err != nil || rows != 2 || cols != 16 {
		t.Errorf("vectors.npy %d×%d %v", rows, cols, err)
	}
}

// Two shards embed disjoint parts of the folder whose union is everything;
// merged, they hold every embeddable image once with its own vector, and the
// merged report names the model.
func TestEmbedShardsAndMerge(t *testing.T) {
	needORTLib(t)
	images := t.TempDir()
	srcs := []string{"photos/chelsea.jpg", "photos/coffee.jpg", "broken/text.jpg", "photos/chelsea.jpg", "photos/coffee.jpg", "photos/chelsea.jpg"}
	for i, src := range srcs {
		data, err := os.ReadFile("../../testdata/images/" + src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(images, fmt.Sprintf("img-%d%s", i, filepath.Ext(src))), data, 0o644)
	}
	card := "../../testdata/models/tiny-nchw-pad.json"
	root := t.TempDir()
	embedTo := func(out string, extra ...string) {
		args := append([]string{"essync", "embed", "--images", images, "--out", out, "--model", card, "--no-cache"}, extra...)
		if code := runArgs(args...); code != exitOK {
			t.Fatalf("%v: exit %d", args, code)
		}
	}
	all, s1, s2, merged := filepath.Join(root, "all"), filepath.Join(root, "s1"), filepath.Join(root, "s2"), filepath.Join(root, "merged")
	embedTo(all)
	embedTo(s1, "--shard", "1/2")
	embedTo(s2, "--shard", "2/2")
	var r1, r2 embedReport
	readJSON(t, filepath.Join(s1, "report.json"), &r1)
	readJSON(t, filepath.Join(s2, "report.json"), &r2)
	if r1.Shard != "1/2" || r2.Shard != "2/2" || r1.Products+r2.Products != len(srcs) || len(r1.Skipped)+len(r2.Skipped) != 1 ||
		r1.Products == 0 || r2.Products == 0 {
		t.Fatalf("shard reports %+v / %+v", r1, r2)
	}
	if code := runArgs("essync", "embed", "merge", "--out", merged, s1, s2); code != exitOK {
		t.Fatalf("merge: exit %d", code)
	}
	whole, err := vectors.Open(all)
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Close()
	got, err := vectors.Open(merged)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if len(got.IDs) != len(whole.IDs) || got.Model != whole.Model || got.Model == "" || got.Dims != 16 {
		t.Fatalf("merged %d ids model %q dims %d; whole %d ids model %q", len(got.IDs), got.Model, got.Dims, len(whole.IDs), whole.Model)
	}
	row := map[string][]float32{}
	for r, id := range whole.IDs {
		row[id] = whole.Row(r)
	}
	for r, id := range got.IDs {
		if !slices.Equal(row[id], got.Row(r)) {
			t.Errorf("%s: merged vector differs from the unsharded one", id)
		}
	}
	if code := runArgs("essync", "embed", "--images", images, "--out", root, "--shard", "3/2"); code != exitUsage {
		t.Errorf("--shard 3/2: exit %d, want %d", code, exitUsage)
	}
}
