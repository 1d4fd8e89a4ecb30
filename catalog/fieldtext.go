package catalog

import "encoding/json"

// FieldText renders a catalog field's raw JSON value as text, for CSV output
// and for comparing products by a field (offer groups' --group-same and
// --group-apart): a string as its text, null or absent as "", anything else
// (numbers, booleans, objects) as its JSON.
func FieldText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
