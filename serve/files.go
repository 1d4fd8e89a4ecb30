package serve

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"os"
)

// static is the page at /: plain HTML, CSS and JavaScript, no build step.
//
//go:embed static
var static embed.FS

// pageHandler serves the embedded page.
func pageHandler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.FileServerFS(sub)
}

// imagesHandler serves the catalog's images from dir through an os.Root, so
// no request can leave dir: not with "..", not with an absolute path, not
// through a symlink pointing out. Without dir every image is 404.
func imagesHandler(dir string) (http.Handler, error) {
	if dir == "" {
		return http.NotFoundHandler(), nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("images folder: %w", err)
	}
	files := http.FileServerFS(noListing{root.FS()})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	}), nil
}

// noListing hides folders, so the images route lists nothing.
type noListing struct{ fs.FS }

// Open refuses folders, and reports every refusal (a symlink leading out of
// the root included) as "does not exist", so the answer is a 404, never a 500.
func (n noListing) Open(name string) (fs.File, error) {
	f, err := n.FS.Open(name)
	if err != nil {
		return nil, fs.ErrNotExist
	}
	if st, err := f.Stat(); err != nil || st.IsDir() {
		f.Close()
		return nil, fs.ErrNotExist
	}
	return f, nil
}
