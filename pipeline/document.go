package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/internal/jsonstr"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
)

// Document is the essync part of a product document; catalog fields are
// carried next to it unchanged. Its similar list and its offer group's size
// are not part of it: they go to the product's list document in the
// similar index (listDocument), so a regrouping does not re-index the vector.
type Document struct {
	ProductID   string
	ImageName   string
	ImageSHA256 string
	Vector      []float32
	GroupID     string // offer group (see package groups); its size is in the list document
	Model       string
	SyncedAt    string // RFC 3339, UTC
}

// bookkeeping is essync's own record in a document, kept under one object
// field ("essync") apart from the catalog's fields.
type bookkeeping struct {
	Model       string `json:"model"`
	ImageSHA256 string `json:"image_sha256"`
	SyncedAt    string `json:"synced_at"`
}

// encodeDocument renders the JSON document: catalog fields first (unchanged
// raw JSON), then the essync fields. Keys are sorted so the same input always
// gives the same bytes, which lets incremental runs compare documents.
func encodeDocument(fields map[string]json.RawMessage, d Document) ([]byte, error) {
	out := make(map[string]json.RawMessage, len(fields)+8)
	maps.Copy(out, fields)
	for k, v := range essyncFields(d) {
		out[k] = v
	}
	keys := slices.Sorted(maps.Keys(out))
	buf := make([]byte, 0, 64+len(d.Vector)*12)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jsonstr.Append(buf, k) // json.Marshal's quoting, without its allocation a key
		buf = append(buf, ':')
		buf = append(buf, out[k]...)
	}
	buf = append(buf, '}')
	if !json.Valid(buf) {
		return nil, fmt.Errorf("document %s: catalog fields do not form valid JSON", d.ProductID)
	}
	return buf, nil
}

// essyncFields renders the fields essync owns.
func essyncFields(d Document) map[string]json.RawMessage {
	str := func(s string) json.RawMessage { return jsonstr.Append(make([]byte, 0, len(s)+2), s) }
	book, _ := json.Marshal(bookkeeping{Model: d.Model, ImageSHA256: d.ImageSHA256, SyncedAt: d.SyncedAt})
	return map[string]json.RawMessage{
		"product_id":   str(d.ProductID),
		"image_name":   str(d.ImageName),
		"image_vector": encodeVector(d.Vector),
		"group_id":     str(d.GroupID),
		"essync":       book,
	}
}

// listDocument is the product's list document for the similar index named
// lists, with its offer group (groupID, groupSize); its op carries that
// name, which also tells an offline run's file writer to put it in the
// lists file.
func listDocument(id string, similar []neighbors.Neighbor, groupID string, groupSize int, lists string) esindex.Op {
	op := esindex.SimilarDocument(id, similar, groupID, groupSize)
	op.Index = lists
	return op
}

// encodeVector writes float32s in their shortest form that parses back to the
// same float32, so vectors read back from the index are bit-identical.
func encodeVector(v []float32) json.RawMessage {
	b := make([]byte, 0, len(v)*12+2)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return append(b, ']')
}

// ErrFieldCollision is returned (wrapped) when catalog fields carry names
// essync writes at the top level of a document; the run refuses the catalog
// rather than overwrite the shop's data.
var ErrFieldCollision = errors.New("catalog fields collide with fields essync writes")

// applyRenames renames catalog fields (old → new) in every product, then
// refuses the catalog if a field still collides with a name essync writes.
// The id and image fields may carry essync's own names for them
// (product_id, image_name): the values are the same.
func applyRenames(products []catalog.Product, renames map[string]string, opts catalog.Options) error {
	collide := map[string]int{}
	var quoted [][]byte // a record whose text names none of these (quoted, unescaped) cannot rename or collide
	for _, name := range append(slices.Collect(maps.Keys(renames)), mappings.ReservedFields...) {
		quoted = append(quoted, []byte(`"`+name+`"`)) // as compacted text holds it unless escaped
	}
	for i, p := range products {
		if p.Fields == nil && p.Record != nil && !mayName(p.Record, quoted) {
			continue
		}
		fields := productFields(p) // a record (RecordsOnly) is parsed for the check only
		renamed := false
		for old, nu := range renames {
			if v, ok := fields[old]; ok {
				if _, taken := fields[nu]; taken {
					return fmt.Errorf("--rename %s=%s: product %s (row %d) already has a field %s: %w", old, nu, p.ID, p.Row, nu, ErrUsage)
				}
				fields[nu] = v
				delete(fields, old)
				renamed = true
			}
		}
		if renamed && p.Fields == nil && p.Record != nil {
			record, err := catalog.NewRecord(fields)
			if err != nil {
				return fmt.Errorf("--rename: product %s (row %d): %w", p.ID, p.Row, err)
			}
			products[i].Record = record
		}
		for _, name := range mappings.ReservedFields {
			if _, ok := fields[name]; ok && !ownName(name, opts) {
				collide[name]++
			}
		}
	}
	if len(collide) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(collide))
	var parts, hints []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s (%d products)", n, collide[n]))
		hints = append(hints, "--rename "+n+"=catalog_"+n)
	}
	return fmt.Errorf("%w: %s; essync would overwrite them. Rename them, e.g. %s: %w",
		ErrFieldCollision, strings.Join(parts, ", "), strings.Join(hints, " "), ErrUsage)
}

// mayName tells whether record may have a field of one of the quoted
// names: it does when the text holds one, or any escape (a key written
// with escapes is only known once parsed).
func mayName(record catalog.Record, quoted [][]byte) bool {
	if bytes.IndexByte(record, '\\') >= 0 {
		return true
	}
	for _, q := range quoted {
		if bytes.Contains(record, q) {
			return true
		}
	}
	return false
}

// ownName reports whether a catalog field called name is the id or image
// field essync writes under that same name anyway.
func ownName(name string, opts catalog.Options) bool {
	id, image := opts.IDField, opts.ImageField
	if id == "" {
		id = catalog.DefaultIDField
	}
	if image == "" {
		image = catalog.DefaultImageField
	}
	return (name == "product_id" && id == name) || (name == "image_name" && image == name)
}
