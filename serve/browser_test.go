package serve

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium (scripts/setup installs it). In CI a
// missing browser fails the test; locally it skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is required in CI for the page test: run scripts/setup (it installs Debian's chromium package)")
	}
	t.Skip("chromium not installed (scripts/setup installs it)")
	return ""
}

// artifactsDir is where screenshots go: $ESSYNC_TEST_ARTIFACTS if set, else the test's temp folder.
func artifactsDir(t *testing.T) string {
	if dir := os.Getenv("ESSYNC_TEST_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// TestPageSearchesByPhotoAndShowsSimilarProducts drives the page at / in a
// real headless Chromium: upload a photo through the file input, wait for the
// grid, check the right product is first and its image loaded through
// /images/, click a product and see its precomputed similar products.
func TestPageSearchesByPhotoAndShowsSimilarProducts(t *testing.T) {
	browser := chromium(t)
	emb, es, alias := e2eIndex(t)
	srv := newTestServer(t, Config{ES: es, Alias: alias, Embedder: emb, ImagesDir: filepath.Join(e2eDir, "images")})
	hs := httptest.NewServer(srv) // 127.0.0.1:0
	defer hs.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1600),
		// Without these Chromium keeps calling home, which floods a closed network.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	photo, err := filepath.Abs(filepath.Join(e2eDir, "images", "rocket-mirror.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		step("read "+sel, err)
		return s
	}
	wait := func(what, expr string) {
		t.Helper()
		_, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second)))
		step(what, err)
	}

	step("open the page", chromedp.Do(bctx, chromedp.Navigate(hs.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#drop"))))
	wait("the health line", `document.getElementById("health").textContent.startsWith("index ")`)
	if health := text("#health"); !strings.Contains(health, emb.Fingerprint()) {
		t.Errorf("health line %q does not name the model", health)
	}
	step("upload a photo", chromedp.Do(bctx,
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{photo}),
		chromedp.WaitVisible(chromedp.CSS("#results .card"))))
	first, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS("#results .card"), "data-id"))
	step("read the first product", err)
	if first.Value != "rocket-mirror" {
		t.Errorf("first product on the page is %q, want rocket-mirror", first.Value)
	}
	if status := text("#status"); !strings.Contains(status, "12 products") {
		t.Errorf("status line %q", status)
	}
	wait("the first product's image to load through /images/",
		`(() => { const i = document.querySelector("#results .card img"); return i.complete && i.naturalWidth > 0; })()`)
	cards, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#results .card").length`))
	step("count the cards", err)

	step("click a product", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#results .card[data-id="rocket-orig"]`)),
		chromedp.WaitVisible(chromedp.CSS("#similar .card"))))
	similarIDs, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#similar .card")].map(c => c.dataset.id)`))
	step("read the similar products", err)
	similarTitle := text("#similar-title")
	if cards != 12 || !strings.Contains(similarTitle, "rocket-orig") || len(similarIDs) != 12 || !strings.HasPrefix(similarIDs[0], "rocket-") {
		t.Errorf("%d result cards; similar title %q, products %v", cards, similarTitle, similarIDs)
	}
	wait("the similar products' images", `[...document.querySelectorAll("#similar .card img")].every(i => i.complete && i.naturalWidth > 0)`)
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	step("screenshot", err)
	path := filepath.Join(artifactsDir(t), "serve-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the page: %s (%d bytes)", path, len(shot))
}
