package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/internal/jsonstr"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
)

// Digests let an incremental run tell which documents changed without the
// stored _source: the same digest is computed from a document read back from
// the index and from the one this run would write. Values are compared
// decoded, not as text, since Elasticsearch re-renders numbers after a
// partial update (5.054619E-4 for 0.0005054619); the vector is not part of
// them (the plan knows which vectors changed).

func sum(h hash.Hash) digest {
	var d digest
	copy(d[:], h.Sum(nil))
	return d
}

func writeField(h hash.Hash, key string, value []byte) {
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write(value)
	h.Write([]byte{0})
}

// canonical renders a JSON value so that equal values give equal bytes.
// Values already in that form (most catalog values: short ASCII strings,
// integers, literals) are returned as they are, without a decode and
// encode each: the documents stage digests every product on every run.
func canonical(raw json.RawMessage) []byte {
	if isCanonical(raw) {
		return raw
	}
	return reencoded(raw)
}

// isCanonical tells whether raw is a value encoding/json would write back
// byte for byte after decoding it into an any: true, false, null, an ASCII
// string with nothing to escape (jsonstr.Plain), or an integer of at most
// 15 digits (exact in a float64, written without an exponent).
func isCanonical(raw []byte) bool {
	switch s := string(raw); {
	case s == "true" || s == "false" || s == "null" || s == "0":
		return true
	case len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"':
		return jsonstr.Plain(raw[1 : len(raw)-1])
	}
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 || digits[0] == '0' {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// reencoded is canonical's general case: decoded into an any and encoded
// again.
func reencoded(raw json.RawMessage) []byte {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

// baseDigest covers what only a full write changes: the catalog fields
// (every top-level field essync does not own), product_id, image_name and
// essync's model and image_sha256.
func baseDigest(fields map[string]json.RawMessage, productID, imageName, model, sha string) digest {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if slices.Contains(mappings.ReservedFields, k) {
			continue
		}
		writeField(h, k, canonical(fields[k]))
	}
	for _, kv := range [][2]string{{"product_id", productID}, {"image_name", imageName}, {"essync.model", model}, {"essync.image_sha256", sha}} {
		writeField(h, "\x01"+kv[0], []byte(kv[1]))
	}
	return sum(h)
}

// listsDigest covers what a list document holds: similar_pi, similar and
// (schema 4) the offer group, group_id and group_size. A new group size
// therefore rewrites the list document only.
func listsDigest(pis []string, similar []neighbors.Neighbor, groupID string, groupSize int) digest {
	h := sha256.New()
	var b [4]byte
	for _, pi := range pis {
		writeField(h, "pi", []byte(pi))
	}
	for _, n := range similar {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(n.Similarity))
		writeField(h, n.ID, b[:])
	}
	writeField(h, "\x01group", []byte(groupID))
	writeField(h, "\x01size", []byte(strconv.Itoa(groupSize)))
	return sum(h)
}

// freshListsDigest is listsDigest of the list document a product is
// written with.
func freshListsDigest(similar []neighbors.Neighbor, groupID string, groupSize int) digest {
	pis := make([]string, len(similar))
	for i, n := range similar {
		pis[i] = n.ID
	}
	return listsDigest(pis, similar, groupID, groupSize)
}

// groupDigest covers what the product document holds of its offer group:
// group_id only (its size is in the list document).
func groupDigest(id string) digest {
	h := sha256.New()
	writeField(h, "group_id", []byte(id))
	return sum(h)
}

// storedDocument is a product document read back from the index, decoded
// into what the snapshot keeps (its list is in the similar index).
type storedDocument struct {
	Record record
	Vector []float32
}

// listSource is a list document read back from the similar index.
type listSource struct {
	PIs       []string
	Similar   []neighbors.Neighbor
	GroupID   string
	GroupSize int
}

// digest is the list document's listsDigest.
func (l listSource) digest() digest {
	return listsDigest(l.PIs, l.Similar, l.GroupID, l.GroupSize)
}

// decodeList decodes one list document's _source from the similar index
// with esindex.DecodeList, the one decoder of that shape.
func decodeList(id string, source []byte) (listSource, error) {
	l, err := esindex.DecodeList(source)
	if err != nil {
		return listSource{}, fmt.Errorf("list document %s: %w", id, err)
	}
	return listSource{PIs: l.SimilarPI, Similar: l.Neighbors(), GroupID: l.GroupID, GroupSize: l.GroupSize}, nil
}

// decodeStored decodes one product document's _source: the vector (dims
// long), and the digests of the rest. Its Lists digest stays zero until the
// list document is read (readLists).
func decodeStored(id string, source []byte, dims int) (storedDocument, error) {
	var src map[string]json.RawMessage
	if err := json.Unmarshal(source, &src); err != nil {
		return storedDocument{}, fmt.Errorf("document %s: %w", id, err)
	}
	var doc struct {
		ProductID string      `json:"product_id"`
		ImageName string      `json:"image_name"`
		Vector    []float32   `json:"image_vector"`
		GroupID   string      `json:"group_id"`
		Essync    bookkeeping `json:"essync"`
	}
	if err := json.Unmarshal(source, &doc); err != nil {
		return storedDocument{}, fmt.Errorf("document %s: %w", id, err)
	}
	// image_sha256 may be empty: runs on precomputed vectors without
	// their images leave it so, and compare the vectors instead.
	if len(doc.Vector) != dims || doc.Essync.Model == "" {
		return storedDocument{}, fmt.Errorf("document %s has no essync vector of %d dims or no essync.model: %w to rebuild the index", id, dims, ErrNeedsFull)
	}
	return storedDocument{
		Record: record{
			SHA256: doc.Essync.ImageSHA256,
			Base:   baseDigest(src, doc.ProductID, doc.ImageName, doc.Essync.Model, doc.Essync.ImageSHA256),
			Group:  groupDigest(doc.GroupID),
		},
		Vector: doc.Vector,
	}, nil
}
