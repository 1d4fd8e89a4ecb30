package esindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/essync/essync/neighbors"
)

// ListFields are the fields of a list document (SimilarBody) as stored,
// not yet decoded. A reader that wants more of a _source than the list
// (verify also reads product documents of schema 3, which carried their
// list) embeds ListFields in its own struct, so one pass of encoding/json
// splits the document, and then calls Decode.
type ListFields struct {
	ProductID json.RawMessage `json:"product_id"`
	SimilarPI json.RawMessage `json:"similar_pi"`
	Similar   json.RawMessage `json:"similar"`
	GroupID   json.RawMessage `json:"group_id"`
	GroupSize json.RawMessage `json:"group_size"`
}

// ListDocument is a list document decoded: the reading side of
// SimilarBody, the one decoder of that shape (the pipeline's read-back,
// serve, verify and `essync groups --stored` use it). A field that is
// absent, null or not of its type is left at its zero value.
type ListDocument struct {
	ProductID string
	SimilarPI []string    // the neighbours' ids, most similar first
	Similar   []ListEntry // the same with their scores
	GroupID   string      // schema 4; "" when the document has none
	GroupSize int         // schema 4; 0 when the document has none
}

// ListEntry is one entry of a stored similar list.
type ListEntry struct {
	PI         string
	Similarity float64 // as stored, at float64 precision; 0 when !Scored
	Scored     bool    // the entry has a similarity (neither absent nor null)
	sim32      float32 // the same text parsed at float32 precision (Neighbors)
}

// Neighbors returns the similar list as the neighbors package holds it.
// Each similarity is its stored text parsed straight to a float32 (not
// rounded through a float64), so it is the bit pattern that was written.
func (d ListDocument) Neighbors() []neighbors.Neighbor {
	out := make([]neighbors.Neighbor, len(d.Similar))
	for i, e := range d.Similar {
		out[i] = neighbors.Neighbor{ID: e.PI, Similarity: e.sim32}
	}
	return out
}

// ListFieldError names a field of a list document that is not of its
// type; its Error reads "<field> is not <want>".
type ListFieldError struct {
	Field string // the JSON name, e.g. "group_size"
	Want  string // what it should be, e.g. "an integer"
}

func (e ListFieldError) Error() string { return e.Field + " is not " + e.Want }

// BadListFields is Decode's error: every field not of its type, in the
// order of ListFields. The ListDocument returned with it holds the rest, so
// a reader that reports problems (verify) carries on with what is readable.
type BadListFields []ListFieldError

func (b BadListFields) Error() string {
	parts := make([]string, len(b))
	for i, e := range b {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Field returns the problem with the field named name, if it has one.
func (b BadListFields) Field(name string) (ListFieldError, bool) {
	for _, e := range b {
		if e.Field == name {
			return e, true
		}
	}
	return ListFieldError{}, false
}

// DecodeList decodes a list document's _source. Its error says when the
// source is not a JSON object, or names each field not of its type
// (BadListFields, with the readable fields decoded).
func DecodeList(source []byte) (ListDocument, error) {
	// One typed pass reads a sound document (every one essync wrote);
	// only when it fails are the fields taken one by one, to name each
	// bad one (BenchmarkDecodeList: both passes on every document took
	// 1.6–2.3× the one).
	var typed struct {
		ProductID string        `json:"product_id"`
		SimilarPI []string      `json:"similar_pi"`
		Similar   []storedEntry `json:"similar"`
		GroupID   string        `json:"group_id"`
		GroupSize float64       `json:"group_size"`
	}
	if json.Unmarshal(source, &typed) == nil && typed.GroupSize == float64(int(typed.GroupSize)) {
		return ListDocument{ProductID: typed.ProductID, SimilarPI: typed.SimilarPI, Similar: listEntries(typed.Similar),
			GroupID: typed.GroupID, GroupSize: int(typed.GroupSize)}, nil
	}
	var f ListFields
	if err := json.Unmarshal(source, &f); err != nil {
		return ListDocument{}, fmt.Errorf("not a JSON object: %w", err)
	}
	return f.Decode()
}

// Decode decodes the fields; see DecodeList.
func (f ListFields) Decode() (ListDocument, error) {
	var d ListDocument
	var bad BadListFields
	if present(f.ProductID) && json.Unmarshal(f.ProductID, &d.ProductID) != nil {
		d.ProductID = ""
		bad = append(bad, ListFieldError{"product_id", "a string"})
	}
	if present(f.SimilarPI) && json.Unmarshal(f.SimilarPI, &d.SimilarPI) != nil {
		d.SimilarPI = nil
		bad = append(bad, ListFieldError{"similar_pi", "an array of strings"})
	}
	if present(f.Similar) {
		var entries []storedEntry
		if json.Unmarshal(f.Similar, &entries) != nil {
			bad = append(bad, ListFieldError{"similar", "an array of {pi, similarity}"})
		} else {
			d.Similar = listEntries(entries)
		}
	}
	if present(f.GroupID) && json.Unmarshal(f.GroupID, &d.GroupID) != nil {
		d.GroupID = ""
		bad = append(bad, ListFieldError{"group_id", "a string"})
	}
	if present(f.GroupSize) {
		// Read as a number, not an int: a value re-rendered by
		// Elasticsearch (3.0) still counts, a fraction does not.
		var size float64
		if json.Unmarshal(f.GroupSize, &size) != nil || size != float64(int(size)) {
			bad = append(bad, ListFieldError{"group_size", "an integer"})
		} else {
			d.GroupSize = int(size)
		}
	}
	if len(bad) > 0 {
		return d, bad
	}
	return d, nil
}

// present reports whether a raw field was there and not null.
func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// listEntries converts decoded entries (nil stays nil).
func listEntries(entries []storedEntry) []ListEntry {
	if entries == nil {
		return nil
	}
	out := make([]ListEntry, len(entries))
	for i, e := range entries {
		out[i] = ListEntry{PI: e.PI, Similarity: e.Similarity.f64, Scored: e.Similarity.ok, sim32: e.Similarity.f32}
	}
	return out
}

// storedEntry is one element of a stored similar list.
type storedEntry struct {
	PI         string      `json:"pi"`
	Similarity storedScore `json:"similarity"`
}

// storedScore is a similarity parsed from its text at both precisions its
// readers keep: float64 (serve, verify) and float32 (the neighbors package;
// a float64 rounded again to float32 could differ in the last bit).
type storedScore struct {
	f64 float64
	f32 float32
	ok  bool
}

var errNotNumber = errors.New("similarity is not a number")

// UnmarshalJSON takes a JSON number; null leaves the score absent.
func (s *storedScore) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errNotNumber
	}
	f64, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("similarity %s: %w", b, err)
	}
	// Out of float32's range it is ±Inf, as the float64 is kept.
	f32, _ := strconv.ParseFloat(string(b), 32)
	*s = storedScore{f64: f64, f32: float32(f32), ok: true}
	return nil
}
