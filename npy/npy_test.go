package npy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		rows, cols int
	}{
		{"empty", 0, 4},
		{"one row", 1, 3},
		{"matrix", 5, 7},
		{"large chunked", 3, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := make([]float32, tt.rows*tt.cols)
			for i := range data {
				data[i] = float32(i)*0.25 - 3
			}
			var buf bytes.Buffer
			if err := WriteFloat32(&buf, tt.rows, tt.cols, data); err != nil {
				t.Fatal(err)
			}
			if (buf.Len()-4*len(data))%64 != 0 {
				t.Errorf("header not padded to 64 bytes: total %d", buf.Len())
			}
			got, r, c, err := ReadFloat32(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if r != tt.rows || c != tt.cols {
				t.Fatalf("shape %d×%d, want %d×%d", r, c, tt.rows, tt.cols)
			}
			for i := range data {
				if got[i] != data[i] {
					t.Fatalf("value %d: %v want %v", i, got[i], data[i])
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"bad magic", []byte("PK\x03\x04xxxxxxxx")},
		{"fortran", header("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }")},
		{"int dtype", header("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }")},
		{"3-d", header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }")},
		{"truncated", header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := ReadFloat32(bytes.NewReader(tt.in)); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func header(h string) []byte {
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(b, h...)
}

// TestNumpyReadsOurFile checks the format against numpy itself. scripts/setup
// makes a venv with numpy and scripts/test points ESSYNC_PYTHON at it; in CI a
// missing numpy fails the test, elsewhere it skips.
func TestNumpyReadsOurFile(t *testing.T) {
	python := os.Getenv("ESSYNC_PYTHON")
	if python == "" {
		python = "python3"
	}
	if err := exec.Command(python, "-c", "import numpy").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s with numpy is needed in CI (scripts/setup makes it): %v", python, err)
		}
		t.Skip("python with numpy not available; run scripts/setup and set ESSYNC_PYTHON=.cache/venv/bin/python")
	}
	path := filepath.Join(t.TempDir(), "v.npy")
	if err := WriteFile(path, 2, 3, []float32{1, 2, 3, 4, 5, 6.5}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "-c", "import numpy,sys; a=numpy.load(sys.argv[1]); print(a.dtype, a.shape, a[1,2])", path).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v: %s", err, out)
	}
	if got := string(bytes.TrimSpace(out)); got != "float32 (2, 3) 6.5" {
		t.Fatalf("numpy read %q", got)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Error("temp file left behind")
	}
}
