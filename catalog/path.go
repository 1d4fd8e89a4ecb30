package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// imagesDir is the images folder, both as given (made absolute) and with its
// own symlinks resolved, so image paths can be checked against the real one.
type imagesDir struct {
	abs  string // absolute, cleaned, as the user named it
	real string // abs with symlinks resolved
}

// openImagesDir checks that dir exists and is a folder.
func openImagesDir(dir string) (imagesDir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return imagesDir{}, fmt.Errorf("images folder %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return imagesDir{}, fmt.Errorf("images folder %s: %w (check the --images path)", dir, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return imagesDir{}, fmt.Errorf("images folder %s: %w (check the --images path)", dir, err)
	}
	if !st.IsDir() {
		return imagesDir{}, fmt.Errorf("images folder %s is not a folder (check the --images path)", dir)
	}
	return imagesDir{abs: abs, real: real}, nil
}

// resolve turns an image name from the catalog into the absolute path of a
// regular file inside the folder, or returns the skip kind and reason. Names
// are tried exactly as given (no Unicode normalisation).
func (d imagesDir) resolve(name string) (string, SkipKind, string) {
	if strings.ContainsRune(name, 0) {
		return "", SkipBadImageName, "image name contains a NUL byte: fix the image name"
	}
	if strings.Contains(name, "://") {
		return "", SkipBadImageName, fmt.Sprintf(
			"image name %q is a URL: essync reads image files from the images folder; download the image and name the file", name)
	}
	if filepath.IsAbs(name) {
		return "", SkipImageOutside, fmt.Sprintf(
			"image name %q is an absolute path: image names must be relative to the images folder %s", name, d.abs)
	}
	if !filepath.IsLocal(name) {
		return "", SkipImageOutside, fmt.Sprintf(
			"image name %q leads outside the images folder %s: remove the ../ and name a file inside the folder", name, d.abs)
	}
	path := filepath.Join(d.abs, name)
	clean := filepath.Clean(name)
	if !strings.ContainsRune(clean, filepath.Separator) {
		// Fast path for the usual flat folder: a plain file directly inside
		// the (already resolved) folder involves no symlink, so one lstat
		// settles it instead of one per path component.
		if st, err := os.Lstat(filepath.Join(d.real, clean)); err == nil && st.Mode().IsRegular() {
			return path, "", ""
		}
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", SkipImageNotFound, fmt.Sprintf(
				"image file %s does not exist: add the file or fix the image name (names are case- and Unicode-form-sensitive)", path)
		}
		return "", SkipImageUnreachable, fmt.Sprintf("image file %s cannot be read: %v: fix its permissions", path, err)
	}
	if rel, err := filepath.Rel(d.real, real); err != nil || !filepath.IsLocal(rel) {
		return "", SkipImageOutside, fmt.Sprintf(
			"image file %s is a symlink to %s, outside the images folder %s: copy the file into the folder instead", path, real, d.abs)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", SkipImageUnreachable, fmt.Sprintf("image file %s cannot be read: %v: fix its permissions", path, err)
	}
	if st.IsDir() {
		return "", SkipImageNotAFile, fmt.Sprintf("image name %q is a folder, not a file: name the image file itself", name)
	}
	if !st.Mode().IsRegular() {
		return "", SkipImageNotAFile, fmt.Sprintf("image %s is not a regular file (%s): name a plain image file", path, st.Mode().Type())
	}
	return path, "", ""
}
