package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/essync/essync/esindex"
)

// source is a document's _source as verify reads it: every field raw, so a
// field of an unexpected type is reported, not a reason to drop the document.
// The list document's fields (a product document of schema 3 carried its
// list too) are esindex's, decoded by its one list decoder.
type source struct {
	esindex.ListFields
	ImageName   json.RawMessage `json:"image_name"`
	Vector      json.RawMessage `json:"image_vector"`
	Essync      json.RawMessage `json:"essync"`
	Model       json.RawMessage `json:"model"`
	ImageSHA256 json.RawMessage `json:"image_sha256"`
	SyncedAt    json.RawMessage `json:"synced_at"`
}

// Bookkeeping is essync's per-document record: {model, image_sha256,
// synced_at}.
type Bookkeeping struct {
	Model       string `json:"model"`
	ImageSHA256 string `json:"image_sha256"`
	SyncedAt    string `json:"synced_at"`
}

// readBookkeeping is the one accessor of a document's bookkeeping. Schema 2
// keeps it under "essync"; schema 1 wrote the same names at the top level.
// When the "essync" object is present only it counts (a catalog field called
// "model" must not pass for essync's); otherwise the top-level fields are read.
func readBookkeeping(s *source) (Bookkeeping, error) {
	var b Bookkeeping
	if present(s.Essync) {
		if err := json.Unmarshal(s.Essync, &b); err != nil {
			return b, fmt.Errorf("essync: %w", err)
		}
		return b, nil
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{{"model", s.Model, &b.Model}, {"image_sha256", s.ImageSHA256, &b.ImageSHA256}, {"synced_at", s.SyncedAt, &b.SyncedAt}} {
		if present(f.raw) {
			if err := json.Unmarshal(f.raw, f.dst); err != nil {
				return b, fmt.Errorf("%s: %w", f.name, err)
			}
		}
	}
	return b, nil
}

// present reports whether a raw field was there and not null.
func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// entry is one element of a stored neighbour list.
type entry struct {
	ID         string
	Similarity float64 // NaN when the list has no scores (similar_pi only)
}

// docState is what one document contributes to the audit: the findings it
// has on its own, and the little the cross-document checks need.
type docState struct {
	ID        string
	ImageName string
	SHA256    string
	Vector    []float32 // nil unless it has the index's dims and unit length
	List      []entry
	HasList   bool // the document had similar or similar_pi
	GroupID   string
	GroupSize int // -1 when absent
	HasGroup  bool
	Findings  []Finding
}

// expect is what every document should agree with.
type expect struct {
	Dims          int     // vector length; 0 = unknown (no check)
	Model         string  // the index's model fingerprint; "" = no check
	NormTolerance float64 // allowed |‖v‖ − 1|
}

// inspect decodes one document and checks it on its own: product id, model,
// vector, and the shape of its lists (self, duplicates, order, score range,
// similar vs similar_pi). It never fails: problems become findings.
func inspect(id string, raw []byte, exp expect) docState {
	d := docState{ID: id, GroupSize: -1}
	add := func(k Kind, detail string, ids ...string) {
		d.Findings = append(d.Findings, Finding{Kind: k, IDs: append([]string{id}, ids...), Detail: detail})
	}
	var s source
	if err := json.Unmarshal(raw, &s); err != nil {
		add(KindDocumentUnreadable, fmt.Sprintf("_source is not a JSON object: %v", err))
		return d
	}
	l, bad := decodeList(&s)
	if e, ok := bad.Field("product_id"); ok {
		add(KindDocumentUnreadable, e.Error())
	} else if l.ProductID != id {
		add(KindProductID, fmt.Sprintf("product_id is %q, the document _id is %q", l.ProductID, id))
	}
	if present(s.ImageName) && json.Unmarshal(s.ImageName, &d.ImageName) != nil {
		add(KindDocumentUnreadable, "image_name is not a string")
	}
	b, err := readBookkeeping(&s)
	if err != nil {
		add(KindDocumentUnreadable, fmt.Sprintf("bookkeeping %v", err))
	}
	d.SHA256 = b.ImageSHA256
	if exp.Model != "" && b.Model != exp.Model {
		add(KindModel, fmt.Sprintf("document model %q, the index's model is %q: run essync full", b.Model, exp.Model))
	}
	d.Vector = checkVector(s.Vector, exp, add)
	d.List, d.HasList = checkLists(id, &s, l, bad, add), present(s.Similar) || present(s.SimilarPI)
	// Schema 4 keeps group_size in the list document; a product document
	// of schema 3 carries both (auditor.checkGroups takes the list's first).
	d.GroupID, d.GroupSize, d.HasGroup = readGroup(&s, l, bad, false, add)
	return d
}

// inspectList decodes one list document of the similar index and checks it
// on its own: product id, the shape of its lists, and its offer group
// (schema 4: group_id and group_size, both or neither).
func inspectList(id string, raw []byte) docState {
	d := docState{ID: id, GroupSize: -1, HasList: true}
	add := func(k Kind, detail string, ids ...string) {
		d.Findings = append(d.Findings, Finding{Kind: k, IDs: append([]string{id}, ids...), Detail: detail})
	}
	var s source
	if err := json.Unmarshal(raw, &s); err != nil {
		add(KindDocumentUnreadable, fmt.Sprintf("list document _source is not a JSON object: %v", err))
		return d
	}
	l, bad := decodeList(&s)
	if e, ok := bad.Field("product_id"); ok {
		add(KindDocumentUnreadable, "list document "+e.Error())
	} else if l.ProductID != id {
		add(KindProductID, fmt.Sprintf("list document product_id is %q, its _id is %q", l.ProductID, id))
	}
	d.List = checkLists(id, &s, l, bad, add)
	d.GroupID, d.GroupSize, d.HasGroup = readGroup(&s, l, bad, true, add)
	return d
}

// decodeList decodes the list fields of s with esindex's list decoder:
// what is readable, and the fields that are not of their type (each
// becomes a finding where its check stands).
func decodeList(s *source) (esindex.ListDocument, esindex.BadListFields) {
	l, err := s.ListFields.Decode()
	var bad esindex.BadListFields
	errors.As(err, &bad)
	return l, bad
}

// checkVector returns the vector when it can take part in the recall check.
func checkVector(raw json.RawMessage, exp expect, add func(Kind, string, ...string)) []float32 {
	if !present(raw) {
		add(KindVectorMissing, "no image_vector: the product cannot be found by photo; run essync full")
		return nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		add(KindVectorMissing, fmt.Sprintf("image_vector is not an array of numbers: %v", err))
		return nil
	}
	if len(v) == 0 {
		add(KindVectorMissing, "image_vector is empty")
		return nil
	}
	if exp.Dims > 0 && len(v) != exp.Dims {
		add(KindVectorDims, fmt.Sprintf("image_vector has %d dims, the index has %d", len(v), exp.Dims))
		return nil
	}
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	norm := math.Sqrt(sum)
	tol := exp.NormTolerance
	if tol <= 0 {
		tol = DefaultNormTolerance
	}
	if !(math.Abs(norm-1) <= tol) {
		add(KindVectorNorm, fmt.Sprintf("image_vector has length %.6g, want 1 (unit vectors make dot_product equal cosine)", norm))
		return nil // its dot products are not cosines: keep it out of the recall check
	}
	return v
}

// checkLists checks similar and similar_pi and returns the list to audit:
// similar (with scores) when present, else similar_pi.
func checkLists(id string, s *source, l esindex.ListDocument, bad esindex.BadListFields, add func(Kind, string, ...string)) []entry {
	pis, sim := l.SimilarPI, l.Similar
	for _, field := range []string{"similar_pi", "similar"} {
		if e, ok := bad.Field(field); ok {
			add(KindDocumentUnreadable, e.Error())
		}
	}
	var list []entry
	if present(s.Similar) {
		list = make([]entry, len(sim))
		for i, e := range sim {
			list[i] = entry{ID: e.PI, Similarity: math.NaN()}
			if e.Scored {
				list[i].Similarity = e.Similarity
			}
		}
	} else {
		list = make([]entry, len(pis))
		for i, pi := range pis {
			list[i] = entry{ID: pi, Similarity: math.NaN()}
		}
	}
	if present(s.Similar) || present(s.SimilarPI) {
		for i := 0; i < max(len(sim), len(pis)); i++ {
			if i >= len(sim) || i >= len(pis) || sim[i].PI != pis[i] {
				add(KindListsDisagree, fmt.Sprintf("similar has %d entries, similar_pi %d; they first differ at position %d", len(sim), len(pis), i+1))
				break
			}
		}
	}
	seen := make(map[string]bool, len(list))
	for i, e := range list {
		switch {
		case e.ID == id:
			add(KindListSelf, fmt.Sprintf("the list names the product itself at position %d", i+1))
		case seen[e.ID]:
			add(KindListDuplicate, fmt.Sprintf("the list names %q twice (again at position %d)", e.ID, i+1), e.ID)
		}
		seen[e.ID] = true
		if present(s.Similar) && !(e.Similarity >= -1 && e.Similarity <= 1) {
			add(KindListScoreRange, fmt.Sprintf("similarity of %q is %v, outside [-1, 1]", e.ID, e.Similarity), e.ID)
		}
	}
	for i := 1; i < len(list); i++ {
		if list[i].Similarity > list[i-1].Similarity {
			add(KindListUnsorted, fmt.Sprintf("position %d (%q, %v) scores higher than position %d (%q, %v)",
				i+1, list[i].ID, list[i].Similarity, i, list[i-1].ID, list[i-1].Similarity), list[i-1].ID, list[i].ID)
			break
		}
	}
	return list
}

// readGroup reads the offer group fields, if any. With pair, group_id and
// group_size must come together (a list document); without, group_id may
// stand alone (a product document of schema 4) but group_size may not.
func readGroup(s *source, l esindex.ListDocument, bad esindex.BadListFields, pair bool, add func(Kind, string, ...string)) (id string, size int, has bool) {
	size = -1
	hasID, hasSize := present(s.GroupID), present(s.GroupSize)
	if !hasID && !hasSize {
		return "", -1, false
	}
	id = l.GroupID
	if e, ok := bad.Field("group_id"); ok {
		add(KindDocumentUnreadable, e.Error())
	}
	if hasSize {
		if e, ok := bad.Field("group_size"); ok {
			add(KindDocumentUnreadable, e.Error())
		} else {
			size = l.GroupSize
		}
	}
	if hasID != hasSize && (pair || !hasID) {
		add(KindGroup, fmt.Sprintf("group_id %q and group_size %d: one of the pair is missing", id, size))
	}
	return id, size, true
}
