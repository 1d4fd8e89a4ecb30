package catalog

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestRecordField(t *testing.T) {
	rec := Record(`{"productId":"p-1","price":19.90,"nested":{"a":[1,2]},"dup":1,"dup":2,"tïtle":"x\u00e9"}`)
	tests := []struct {
		name string
		want string
		ok   bool
	}{
		{"productId", `"p-1"`, true},
		{"price", `19.90`, true}, // the number's text, not a float's
		{"nested", `{"a":[1,2]}`, true},
		{"dup", `2`, true}, // the last one, as a map would keep
		{"tïtle", `"x\u00e9"`, true},
		{"missing", ``, false},
		{"a", ``, false}, // a nested key is not a field
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := rec.Field(tt.name)
			if ok != tt.ok || string(got) != tt.want {
				t.Errorf("Field(%q) = %s, %v; want %s, %v", tt.name, got, ok, tt.want, tt.ok)
			}
		})
	}
	fields, err := rec.Fields()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if got, ok := fields[tt.name]; ok != tt.ok || string(got) != tt.want {
			t.Errorf("Fields()[%q] = %s, %v; want %s, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []Record{nil, Record(`null`), Record(`[1]`), Record(`{"a":`)} {
		if _, err := bad.Fields(); err == nil {
			t.Errorf("Fields of %q: no error", bad)
		}
		if _, ok := bad.Field("a"); ok {
			t.Errorf("Field of %q found a value", bad)
		}
	}
}

func TestNewRecordRoundTrips(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]json.RawMessage
		want   string
	}{
		{"sorted and compacted", map[string]json.RawMessage{"b": json.RawMessage(`[ 1, 2 ]`), "a": json.RawMessage(`"x"`)}, `{"a":"x","b":[1,2]}`},
		{"keys that need escaping", map[string]json.RawMessage{"q\"\x01<": json.RawMessage(`1`)}, `{"q\"\u0001\u003c":1}`},
		{"empty", map[string]json.RawMessage{}, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := NewRecord(tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			if string(rec) != tt.want {
				t.Errorf("NewRecord = %s, want %s", rec, tt.want)
			}
			back, err := rec.Fields()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(slices.Sorted(maps.Keys(back)), slices.Sorted(maps.Keys(tt.fields))) {
				t.Errorf("fields back %v, want the keys of %v", back, tt.fields)
			}
		})
	}
	if _, err := NewRecord(map[string]json.RawMessage{"a": json.RawMessage(`{oops`)}); err == nil {
		t.Error("an invalid value was accepted")
	}
}

// TestReadKeepsTheRecord checks that with RecordsOnly every catalog format
// gives each product its record, compacted, and no map; without it, the map
// as before.
func TestReadKeepsTheRecord(t *testing.T) {
	const a = `{"productId": "p-1", "imageName": "a.jpg", "price": 19.90, "tags": [ "x", "y" ]}`
	const b = `{"productId":2,"imageName":"b.jpg","nested":{ "k": null }}`
	want := []string{
		`{"productId":"p-1","imageName":"a.jpg","price":19.90,"tags":["x","y"]}`,
		`{"productId":2,"imageName":"b.jpg","nested":{"k":null}}`,
	}
	formats := []struct{ name, text string }{
		{"ndjson", a + "\n" + b + "\n"},
		{"ndjson of arrays", "[" + a + ",\n" + b + "]\n"},
		{"array over lines", "[\n  " + a + ",\n  " + b + "\n]\n"},
	}
	for _, f := range formats {
		for _, only := range []bool{false, true} {
			t.Run(f.name+map[bool]string{false: "", true: " records only"}[only], func(t *testing.T) {
				products, skipped, err := ReadReader(strings.NewReader(f.text), "test", Options{ImagesOptional: true, RecordsOnly: only})
				if err != nil || len(skipped) != 0 || len(products) != 2 {
					t.Fatalf("%d products, %v skipped, %v", len(products), skipped, err)
				}
				for i, p := range products {
					if !only {
						if p.Record != nil || p.Fields == nil {
							t.Errorf("product %d: record %q and fields %v without RecordsOnly, want only fields", i, p.Record, p.Fields)
						}
						continue
					}
					if p.Fields != nil {
						t.Errorf("product %d: fields %v with RecordsOnly", i, p.Fields)
					}
					if string(p.Record) != want[i] {
						t.Errorf("product %d record %s, want %s", i, p.Record, want[i])
					}
					if price, _ := p.Record.Field("price"); i == 0 && !bytes.Equal(price, []byte("19.90")) {
						t.Errorf("price %s, want 19.90", price)
					}
				}
			})
		}
	}
}
