package embed

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCardShipped(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(testdata, "models", "*.json"))
	def, err := DefaultCardPath()
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, def)
	shipped, _ := filepath.Glob("../models/*/card*.json") // the previous default and the default without focus
	paths = append(paths, shipped...)
	if len(paths) < 7 {
		t.Fatalf("found only %v", paths)
	}
	for _, p := range paths {
		c, err := LoadCard(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if _, err := os.Stat(c.ModelPath()); err != nil {
			t.Errorf("%s: model path %s: %v", p, c.ModelPath(), err)
		}
	}
	if v1, err := LoadCard("../models/efficientnet-lite0-v1/card.json"); err != nil || v1.Fingerprint() != "efficientnet-lite0@5b35d9cdc090" {
		t.Errorf("previous default card: %v, fingerprint must stay efficientnet-lite0@5b35d9cdc090 for the indexes built with it", err)
	}
	c, _ := LoadCard(def)
	if got, want := c.Fingerprint(), "efficientnet-lite0-int8@"+c.SHA256[:12]+"+scda-crop-c192-k70-s1"; got != want || c.Dims != 1280 {
		t.Errorf("default card: fingerprint %q dims %d, want %q 1280", got, c.Dims, want)
	}
}

func TestLoadCardInvalid(t *testing.T) {
	good := `"name":"m","file":"tiny_nchw.onnx","sha256":"` + strings.Repeat("a", 64) +
		`","input_name":"pixels","size":32,"output_name":"features","dims":16`
	tests := []struct {
		name, json, want string
	}{
		{"bad layout", `{` + good + `,"layout":"CHW","resize":"pad","scaling":"unit"}`, "layout"},
		{"bad resize", `{` + good + `,"layout":"NCHW","resize":"stretch","scaling":"unit"}`, "resize"},
		{"mean_std without values", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"mean_std"}`, "3 mean"},
		{"zero std", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"mean_std","mean":[0,0,0],"std":[1,0,1]}`, "std"},
		{"unit with mean", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","mean":[0,0,0]}`, "no mean"},
		{"pad value", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","pad_value":2}`, "pad_value"},
		{"unknown field", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","colour":"red"}`, "unknown field"},
		{"short sha", `{"name":"m","file":"tiny_nchw.onnx","sha256":"abc","input_name":"pixels","size":32,"output_name":"features","dims":16,"layout":"NCHW","resize":"pad","scaling":"unit"}`, "sha256"},
		{"missing file", `{"name":"m","file":"nope.onnx","sha256":"` + strings.Repeat("a", 64) + `","input_name":"pixels","size":32,"output_name":"features","dims":16,"layout":"NCHW","resize":"pad","scaling":"unit"}`, "nope.onnx"},
		{"not json", `{name: m}`, "invalid character"},
		{"focus without feature map", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","focus":"scda-crop"}`, "feature_map_name"},
		{"unknown focus", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"saliency"}`, "focus"},
		{"locate without crop focus", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-pool","locate_size":32}`, "locate_size 32 needs focus"},
		{"locate not a multiple of 32", `{` + good + `,"size":224,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-crop","locate_size":100}`, "multiple of 32"},
		{"locate not below size", `{` + good + `,"size":224,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-crop","locate_size":224}`, "below size"},
		{"crop size without crop focus", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-pool","crop_size":32}`, "crop_size 32 needs focus"},
		{"crop size with locate size", `{` + good + `,"size":224,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-crop","locate_size":128,"crop_size":192}`, "no locate_size"},
		{"crop size not a multiple of 32", `{` + good + `,"size":224,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-crop","crop_size":200}`, "multiple of 32"},
		{"crop share without crop focus", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-pool","crop_max_share":0.7}`, "crop_max_share 0.7"},
		{"crop share of 1", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-crop","crop_max_share":1}`, "between 0 and 1"},
		{"crop size not below size", `{` + good + `,"size":224,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-crop","crop_size":256}`, "below size"},
		{"focus steps without crop focus", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","focus_steps":1}`, "focus_steps"},
		{"focus steps out of range", `{` + good + `,"layout":"NCHW","resize":"pad","scaling":"unit","feature_map_name":"fm","focus":"scda-crop","focus_steps":9}`, "focus_steps"},
	}
	dir := t.TempDir()
	tiny, _ := os.ReadFile(filepath.Join(testdata, "models", "tiny_nchw.onnx"))
	os.WriteFile(filepath.Join(dir, "tiny_nchw.onnx"), tiny, 0o644)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "card.json")
			if err := os.WriteFile(p, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadCard(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("LoadCard: %v; want an error naming %s and mentioning %q", err, p, tt.want)
			}
		})
	}
}

func TestExampleCardsValidate(t *testing.T) {
	paths, _ := filepath.Glob("../models/examples/*.json")
	if len(paths) == 0 {
		t.Fatal("no example cards")
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var c Card
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
