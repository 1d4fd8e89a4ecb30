package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

func TestSearchCommandPrintsTheMostSimilarProducts(t *testing.T) {
	estest.Client(t)
	needORTLib(t)
	alias := estest.IndexName(t, "cli-search")
	e2e := "../../testdata/e2e"
	if _, err := pipeline.Full(context.Background(), pipeline.Config{
		CatalogPath: filepath.Join(e2e, "catalog.json"), Catalog: catalog.Options{ImagesDir: filepath.Join(e2e, "images")},
		Exact: true, ES: &esindex.Config{URLs: []string{estest.URL()}}, Alias: alias, MaxSkipped: -1, OutDir: t.TempDir(),
	}); err != nil {
		t.Fatal(err)
	}
	search := func(extra ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		app := newApp()
		app.Writer, app.ErrWriter = &out, &errOut
		args := append([]string{"essync", "search", "--index", alias, "--es-url", estest.URL()}, extra...)
		code := exitOK
		if err := app.Run(args); err != nil {
			code = exitFailure
			if ec, ok := err.(interface{ ExitCode() int }); ok {
				code = ec.ExitCode()
			}
			errOut.WriteString(err.Error())
		}
		return code, out.String(), errOut.String()
	}

	code, out, _ := search("--image", filepath.Join(e2e, "images", "cat-q30.jpg"), "-k", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 4 || !strings.HasPrefix(lines[0], "#") || !strings.Contains(lines[1], "cat-q30") {
		t.Fatalf("table: exit %d\n%s", code, out)
	}
	if !strings.Contains(lines[1], "title=Tabby cat photo print (q30)") || strings.Contains(out, "image_vector") {
		t.Errorf("table row without catalog fields: %q", lines[1])
	}
	code, out, _ = search("--image", filepath.Join(e2e, "images", "rocket-crop.jpg"), "--json")
	var res struct {
		Model string `json:"model"`
		Hits  []struct {
			ID string `json:"product_id"`
		} `json:"hits"`
	}
	if err := json.Unmarshal([]byte(out), &res); code != exitOK || err != nil || len(res.Hits) != 10 || res.Hits[0].ID != "rocket-crop" {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}
	code, _, errOut := search("--image", "../../testdata/images/broken/text.jpg")
	if code != exitUsage || !strings.Contains(errOut, "not a JPEG") {
		t.Errorf("a text file: exit %d %q", code, errOut)
	}
	code, _, errOut = search("--image", filepath.Join(e2e, "images", "cat-q30.jpg"), "--model", "../../testdata/models/tiny-nchw-crop.json")
	if code != exitFailure || !strings.Contains(errOut, "this service embeds with") {
		t.Errorf("another model: exit %d %q", code, errOut)
	}
}
