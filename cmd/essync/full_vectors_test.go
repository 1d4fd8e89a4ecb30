package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// essync full --vectors without --images writes the documents of the
// products that have a vector, with their offer group, and records the
// vectors' model; without --vectors, --images is required.
func TestFullFromVectorsOffline(t *testing.T) {
	// Offline: never the shared node's alias, whatever the environment says.
	t.Setenv("ESSYNC_ES_URL", "")
	t.Setenv("ELASTICSEARCH_URL", "")
	alias := fmt.Sprintf("essync-test-vectors-offline-%d", os.Getpid())
	// red ≈ crimson (one offer group), blue apart; "green" has no vector.
	dir := writeVectors(t, 3, 2, []float32{1, 0, 0.8, 0.6, 0, 1}, []string{"red", "crimson", "blue"})
	if err := os.WriteFile(filepath.Join(dir, "report.json"), []byte(`{"model": "colours@1", "dims": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	catalogPath := filepath.Join(t.TempDir(), "catalog.ndjson")
	rows := `{"productId": "red", "imageName": "red.jpg"}
{"productId": "crimson", "imageName": "crimson.jpg"}
{"productId": "blue", "imageName": "blue.jpg"}
{"productId": "green", "imageName": "green.jpg"}
`
	if err := os.WriteFile(catalogPath, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if code := run([]string{"essync", "full", "--catalog", catalogPath, "--vectors", dir, "--out", out, "--index", alias, "--k", "1", "--group-threshold", "0.75"}); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	docs := readNDJSON(t, filepath.Join(out, "documents.ndjson"))
	if len(docs) != 3 || docs["green"] != nil {
		t.Fatalf("documents %v, want red, crimson and blue", docs)
	}
	// Schema 4: group_id in the product document, the group's size (and
	// group_id) in the list document.
	lists := readNDJSON(t, filepath.Join(out, "similar.ndjson"))
	if docs["red"]["group_id"] != "g-crimson" || docs["red"]["group_size"] != nil || lists["red"]["group_id"] != "g-crimson" ||
		lists["red"]["group_size"] != float64(2) || lists["blue"]["group_size"] != float64(1) {
		t.Errorf("groups: red %v, its list %v/%v, blue's list %v; want red and crimson together, the size in the list documents",
			docs["red"]["group_id"], lists["red"]["group_id"], lists["red"]["group_size"], lists["blue"]["group_size"])
	}
	if book := docs["red"]["essync"].(map[string]any); book["model"] != "colours@1" || book["image_sha256"] != "" {
		t.Errorf("essync %v, want the vectors' model and no image hash", book)
	}
	var rep struct {
		Skipped []struct{ ID, Stage string }
		Groups  struct{ Groups int }
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil || json.Unmarshal(raw, &rep) != nil || len(rep.Skipped) != 1 || rep.Skipped[0].ID != "green" || rep.Groups.Groups != 1 {
		t.Errorf("report: %s (%v), want green skipped and one group", raw, err)
	}

	if code := run([]string{"essync", "full", "--catalog", catalogPath, "--out", out, "--index", alias}); code != exitUsage {
		t.Errorf("no --images and no --vectors: exit %d, want %d", code, exitUsage)
	}
}

// readNDJSON reads a bulk-ready NDJSON file (action line, document line)
// into its documents by _id.
func readNDJSON(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs := map[string]map[string]any{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var action map[string]map[string]string
		json.Unmarshal(sc.Bytes(), &action)
		if !sc.Scan() {
			t.Fatalf("%s: action line without a document", path)
		}
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		docs[action["index"]["_id"]] = doc
	}
	return docs
}
