//go:build unix

package catalog

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A fifo named like an image is refused before anything tries to read it
// (reading a fifo would block the run forever).
func TestResolveFifo(t *testing.T) {
	images := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(images, "pipe.jpg"), 0o644); err != nil {
		t.Skipf("cannot make a fifo here: %v", err)
	}
	dir, err := openImagesDir(images)
	if err != nil {
		t.Fatal(err)
	}
	_, kind, reason := dir.resolve("pipe.jpg")
	if kind != SkipImageNotAFile || !strings.Contains(reason, "not a regular file") {
		t.Errorf("resolve(fifo) = %q, %q", kind, reason)
	}
}
