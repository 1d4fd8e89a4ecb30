package pipeline

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/essync/essync/neighbors"
)

// Document is the essync part of a product document; catalog fields are
// carried next to it unchanged.
type Document struct {
	ProductID   string
	ImageName   string
	ImageSHA256 string
	Vector      []float32
	Similar     []neighbors.Neighbor
	Model       string
	SyncedAt    string // RFC 3339, UTC
}

// reservedFields are the names essync writes; a catalog field of the same
// name is overwritten (and reported once per run).
var reservedFields = []string{"product_id", "image_name", "image_sha256", "image_vector", "similar_pi", "similar", "model", "synced_at"}

// similarEntry is one element of the "similar" field.
type similarEntry struct {
	PI         string  `json:"pi"`
	Similarity float32 `json:"similarity"`
}

// encodeDocument renders the JSON document: catalog fields first (unchanged
// raw JSON), then the essync fields. Keys are sorted so the same input always
// gives the same bytes, which lets incremental runs compare documents.
func encodeDocument(fields map[string]json.RawMessage, d Document) ([]byte, error) {
	out := make(map[string]json.RawMessage, len(fields)+len(reservedFields))
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
		buf = strconv.AppendQuote(buf, k)
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
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	pis := make([]string, len(d.Similar))
	sim := make([]similarEntry, len(d.Similar))
	for i, n := range d.Similar {
		pis[i] = n.ID
		sim[i] = similarEntry{PI: n.ID, Similarity: n.Similarity}
	}
	pisJSON, _ := json.Marshal(pis)
	simJSON, _ := json.Marshal(sim)
	return map[string]json.RawMessage{
		"product_id":   str(d.ProductID),
		"image_name":   str(d.ImageName),
		"image_sha256": str(d.ImageSHA256),
		"image_vector": encodeVector(d.Vector),
		"similar_pi":   pisJSON,
		"similar":      simJSON,
		"model":        str(d.Model),
		"synced_at":    str(d.SyncedAt),
	}
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

// collidingFields lists catalog fields that essync overwrites.
func collidingFields(fields map[string]json.RawMessage) []string {
	var out []string
	for _, k := range reservedFields {
		if _, ok := fields[k]; ok {
			out = append(out, k)
		}
	}
	return out
}
