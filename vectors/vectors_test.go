package vectors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/essync/essync/npy"
)

// writeDir writes a vectors folder as essync embed does.
func writeDir(t *testing.T, dir string, ids []string, dims int, model string, first float32) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]float32, len(ids)*dims)
	for i := range data {
		data[i] = first + float32(i)
	}
	if err := npy.WriteFile(filepath.Join(dir, MatrixFile), len(ids), dims, data); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{IDsFile: ids, MetaFile: Meta{Model: model, Dims: dims}} {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenAndMerge(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	writeDir(t, a, []string{"p1", "p2"}, 3, "m@1", 0)
	writeDir(t, b, []string{"p3"}, 3, "m@1", 100)

	one, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	if one.Model != "m@1" || one.Dims != 3 || len(one.IDs) != 2 || one.Row(1)[0] != 3 {
		t.Errorf("one folder: %+v", one)
	}
	one.Close()

	both, err := Open(a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 1, 2, 3, 4, 5, 100, 101, 102}
	if fmt.Sprint(both.IDs) != "[p1 p2 p3]" || fmt.Sprint(both.Matrix) != fmt.Sprint(want) || both.Model != "m@1" {
		t.Errorf("two folders: ids %v matrix %v model %q", both.IDs, both.Matrix, both.Model)
	}
	both.Close()

	out := filepath.Join(root, "merged")
	if err := Merge(out, b, a); err != nil {
		t.Fatal(err)
	}
	merged, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer merged.Close()
	if fmt.Sprint(merged.IDs) != "[p3 p1 p2]" || merged.Row(0)[0] != 100 || merged.Row(2)[2] != 5 || merged.Model != "m@1" {
		t.Errorf("merged: ids %v matrix %v model %q", merged.IDs, merged.Matrix, merged.Model)
	}
}

func TestOpenRefusesMismatches(t *testing.T) {
	root := t.TempDir()
	dir := func(name string) string { return filepath.Join(root, name) }
	writeDir(t, dir("a"), []string{"p1", "p2"}, 3, "m@1", 0)
	writeDir(t, dir("other-model"), []string{"p3"}, 3, "m@2", 0)
	writeDir(t, dir("other-dims"), []string{"p3"}, 4, "m@1", 0)
	writeDir(t, dir("overlap"), []string{"p2"}, 3, "m@1", 0)
	writeDir(t, dir("short-ids"), []string{"p9"}, 3, "m@1", 0)
	os.WriteFile(filepath.Join(dir("short-ids"), IDsFile), []byte(`[]`), 0o644)
	for _, c := range []struct {
		dirs []string
		want string
	}{
		{[]string{dir("a"), dir("other-model")}, "same model"},
		{[]string{dir("a"), dir("other-dims")}, "same model"},
		{[]string{dir("a"), dir("overlap")}, `"p2" is in both`},
		{[]string{dir("short-ids")}, "0 ids but vectors.npy has 1 rows"},
		{[]string{dir("missing")}, "no such file"},
	} {
		if s, err := Open(c.dirs...); err == nil || !strings.Contains(err.Error(), c.want) {
			s.Close()
			t.Errorf("Open(%v): %v, want an error with %q", c.dirs, err, c.want)
		}
	}
}

// Every id lands in exactly one shard, the split is stable (a fixed id's
// shard is pinned, so another machine or Go version computes the same), and
// shards are roughly even.
func TestShard(t *testing.T) {
	shards := make([]Shard, 4)
	for i := range shards {
		s, err := ParseShard(fmt.Sprintf("%d/4", i+1))
		if err != nil {
			t.Fatal(err)
		}
		shards[i] = s
	}
	counts := make([]int, 4)
	for i := range 4000 {
		id := fmt.Sprintf("p-%06d", i)
		in := 0
		for k, s := range shards {
			if s.Has(id) {
				in++
				counts[k]++
			}
		}
		if in != 1 {
			t.Fatalf("%s is in %d shards", id, in)
		}
	}
	for k, n := range counts {
		if n < 850 || n > 1150 {
			t.Errorf("shard %d/4 got %d of 4000 ids", k+1, n)
		}
	}
	// FNV-1a 64 of "p-000001" is 0xbedede42d10fa469, 1 mod 4: shard 2/4 (computed
	// independently in Python); pinned so a change of hash is caught.
	if got := fmt.Sprint(shards[0].Has("p-000001"), shards[1].Has("p-000001"), shards[2].Has("p-000001"), shards[3].Has("p-000001")); got != pinnedShardOfP1 {
		t.Errorf("shard membership of p-000001 is %s, was %s: the split changed, shards made before no longer combine", got, pinnedShardOfP1)
	}
	for _, bad := range []string{"0/4", "5/4", "1/0", "x/2", "3"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

const pinnedShardOfP1 = "false true false false"
