package catalog

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecimalText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"-0", "0"},
		{"7", "7"},
		{"-12", "-12"},
		{"12345678901234567890123", "12345678901234567890123"},
		{"1.50", "1.5"},
		{"1.0", "1"},
		{"0.001", "0.001"},
		{"1e3", "1000"},
		{"1E+3", "1000"},
		{"1.25e1", "12.5"},
		{"125e-2", "1.25"},
		{"5e-3", "0.005"},
		{"-2.5E-1", "-0.25"},
		{"0e5", "0"},
	}
	for _, tc := range tests {
		got, err := decimalText(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("decimalText(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"1e999", "1e-999", "1ee3", "1.2.3", "-", ".5"} {
		if got, err := decimalText(bad); err == nil {
			t.Errorf("decimalText(%q) = %q, want an error", bad, got)
		}
	}
}

func TestReadID(t *testing.T) {
	tests := []struct {
		raw      string // the id field's raw JSON; "" means absent
		want     string
		kind     SkipKind
		inReason string
	}{
		{raw: `"p-1"`, want: "p-1"},
		{raw: `" spaced id "`, want: " spaced id "},
		{raw: `"ünïcödé 製品"`, want: "ünïcödé 製品"},
		{raw: `"a\"b"`, want: `a"b`},
		{raw: `42`, want: "42"},
		{raw: `98765432109876543210`, want: "98765432109876543210"},
		{raw: `4.20`, want: "4.2"},
		{raw: ``, kind: SkipMissingID, inReason: "no \"id\" field"},
		{raw: `null`, kind: SkipMissingID, inReason: "no \"id\" field"},
		{raw: `""`, kind: SkipMissingID, inReason: "is empty"},
		{raw: `" \t"`, kind: SkipMissingID, inReason: "is empty"},
		{raw: `true`, kind: SkipBadID, inReason: "got a boolean"},
		{raw: `[1]`, kind: SkipBadID, inReason: "got an array"},
		{raw: `{"a":1}`, kind: SkipBadID, inReason: "got an object"},
		{raw: `1e400`, kind: SkipBadID, inReason: "write the id as a string"},
		{raw: `"` + strings.Repeat("x", 512) + `"`, want: strings.Repeat("x", 512)},
		{raw: `"` + strings.Repeat("é", 257) + `"`, kind: SkipBadID, inReason: "514 bytes long"},
	}
	for _, tc := range tests {
		fields := map[string]json.RawMessage{}
		if tc.raw != "" {
			fields["id"] = json.RawMessage(tc.raw)
		}
		got, kind, reason := readID(fields, "id")
		if got != tc.want || kind != tc.kind || !strings.Contains(reason, tc.inReason) {
			t.Errorf("readID(%s) = %q, %q, %q; want %q, %q, reason containing %q", tc.raw, got, kind, reason, tc.want, tc.kind, tc.inReason)
		}
	}
}
