package catalog

import (
	"encoding/json"
	"testing"
)

func TestFieldText(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string
	}{
		{``, ""},
		{`null`, ""},
		{`"red"`, "red"},
		{`"caf\u00e9 \"noir\""`, `café "noir"`},
		{`19.9`, "19.9"},
		{`true`, "true"},
		{`{"a":1}`, `{"a":1}`},
		{`"broken`, `"broken`},
	} {
		if got := FieldText(json.RawMessage(tc.raw)); got != tc.want {
			t.Errorf("FieldText(%s) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}
