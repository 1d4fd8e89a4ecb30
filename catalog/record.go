package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Record is one catalog record as the JSON object it was written as,
// compacted (insignificant whitespace removed; every value's text kept).
// Keeping these bytes instead of a parsed map costs a product its record's
// length — a few hundred bytes for a typical shop record, where a map of its
// fields takes 0.5–2 KB — so a million-product catalog fits beside its
// vectors; fields are parsed when asked for.
type Record []byte

// Fields parses every field of the record, each value as its raw JSON. A
// field written twice keeps its last value, as encoding/json does.
func (r Record) Fields() (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r, &fields); err != nil {
		return nil, fmt.Errorf("catalog record: %w", err)
	}
	if fields == nil { // "null" is not a record
		return nil, fmt.Errorf("catalog record: not a JSON object")
	}
	return fields, nil
}

// Field returns the raw JSON value of the named field (its last one, if
// written twice), without parsing the others into a map.
func (r Record) Field(name string) (json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(r))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var found json.RawMessage
	ok := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if key == name {
			found, ok = v, true
		}
	}
	return found, ok
}

// NewRecord encodes fields as a Record, keys in sorted order (so equal
// fields give equal bytes); every value must be valid JSON.
func NewRecord(fields map[string]json.RawMessage) (Record, error) {
	size := 2
	for k, v := range fields {
		size += len(k) + len(v) + 4
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(fields)) {
		if i > 0 {
			b = append(b, ',')
		}
		key, _ := json.Marshal(k) // a string always encodes
		b = append(b, key...)
		b = append(b, ':')
		b = append(b, fields[k]...)
	}
	b = append(b, '}')
	var out bytes.Buffer
	out.Grow(len(b))
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("catalog record: a field's value is not valid JSON: %w", err)
	}
	return Record(out.Bytes()), nil
}

// compactRecord is raw (a valid JSON object) without insignificant
// whitespace, in a buffer of its own size.
func compactRecord(raw []byte) Record {
	var out bytes.Buffer
	out.Grow(len(raw))
	if json.Compact(&out, raw) != nil {
		return Record(bytes.Clone(raw)) // cannot happen: raw parsed as an object
	}
	return Record(slices.Clip(out.Bytes()))
}
