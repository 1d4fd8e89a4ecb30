package npy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A mapped matrix holds exactly what ReadFile reads, for every shape; the
// other dtypes and a truncated file fail with a message saying what to do.
func TestMap(t *testing.T) {
	dir := t.TempDir()
	for _, shape := range [][2]int{{0, 4}, {1, 3}, {7, 5}, {300, 1280}} {
		rows, cols := shape[0], shape[1]
		data := make([]float32, rows*cols)
		for i := range data {
			data[i] = float32(i)*0.5 - 7
		}
		path := filepath.Join(dir, "m.npy")
		if err := WriteFile(path, rows, cols, data); err != nil {
			t.Fatal(err)
		}
		m, err := Map(path)
		if err != nil {
			t.Fatalf("%v: %v", shape, err)
		}
		if m.Rows != rows || m.Cols != cols || len(m.Data) != len(data) {
			t.Fatalf("%v: mapped %d×%d with %d values", shape, m.Rows, m.Cols, len(m.Data))
		}
		for i := range data {
			if m.Data[i] != data[i] {
				t.Fatalf("%v: value %d is %v, want %v", shape, i, m.Data[i], data[i])
			}
		}
		if rows > 1 && m.Row(1)[0] != data[cols] {
			t.Errorf("%v: Row(1)[0] = %v, want %v", shape, m.Row(1)[0], data[cols])
		}
		// Read advice changes how rows are read, never what: rows out of
		// range are ignored.
		m.AdviseRandom(true)
		m.WillNeed([]int{rows - 1, 0, -1, rows, rows / 2})
		if rows > 0 && m.Row(rows - 1)[cols-1] != data[rows*cols-1] {
			t.Errorf("%v: last value after the advice %v, want %v", shape, m.Row(rows - 1)[cols-1], data[rows*cols-1])
		}
		m.AdviseRandom(false)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}

	f8 := filepath.Join(dir, "f8.npy")
	hdr := "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }"
	hdr += strings.Repeat(" ", 64-(10+len(hdr)+1)%64) + "\n"
	raw := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), 0)
	raw = append(append(raw, hdr...), make([]byte, 16)...)
	if err := os.WriteFile(f8, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Map(f8); err == nil || !strings.Contains(err.Error(), "astype") {
		t.Errorf("float64 file: %v, want a hint to convert", err)
	}
	good := filepath.Join(dir, "cut.npy")
	if err := WriteFile(good, 4, 4, make([]float32, 16)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(good, 140); err != nil {
		t.Fatal(err)
	}
	if _, err := Map(good); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v", err)
	}
}
