package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/essync/essync/esindex/estest"
)

// runCaptured runs the CLI with stdout captured.
func runCaptured(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() { b, _ := io.ReadAll(r); out <- string(b) }()
	code := run(args)
	w.Close()
	os.Stdout = stdout
	return code, <-out
}

func TestVerifyCommandExitCodes(t *testing.T) {
	needORTLib(t)
	es := estest.Client(t)
	alias := estest.IndexName(t, "cli-verify")
	e2e := filepath.Join("..", "..", "testdata", "e2e")
	catalogFlags := []string{"--catalog", filepath.Join(e2e, "catalog.json"), "--images", filepath.Join(e2e, "images"), "--index", alias, "--es-url", estest.URL()}
	card := filepath.Join("..", "..", "testdata", "models", "tiny-nchw-crop.json")
	full := append([]string{"essync", "--log-level", "warn", "full", "--model", card, "--exact", "--replicas", "0", "--no-cache",
		"--report", filepath.Join(t.TempDir(), "report.json")}, catalogFlags...)
	if code := runArgs(full...); code != exitOK {
		t.Fatalf("full: exit %d", code)
	}
	verifyArgs := append([]string{"essync", "verify", "--model", card, "--hash"}, catalogFlags...)
	code, out := runCaptured(t, verifyArgs...)
	if code != exitOK || !strings.Contains(out, "no findings") {
		t.Fatalf("verify on a fresh index: exit %d\n%s", code, out)
	}

	res, err := es.Delete(alias, "rocket-crop", es.Delete.WithRefresh("true"), es.Delete.WithContext(context.Background()))
	if err != nil || res.IsError() {
		t.Fatalf("delete a document: %v %v", err, res)
	}
	res.Body.Close()
	code, out = runCaptured(t, append(verifyArgs, "--json")...)
	if code != exitFindings {
		t.Fatalf("verify after a delete: exit %d, want %d\n%s", code, exitFindings, out)
	}
	var rep struct {
		Findings []struct {
			Kind string   `json:"kind"`
			IDs  []string `json:"ids"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	missing := false
	for _, f := range rep.Findings {
		missing = missing || (f.Kind == "missing-from-index" && len(f.IDs) == 1 && f.IDs[0] == "rocket-crop")
	}
	if !missing {
		t.Errorf("no missing-from-index finding for rocket-crop in %+v", rep.Findings)
	}
	code, out = runCaptured(t, verifyArgs...)
	if code != exitFindings || !strings.Contains(out, "missing-from-index  rocket-crop") {
		t.Errorf("table: exit %d\n%s", code, out)
	}

	if code := runArgs(append(verifyArgs, "--no-such-flag")...); code != exitUsage {
		t.Errorf("unknown flag: exit %d, want %d", code, exitUsage)
	}
	if code := runArgs(append(verifyArgs, "--min-recall", "2")...); code != exitUsage {
		t.Errorf("--min-recall 2: exit %d, want %d", code, exitUsage)
	}
	t.Setenv("ESSYNC_ES_URL", "")
	t.Setenv("ELASTICSEARCH_URL", "")
	if code := runArgs("essync", "verify", "--catalog", "c.json", "--images", "."); code != exitUsage {
		t.Errorf("no --es-url: exit %d, want %d", code, exitUsage)
	}
}
