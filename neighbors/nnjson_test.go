package neighbors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The file is a JSON array of rows in product order, most similar first,
// with quotes, control characters and non-ASCII letters in ids round-tripping
// and similarities as written; an empty input is
// an empty array; nothing is left behind but the file.
func TestWriteJSON(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "nearest_neighbors.json")
	lists := map[string][]Neighbor{
		"a":      {{"b\"q", 0.9512}, {"c\x01é", 0.5}},
		"b\"q":   {{"a", 0.9512}},
		"c\x01é": nil,
	}
	if err := WriteJSON(path, []string{"a", "b\"q", "c\x01é"}, func(id string) []Neighbor { return lists[id] }); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Similarity json.Number `json:"similarity"`
		MasterPI   string      `json:"master_pi"`
		SimilarPI  string      `json:"similar_pi"`
	}
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
	want := [][3]string{{"0.9512", "a", "b\"q"}, {"0.5", "a", "c\x01é"}, {"0.9512", "b\"q", "a"}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows: %s", len(rows), raw)
	}
	for i, r := range rows {
		if got := [3]string{r.Similarity.String(), r.MasterPI, r.SimilarPI}; got != want[i] {
			t.Errorf("row %d = %v, want %v", i, got, want[i])
		}
	}
	empty := filepath.Join(dir, "empty.json")
	if err := WriteJSON(empty, nil, nil); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(empty); json.Unmarshal(raw, &rows) != nil || len(rows) != 0 {
		t.Errorf("empty file %q", raw)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "sub", ".nearest-*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
