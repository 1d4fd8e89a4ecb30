package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/embed"
)

// These tests treat essync as a user on another machine would: a release
// archive unpacked into an empty folder outside the checkout, or a plain
// go-built binary copied there, run with a clean environment (no ESSYNC_*
// variables, HOME and the working directory in the temporary folder).

const releaseTestVersion = "v0.0.0-releasetest"

// repoRoot is the checkout this test runs in (cmd/essync is two levels down).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "release")); err != nil {
		t.Fatalf("not in the essync checkout: %v", err)
	}
	return root
}

// buildEnv is the test's environment without essync's own variables, for
// the build steps (they need Go's settings, not essync's).
func buildEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "ESSYNC_") || strings.HasPrefix(kv, "ELASTICSEARCH_")
	})
}

// runClean runs bin with args in dir with only PATH and HOME set, and
// returns its combined output and exit code.
func runClean(t *testing.T, dir, home, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home}
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exitErr):
		return string(out), exitErr.ExitCode()
	default:
		t.Fatalf("%s %v: %v", bin, args, err)
		return "", -1
	}
}

// writeFixtureCatalog copies the first n products of testdata/e2e and their
// images into dir as catalog.json and images/.
func writeFixtureCatalog(t *testing.T, root, dir string, n int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "testdata", "e2e", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var products []map[string]any
	if err := json.Unmarshal(data, &products); err != nil {
		t.Fatal(err)
	}
	products = products[:n]
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range products {
		name := p["imageName"].(string)
		img, err := os.ReadFile(filepath.Join(root, "testdata", "e2e", "images", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "images", name), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := json.Marshal(products)
	if err := os.WriteFile(filepath.Join(dir, "catalog.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// unpack extracts a .tar.gz into dir, checking that the archive is
// deterministic-ish: entries sorted, one mtime, owner 0, all under top/.
func unpack(t *testing.T, archive, dir, top string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	var mtime time.Time
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: owner %d:%d, want 0:0", h.Name, h.Uid, h.Gid)
		}
		if mtime.IsZero() {
			mtime = h.ModTime
		} else if !h.ModTime.Equal(mtime) {
			t.Errorf("%s: mtime %v, want the archive's one mtime %v", h.Name, h.ModTime, mtime)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if name != top && !strings.HasPrefix(name, top+"/") {
			t.Fatalf("entry %q outside %s/", h.Name, top)
		}
		names = append(names, name)
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			w, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			w.Close()
		default:
			t.Errorf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
	}
	// tar --sort=name orders each folder's entries by name: compare paths
	// component by component.
	if !slices.IsSortedFunc(names, func(a, b string) int {
		return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
	}) {
		t.Errorf("archive entries are not sorted by name: %v", names)
	}
}

// TestReleaseArchiveRunsAnywhere builds the archive with scripts/release,
// unpacks it into an empty folder outside the checkout, and runs
// `essync version` and an offline `essync full` there with a clean
// environment: the binary must find its model and libraries beside itself.
func TestReleaseArchiveRunsAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release archive (a Go build); skipped with -short")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the release archive is linux/amd64 only")
	}
	root := repoRoot(t)
	dist := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "release"))
	cmd.Dir = root
	cmd.Env = append(buildEnv(), "DIST="+dist, "VERSION="+releaseTestVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release: %v\n%s", err, out)
	}

	name := "essync-" + releaseTestVersion + "-linux-amd64.tar.gz"
	archive := filepath.Join(dist, name)
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sumFile, err := os.ReadFile(archive + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(sumFile)), []string{hex.EncodeToString(sum[:]), name}; !slices.Equal(got, want) {
		t.Errorf("%s.sha256 = %q, want %q", name, got, want)
	}

	home := t.TempDir() // the machine the archive is copied to
	top := "essync-" + releaseTestVersion
	unpack(t, archive, home, top)
	dir := filepath.Join(home, top)
	for _, rel := range []string{"bin/essync", "lib/libonnxruntime.so.1", "INSTALL.md", "NOTICE",
		"share/doc/essync/README.md", "share/doc/essync/licenses/onnxruntime/LICENSE",
		"share/doc/essync/licenses/onnxruntime/ThirdPartyNotices.txt", "share/doc/essync/licenses/go/go/LICENSE"} {
		if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
			t.Errorf("archive lacks %s: %v", rel, err)
		}
	}
	if _, err := exec.LookPath("objdump"); err == nil {
		install, _ := os.ReadFile(filepath.Join(dir, "INSTALL.md"))
		if !strings.Contains(string(install), "needs glibc 2.") {
			t.Errorf("INSTALL.md does not say which glibc the archive needs")
		}
	}
	card, err := embed.LoadCard(filepath.Join(dir, embed.DefaultCardRel))
	if err != nil {
		t.Fatalf("the archive's default model: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(card.Path()), "NOTICE")); err != nil {
		t.Errorf("the default model's NOTICE is missing: %v", err)
	}

	work := t.TempDir()
	writeFixtureCatalog(t, root, work, 12)
	bin := filepath.Join(dir, "bin", "essync")

	out, code := runClean(t, work, work, bin, "version")
	if code != 0 {
		t.Fatalf("essync version: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"essync " + releaseTestVersion,
		"onnxruntime:  " + embed.ORTWantVersion,                     // the version the library reports
		filepath.Join(dir, embed.ReleaseORTLibRel),                  // loaded from beside the binary
		"model:        " + card.Fingerprint(),                       // the archive's own model
		"model card:   " + filepath.Join(dir, embed.DefaultCardRel), // found beside the binary
	} {
		if !strings.Contains(out, want) {
			t.Errorf("essync version lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, embed.ReleaseTurboJPEGRel)); err == nil &&
		!strings.Contains(out, "libjpeg-turbo ("+filepath.Join(dir, embed.ReleaseTurboJPEGRel)) {
		t.Errorf("essync version does not use the archive's libjpeg-turbo:\n%s", out)
	}

	// Through a symlink elsewhere, as after `ln -s …/bin/essync /usr/local/bin/`.
	link := filepath.Join(work, "essync-link")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	if out, code := runClean(t, work, work, link, "doctor"); code != 0 || !strings.Contains(out, filepath.Join(dir, embed.DefaultCardRel)) {
		t.Errorf("essync doctor through a symlink: exit %d\n%s", code, out)
	}

	out, code = runClean(t, work, work, bin, "full", "--catalog", "catalog.json", "--images", "images", "--out", "out")
	if code != 0 {
		t.Fatalf("essync full: exit %d\n%s", code, out)
	}
	docs := readBulkFile(t, filepath.Join(work, "out", "documents.ndjson"))
	if len(docs) != 12 {
		t.Fatalf("documents.ndjson has %d documents, want 12", len(docs))
	}
	lists := readBulkFile(t, filepath.Join(work, "out", "similar.ndjson"))
	if len(lists) != 12 {
		t.Fatalf("similar.ndjson has %d list documents, want 12", len(lists))
	}
	for i, d := range docs {
		var doc struct {
			ProductID string    `json:"product_id"`
			Vector    []float32 `json:"image_vector"`
			Similar   []string  `json:"similar_pi"`
		}
		if err := json.Unmarshal(d, &doc); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(lists[i], &doc); err != nil {
			t.Fatal(err)
		}
		if doc.ProductID == "" || len(doc.Vector) != card.Dims || len(doc.Similar) != 11 {
			t.Errorf("document %q: %d-d vector (want %d), %d similar (want 11)", doc.ProductID, len(doc.Vector), card.Dims, len(doc.Similar))
		}
	}
	var rep struct {
		Products int    `json:"products"`
		Model    string `json:"model"`
	}
	rb, err := os.ReadFile(filepath.Join(work, "out", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rb, &rep); err != nil || rep.Products != 12 || rep.Model != card.Fingerprint() {
		t.Errorf("report.json: %+v (%v), want 12 products of %s", rep, err, card.Fingerprint())
	}
}

// readBulkFile returns the document lines of a bulk-ready NDJSON file
// (action line, document line, …).
func readBulkFile(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	var docs [][]byte
	for i := 0; sc.Scan(); i++ {
		if i%2 == 1 {
			docs = append(docs, slices.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return docs
}

// TestPlainBinaryOutsideCheckoutSaysWhatIsMissing builds essync with a plain
// go build, copies it alone into an empty folder, and checks that it fails
// with a message naming what is missing and what to do, and that
// `essync doctor` lists the same.
func TestPlainBinaryOutsideCheckoutSaysWhatIsMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds essync (a Go build); skipped with -short")
	}
	root := repoRoot(t)
	home := t.TempDir()
	bin := filepath.Join(home, "bin", "essync") // bin/ with no lib/ or models/ beside it
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	// -trimpath as scripts/release builds, so the two builds share Go's
	// compile cache and CI pays for one compile; the binary is still a plain
	// build: no stamps, nothing beside it.
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/essync")
	cmd.Dir = root
	cmd.Env = buildEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	writeFixtureCatalog(t, root, home, 2)

	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"full without a model", []string{"full", "--catalog", "catalog.json", "--images", "images"}, exitFailure,
			[]string{"default model card not found", filepath.Join(home, embed.DefaultCardRel), "release archive", "--model", "essync doctor"}},
		{"full without ONNX Runtime", []string{"full", "--catalog", "catalog.json", "--images", "images",
			"--model", filepath.Join(root, embed.DefaultCardRel)}, exitFailure,
			[]string{"ONNX Runtime shared library not found", filepath.Join(home, embed.ReleaseORTLibRel), "release archive", "scripts/setup", "--ort-lib"}},
		{"doctor", []string{"doctor"}, exitFailure,
			[]string{"FAIL  model card", "FAIL  onnxruntime", "info  elasticsearch", "2 problem(s) found"}},
		{"version", []string{"version"}, exitOK,
			[]string{"essync dev", "onnxruntime:  unavailable", "model:        unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runClean(t, home, home, bin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
