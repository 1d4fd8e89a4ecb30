package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree builds the images folder used by the resolve tests:
//
//	root/outside.jpg            a file next to, not in, the images folder
//	root/images/a.jpg
//	root/images/sub/b.jpg
//	root/images/link-in.jpg     -> sub/b.jpg        (fine)
//	root/images/link-out.jpg    -> ../outside.jpg   (escapes)
//	root/images/link-abs.jpg    -> /abs/outside.jpg (escapes)
//	root/images/linkdir         -> ..               (escapes through a folder)
//	root/images/dangling.jpg    -> nowhere.jpg
//	root/images/folder.jpg/     a folder
func tree(t *testing.T) (root, images string) {
	t.Helper()
	root = t.TempDir()
	images = filepath.Join(root, "images")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(images, "sub"), 0o755))
	must(os.MkdirAll(filepath.Join(images, "folder.jpg"), 0o755))
	for _, f := range []string{"outside.jpg", "images/a.jpg", "images/sub/b.jpg", "images/with space é.jpg", "images/日本語.png"} {
		must(os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644))
	}
	must(os.Symlink("sub/b.jpg", filepath.Join(images, "link-in.jpg")))
	must(os.Symlink("../outside.jpg", filepath.Join(images, "link-out.jpg")))
	must(os.Symlink(filepath.Join(root, "outside.jpg"), filepath.Join(images, "link-abs.jpg")))
	must(os.Symlink("..", filepath.Join(images, "linkdir")))
	must(os.Symlink("nowhere.jpg", filepath.Join(images, "dangling.jpg")))
	return root, images
}

func TestResolve(t *testing.T) {
	root, images := tree(t)
	dir, err := openImagesDir(images)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		wantPath string // relative to images when ok
		kind     SkipKind
		inReason string
	}{
		{name: "a.jpg", wantPath: "a.jpg"},
		{name: "sub/b.jpg", wantPath: "sub/b.jpg"},
		{name: "./sub//b.jpg", wantPath: "sub/b.jpg"},
		{name: "sub/../a.jpg", wantPath: "a.jpg"},
		{name: "with space é.jpg", wantPath: "with space é.jpg"},
		{name: "日本語.png", wantPath: "日本語.png"},
		{name: "link-in.jpg", wantPath: "link-in.jpg"},
		{name: "missing.jpg", kind: SkipImageNotFound, inReason: "does not exist"},
		{name: "A.JPG", kind: SkipImageNotFound, inReason: "case-"},
		{name: "dangling.jpg", kind: SkipImageNotFound, inReason: "does not exist"},
		{name: "../outside.jpg", kind: SkipImageOutside, inReason: "leads outside"},
		{name: "sub/../../outside.jpg", kind: SkipImageOutside, inReason: "leads outside"},
		{name: "..", kind: SkipImageOutside, inReason: "leads outside"},
		{name: filepath.Join(root, "outside.jpg"), kind: SkipImageOutside, inReason: "absolute path"},
		{name: filepath.Join(images, "a.jpg"), kind: SkipImageOutside, inReason: "absolute path"},
		{name: "link-out.jpg", kind: SkipImageOutside, inReason: "is a symlink to"},
		{name: "link-abs.jpg", kind: SkipImageOutside, inReason: "outside the images folder"},
		{name: "linkdir/outside.jpg", kind: SkipImageOutside, inReason: "is a symlink to"},
		{name: "folder.jpg", kind: SkipImageNotAFile, inReason: "is a folder"},
		{name: ".", kind: SkipImageNotAFile, inReason: "is a folder"},
		{name: "sub", kind: SkipImageNotAFile, inReason: "is a folder"},
		{name: "a\x00.jpg", kind: SkipBadImageName, inReason: "NUL"},
		{name: "https://cdn.example/a.jpg", kind: SkipBadImageName, inReason: "is a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, kind, reason := dir.resolve(tc.name)
			if kind != tc.kind || !strings.Contains(reason, tc.inReason) {
				t.Fatalf("resolve(%q) = %q, %q, %q; want kind %q, reason containing %q", tc.name, path, kind, reason, tc.kind, tc.inReason)
			}
			if tc.kind == "" && path != filepath.Join(images, tc.wantPath) {
				t.Errorf("path = %q, want %q", path, filepath.Join(images, tc.wantPath))
			}
		})
	}
}

// An images folder reached through a symlink is fine: containment is judged
// on the real paths, and reported paths keep the name the user gave.
func TestResolveThroughSymlinkedFolder(t *testing.T) {
	root, images := tree(t)
	alias := filepath.Join(root, "alias")
	if err := os.Symlink(images, alias); err != nil {
		t.Fatal(err)
	}
	dir, err := openImagesDir(alias)
	if err != nil {
		t.Fatal(err)
	}
	if path, kind, reason := dir.resolve("link-in.jpg"); kind != "" || path != filepath.Join(alias, "link-in.jpg") {
		t.Errorf("resolve = %q, %q, %q", path, kind, reason)
	}
	if _, kind, _ := dir.resolve("link-out.jpg"); kind != SkipImageOutside {
		t.Errorf("escape through symlinked folder not caught: %q", kind)
	}
}

func TestOpenImagesDir(t *testing.T) {
	root, _ := tree(t)
	for _, tc := range []struct{ dir, inErr string }{
		{filepath.Join(root, "nope"), "check the --images path"},
		{filepath.Join(root, "outside.jpg"), "is not a folder"},
	} {
		if _, err := openImagesDir(tc.dir); err == nil || !strings.Contains(err.Error(), tc.inErr) {
			t.Errorf("openImagesDir(%q) error = %v, want one containing %q", tc.dir, err, tc.inErr)
		}
	}
}
