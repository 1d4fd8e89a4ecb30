package vectors

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/essync/essync/npy"
)

// writeWithWriter writes a folder through Writer: rows[i] is row i.
func writeWithWriter(t *testing.T, dir string, ids []string, rows [][]float32) {
	t.Helper()
	w, err := Create(dir, len(rows), len(rows[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(dir, IDsFile, ids); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(dir, MetaFile, Meta{Model: "m@1", Dims: len(rows[0])}); err != nil {
		t.Fatal(err)
	}
}

func digestsOf(rows [][]float32) []uint64 {
	out := make([]uint64, len(rows))
	for i, r := range rows {
		out[i] = RowDigest(r)
	}
	return out
}

// editRow rewrites row r of dir's vectors.npy in place (same size) and
// sets the file's mtime to mtime.
func editRow(t *testing.T, dir string, r int, row []float32, mtime time.Time) {
	t.Helper()
	path := filepath.Join(dir, MatrixFile)
	data, rows, cols, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(data[r*cols:(r+1)*cols], row)
	if err := npy.WriteFile(path, rows, cols, data); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestDigestsSidecar(t *testing.T) {
	rows := [][]float32{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	changed := []float32{0.6, 0.8, 0}
	after := slices.Clone(rows)
	after[1] = changed
	for _, tt := range []struct {
		name         string
		edit         func(t *testing.T, dir string)
		wantComputed bool
		want         [][]float32 // whose digests Open returns
	}{
		{"as written: the sidecar is trusted", func(*testing.T, string) {}, false, rows},
		{"a row changed in place, new mtime: computed", func(t *testing.T, dir string) {
			editRow(t, dir, 1, changed, time.Now().Add(time.Hour))
		}, true, after},
		{"no sidecar: computed", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, DigestsFile))
		}, true, rows},
		{"damaged sidecar: computed", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, DigestsFile), []byte("ESVDIG01 short"), 0o644)
		}, true, rows},
		// The rule images follow: size and mtime are the file's identity.
		// An edit that puts the old mtime back (touch -d, a copy tool that
		// keeps times of an edited file) is not seen; whoever rewrites
		// vectors.npy outside essync must let the mtime move (or delete
		// digests.bin). Documented in the README.
		{"a row changed in place, mtime restored: the sidecar is still trusted", func(t *testing.T, dir string) {
			fi, err := os.Stat(filepath.Join(dir, MatrixFile))
			if err != nil {
				t.Fatal(err)
			}
			editRow(t, dir, 1, changed, fi.ModTime())
		}, false, rows},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "v")
			writeWithWriter(t, dir, []string{"a", "b", "c"}, rows)
			tt.edit(t, dir)
			set, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			if got := len(set.DigestsComputed) > 0; got != tt.wantComputed {
				t.Errorf("digests computed = %v, want %v", got, tt.wantComputed)
			}
			if !slices.Equal(set.Digests, digestsOf(tt.want)) {
				t.Errorf("digests %x, want those of %v", set.Digests, tt.want)
			}
			if tt.wantComputed { // the computed digests were kept for the next run
				again, err := Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer again.Close()
				if len(again.DigestsComputed) != 0 || !slices.Equal(again.Digests, set.Digests) {
					t.Errorf("second open: computed %v, digests %x; want the sidecar's %x", again.DigestsComputed, again.Digests, set.Digests)
				}
			}
		})
	}
}

// TestDigestsOfShards checks that a set of several folders combines their
// digests in row order, and that Merge writes the merged folder's sidecar.
func TestDigestsOfShards(t *testing.T) {
	root := t.TempDir()
	a, b, out := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "out")
	ra := [][]float32{{1, 0}, {0, 1}}
	writeWithWriter(t, a, []string{"p1", "p2"}, ra)
	writeDir(t, b, []string{"p3"}, 2, "m@1", 7) // no sidecar: embed before digests
	want := append(digestsOf(ra), RowDigest([]float32{7, 8}))
	set, err := Open(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.Digests, want) || !slices.Equal(set.DigestsComputed, []string{b}) {
		t.Errorf("shards: digests %x computed %v, want %x computed [%s]", set.Digests, set.DigestsComputed, want, b)
	}
	set.Close()
	if err := Merge(out, a, b); err != nil {
		t.Fatal(err)
	}
	merged, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer merged.Close()
	if !slices.Equal(merged.Digests, want) || len(merged.DigestsComputed) != 0 {
		t.Errorf("merged: digests %x computed %v, want the sidecar's %x", merged.Digests, merged.DigestsComputed, want)
	}
}

func TestFileDigestsMatchRowDigest(t *testing.T) {
	dir := t.TempDir()
	writeDir(t, dir, []string{"a", "b"}, 5, "m@1", 0.5)
	got, err := FileDigests(filepath.Join(dir, MatrixFile), 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{RowDigest([]float32{0.5, 1.5, 2.5, 3.5, 4.5}), RowDigest([]float32{5.5, 6.5, 7.5, 8.5, 9.5})}
	if !slices.Equal(got, want) {
		t.Errorf("FileDigests = %x, want %x", got, want)
	}
}

func TestWriterRefusesWrongRows(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add([]float32{1, 2}); err == nil {
		t.Error("a row of 2 values in a 3-d matrix was taken")
	}
	w.Add([]float32{1, 2, 3})
	if err := w.Close(); err == nil {
		t.Error("Close after 1 of 2 rows succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, MatrixFile)); !os.IsNotExist(err) {
		t.Errorf("an unfinished vectors.npy was put in place (%v)", err)
	}
}
