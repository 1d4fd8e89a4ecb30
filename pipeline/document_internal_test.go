package pipeline

import (
	"encoding/json"
	"testing"
)

// TestEncodeDocumentKeys checks that catalog field names that need escaping
// (control characters, quotes, backslashes, HTML characters, non-ASCII)
// give valid JSON that reads back as the same names and values.
func TestEncodeDocumentKeys(t *testing.T) {
	tests := []struct{ name, key string }{
		{"plain", "title"},
		{"control character", "a\x01b"},
		{"newline and tab", "a\nb\tc"},
		{"quote and backslash", `a"b\c`},
		{"html characters", "a<b>&c"},
		{"non-ascii", "größe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := encodeDocument(map[string]json.RawMessage{tt.key: json.RawMessage(`"v"`)}, Document{ProductID: "p1", Vector: []float32{0.5}})
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if got[tt.key] != "v" || got["product_id"] != "p1" {
				t.Errorf("%s: read back %v, want %q: \"v\" and product_id p1", body, got, tt.key)
			}
		})
	}
}
