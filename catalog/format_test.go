package catalog

import (
	"fmt"
	"strings"
	"testing"
)

// collect decodes in and renders each record as "line:id" (or
// "line:!kind" for a bad record).
func collect(t *testing.T, in string) ([]string, error) {
	t.Helper()
	var got []string
	err := decode(strings.NewReader(in), "test", func(r record) {
		if r.bad != "" {
			got = append(got, fmt.Sprintf("%d:!%s", r.line, r.bad))
			return
		}
		got = append(got, fmt.Sprintf("%d:%s", r.line, r.fields["id"]))
	})
	return got, err
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  string
		inErr string
	}{
		{name: "empty", in: "", want: ""},
		{name: "blank lines only", in: "\n \n\t\n", want: ""},
		{name: "one-line array", in: `[{"id":1},{"id":2}]`, want: "1:1 1:2"},
		{name: "pretty array", in: "[\n {\"id\":1},\n\n {\"id\":2}\n]\n", want: "2:1 4:2"},
		{name: "array opening on object line", in: "[{\"id\":1},\n{\"id\":2}]", want: "1:1 2:2"},
		{name: "element spread over lines", in: "[\n{\n\"id\":1\n},{\"id\":\n2}]", want: "2:1 4:2"},
		{name: "leading blank lines", in: "\n\n[\n{\"id\":1}\n]", want: "4:1"},
		{name: "two pretty arrays", in: "[\n{\"id\":1}\n]\n[\n{\"id\":2}\n]", want: "2:1 5:2"},
		{name: "non-objects in pretty array", in: "[\n1,\n\"s\",\n[],\nnull,\n{\"id\":5}\n]", want: "2:!not-an-object 3:!not-an-object 4:!not-an-object 5:!not-an-object 6:5"},
		{name: "empty pretty array", in: "[\n]\n", want: ""},
		{name: "BOM", in: "\ufeff{\"id\":1}\n", want: "1:1"},
		{name: "CRLF", in: "{\"id\":1}\r\n{\"id\":2}\r\n", want: "1:1 2:2"},
		{name: "no final newline", in: "{\"id\":1}\n{\"id\":2}", want: "1:1 2:2"},
		{name: "ndjson objects with bad lines", in: "{\"id\":1}\n{\"id\":\n{\"id\":3}\n}\n", want: "1:1 2:!invalid-json 3:3 4:!invalid-json"},
		{name: "ndjson bad first line", in: "{oops\n{\"id\":2}\n", want: "1:!invalid-json 2:2"},
		{name: "ndjson arrays with bad line", in: "[{\"id\":1},{\"id\":2}]\n[{\"id\":3},\n[{\"id\":4}]\n", want: "1:1 1:2 2:!invalid-json 3:4"},
		{name: "ndjson mixed objects and arrays", in: "{\"id\":1}\n[{\"id\":2}]\n", want: "1:1 2:2"},
		{name: "ndjson scalar line", in: "{\"id\":1}\n42\n", want: "1:1 2:!not-an-object"},
		{name: "empty array line", in: "[]\n{\"id\":1}\n", want: "2:1"},
		{name: "csv", in: "a,b\n1,2\n", inErr: "none of its 2 lines is valid JSON (first at line 1)"},
		{name: "garbage", in: "hello", inErr: "not a JSON catalog"},
		{name: "truncated array", in: "[\n{\"id\":1},\n{\"id\":2", inErr: "ends early (at line 3,"},
		{name: "syntax error in array", in: "[\n{\"id\":1},\n{\"id\" 2}\n]", inErr: "invalid JSON at line 3"},
		{name: "object after array", in: "[\n{\"id\":1}\n]\n{\"id\":2}\n", inErr: "line 4: expected '['"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(t, tc.in)
			if tc.inErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.inErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.inErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
}

// Line numbers stay right across many decoder buffer refills.
func TestDecodeLongArrayLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("[\n")
	const n = 5000
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  {\"id\": %d, \"pad\": %q}", i, strings.Repeat("x", i%300))
	}
	b.WriteString("\n]\n")
	got, err := collect(t, b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("got %d records, want %d", len(got), n)
	}
	for i, g := range got {
		if want := fmt.Sprintf("%d:%d", i+2, i); g != want {
			t.Fatalf("record %d = %s, want %s", i, g, want)
		}
	}
}

// A compact JSON array on one line longer than the format-detection window
// (json.dump without indent) is streamed; a long first object line is still
// NDJSON.
func TestDecodeLongFirstLine(t *testing.T) {
	pad := strings.Repeat("x", 1000)
	var arr strings.Builder
	arr.WriteString("[")
	const n = 3000 // ~3 MB on one line
	for i := range n {
		if i > 0 {
			arr.WriteString(",")
		}
		fmt.Fprintf(&arr, `{"id":%d,"pad":%q}`, i, pad)
	}
	arr.WriteString("]\n")
	got, err := collect(t, arr.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || got[0] != "1:0" || got[n-1] != fmt.Sprintf("1:%d", n-1) {
		t.Fatalf("got %d records, first %v", len(got), got[:min(3, len(got))])
	}

	long := fmt.Sprintf(`{"id":1,"pad":%q}`, strings.Repeat("y", firstLineLimit+10)) + "\n{oops\n" + `{"id":3}` + "\n"
	got, err = collect(t, long)
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, " "); s != "1:1 2:!invalid-json 3:3" {
		t.Errorf("long first object line: got %q", s)
	}
}
