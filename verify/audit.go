package verify

import (
	"fmt"
	"slices"
	"sort"
)

// auditor accumulates what the cross-document checks need, one document at a
// time, in little memory: product ids are interned once and lists are kept as
// int32 name indices; vectors go into one contiguous matrix.
type auditor struct {
	dims int

	names  []string         // interned product ids (documents and list entries)
	nameOf map[string]int32 // id → index in names
	docOf  []int32          // name index → document index, -1 if no document
	// listSpan is, by name index, where that product's list sits in lists
	// (lo -1: none read). Lists come from the similar index, in another
	// order than the documents, or (schema 2) from the documents themselves.
	listSpan []span
	// listGroup and listGroupSize are, by name index, the offer group its
	// list document carries (schema 4): an index in groupNames (-1: none)
	// and the size (-1: none).
	listGroup     []int32
	listGroupSize []int32

	// Per document, by document index.
	docName   []int32
	imageName []string
	sha256    []string // only with --hash
	row       []int32  // matrix row, -1 without a usable vector
	lists     []int32  // name indices; the list of name n is lists[listSpan[n].lo:listSpan[n].hi]
	scores    []float32
	group     []int32 // index in groups, -1 without group fields
	groupSize []int32

	groupNames []string
	groupOf    map[string]int32

	matrix  []float32 // rows × dims
	rowDoc  []int32   // matrix row → document index
	keepSHA bool

	findings []Finding
}

// span is a range of auditor.lists.
type span struct{ lo, hi int32 }

func newAuditor(dims, expectDocs int, keepSHA bool) *auditor {
	a := &auditor{
		dims: dims, nameOf: make(map[string]int32, expectDocs), groupOf: map[string]int32{}, keepSHA: keepSHA,
		matrix: make([]float32, 0, max(0, expectDocs)*max(dims, 0)),
	}
	return a
}

func (a *auditor) intern(id string) int32 {
	if i, ok := a.nameOf[id]; ok {
		return i
	}
	i := int32(len(a.names))
	a.names = append(a.names, id)
	a.nameOf[id] = i
	a.docOf = append(a.docOf, -1)
	a.listSpan = append(a.listSpan, span{-1, -1})
	a.listGroup = append(a.listGroup, -1)
	a.listGroupSize = append(a.listGroupSize, -1)
	return i
}

// groupIndex interns a group id.
func (a *auditor) groupIndex(id string) int32 {
	g, ok := a.groupOf[id]
	if !ok {
		g = int32(len(a.groupNames))
		a.groupNames = append(a.groupNames, id)
		a.groupOf[id] = g
	}
	return g
}

// addList records one inspected list document of the similar index.
func (a *auditor) addList(d docState) {
	a.findings = append(a.findings, d.Findings...)
	n := a.intern(d.ID)
	if a.listSpan[n].lo < 0 && d.HasGroup {
		a.listGroup[n], a.listGroupSize[n] = a.groupIndex(d.GroupID), int32(d.GroupSize)
	}
	a.setList(n, d)
}

func (a *auditor) setList(n int32, d docState) {
	if a.listSpan[n].lo >= 0 {
		a.findings = append(a.findings, Finding{Kind: KindAliasMultiple, IDs: []string{d.ID}, Detail: "the product has two lists (two list documents, or a list in its document and in the similar index)"})
		return
	}
	lo := int32(len(a.lists))
	for _, e := range d.List {
		a.lists = append(a.lists, a.intern(e.ID))
		a.scores = append(a.scores, float32(e.Similarity))
	}
	a.listSpan[n] = span{lo, int32(len(a.lists))}
}

// add records one inspected document.
func (a *auditor) add(d docState) {
	a.findings = append(a.findings, d.Findings...)
	n := a.intern(d.ID)
	doc := int32(len(a.docName))
	if a.docOf[n] >= 0 {
		// A PIT over an alias naming two indices can return an id twice.
		a.findings = append(a.findings, Finding{Kind: KindAliasMultiple, IDs: []string{d.ID}, Detail: "the document appears twice behind the alias"})
		return
	}
	a.docOf[n] = doc
	a.docName = append(a.docName, n)
	a.imageName = append(a.imageName, d.ImageName)
	if a.keepSHA {
		a.sha256 = append(a.sha256, d.SHA256)
	}
	r := int32(-1)
	if d.Vector != nil && a.dims == 0 {
		a.dims = len(d.Vector) // the index records no dims: the first vector sets them
	}
	if d.Vector != nil && len(d.Vector) != a.dims {
		a.report(KindVectorDims, fmt.Sprintf("image_vector has %d dims, other documents %d", len(d.Vector), a.dims), d.ID)
	} else if d.Vector != nil {
		r = int32(len(a.rowDoc))
		a.matrix = append(a.matrix, d.Vector...)
		a.rowDoc = append(a.rowDoc, doc)
	}
	a.row = append(a.row, r)
	if d.HasList { // an index of schema 2 keeps the list in the document
		a.setList(n, d)
	}
	g := int32(-1)
	if d.HasGroup {
		g = a.groupIndex(d.GroupID)
	}
	a.group = append(a.group, g)
	a.groupSize = append(a.groupSize, int32(d.GroupSize))
}

func (a *auditor) docs() int { return len(a.docName) }

// list is document doc's list (nil when none was read).
func (a *auditor) list(doc int) (names []int32, scores []float32) {
	sp := a.listSpan[a.docName[doc]]
	if sp.lo < 0 {
		return nil, nil
	}
	return a.lists[sp.lo:sp.hi], a.scores[sp.lo:sp.hi]
}

func (a *auditor) id(doc int) string { return a.names[a.docName[doc]] }

func (a *auditor) report(k Kind, detail string, ids ...string) {
	a.findings = append(a.findings, Finding{Kind: k, IDs: ids, Detail: detail})
}

// checkLists finds products without a list, lists without a product,
// entries naming products without a document, and lists of the wrong
// length: min(k, N−1) entries are expected, N the documents read.
func (a *auditor) checkLists(k int) {
	want := min(k, a.docs()-1)
	for n, sp := range a.listSpan {
		if sp.lo >= 0 && a.docOf[n] < 0 {
			a.report(KindListOrphan, "a list document without its product document: run essync incremental to delete it", a.names[n])
		}
	}
	for doc := range a.docs() {
		if a.listSpan[a.docName[doc]].lo < 0 {
			a.report(KindListMissing, "no list of similar products: run essync incremental to write it", a.id(doc))
			continue
		}
		names, _ := a.list(doc)
		for _, n := range names {
			if a.docOf[n] < 0 {
				a.report(KindListDangling, fmt.Sprintf("the list names %q, which has no document", a.names[n]), a.id(doc), a.names[n])
			}
		}
		switch {
		case len(names) < want:
			a.report(KindListShort, fmt.Sprintf("%d similar products, want %d (min(K=%d, N−1=%d))", len(names), want, k, a.docs()-1), a.id(doc))
		case len(names) > k:
			a.report(KindListLong, fmt.Sprintf("%d similar products, K is %d", len(names), k), a.id(doc))
		}
	}
}

// CatalogProduct is what verify needs of a catalog row.
type CatalogProduct struct {
	ID        string
	ImageName string
	ImagePath string
}

// checkCatalog compares the documents with the catalog, both ways, and the
// image names. It returns, by document index, the catalog row of each
// document (-1 if none), for the hash check.
func (a *auditor) checkCatalog(products []CatalogProduct) []int {
	inCatalog := make([]int, a.docs())
	for i := range inCatalog {
		inCatalog[i] = -1
	}
	for p, prod := range products {
		n, ok := a.nameOf[prod.ID]
		if !ok || a.docOf[n] < 0 {
			a.report(KindMissingFromIndex, "in the catalog, not in the index: run essync incremental or full (or see the last run report for why it was skipped)", prod.ID)
			continue
		}
		doc := a.docOf[n]
		inCatalog[doc] = p
		if a.imageName[doc] != prod.ImageName {
			a.report(KindImageName, fmt.Sprintf("the document's image_name is %q, the catalog's %q", a.imageName[doc], prod.ImageName), prod.ID)
		}
	}
	for doc, p := range inCatalog {
		if p < 0 {
			a.report(KindNotInCatalog, "in the index, not in the catalog: run essync incremental to delete it", a.id(doc))
		}
	}
	return inCatalog
}

// checkGroups finds offer groups whose members disagree. A group is the
// documents with its group_id (the product index's field, which the shop
// filters on); each member's group_size is its list document's (schema 4),
// or its own for an index of schema 3. Every member must carry the same
// size, equal to the number of members, and a list document's copy of
// group_id must be its product's.
func (a *auditor) checkGroups() {
	members := make([][]int, len(a.groupNames))
	size := make([]int32, a.docs())
	for doc, g := range a.group {
		n := a.docName[doc]
		lg := a.listGroup[n]
		size[doc] = a.groupSize[doc]
		if lg >= 0 {
			size[doc] = a.listGroupSize[n]
			if lg != g {
				product := "none"
				if g >= 0 {
					product = fmt.Sprintf("%q", a.groupNames[g])
				}
				a.report(KindListGroup, fmt.Sprintf("the list document says group_id %q, the product document %s: run essync incremental to rewrite it", a.groupNames[lg], product), a.id(doc))
			}
		}
		if g < 0 {
			continue
		}
		members[g] = append(members[g], doc)
		if size[doc] < 0 && lg < 0 && a.listSpan[n].lo >= 0 {
			a.report(KindGroup, fmt.Sprintf("group_id %q but no group_size: schema 4 keeps it in the list document; run essync incremental to rewrite it", a.groupNames[g]), a.id(doc))
		}
	}
	for g, docs := range members {
		if len(docs) == 0 {
			continue
		}
		sizes := map[int32]int{}
		var ids []string
		for _, doc := range docs {
			if size[doc] >= 0 { // a missing size is reported where it is found
				sizes[size[doc]]++
			}
			ids = append(ids, a.id(doc))
		}
		sort.Strings(ids)
		if len(sizes) > 1 {
			a.report(KindGroup, fmt.Sprintf("members of group %q disagree on group_size: %s", a.groupNames[g], sizeCounts(sizes)), ids...)
			continue
		}
		for sz := range sizes {
			if int(sz) != len(docs) {
				a.report(KindGroup, fmt.Sprintf("group %q says group_size %d but %d documents carry its group_id", a.groupNames[g], sz, len(docs)), ids...)
			}
		}
	}
}

func sizeCounts(m map[int32]int) string {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d member(s) say %d", m[k], k)
	}
	return s
}

// dot64 is the float64 dot product of two matrix rows.
func (a *auditor) dot64(r1, r2 int32) float64 {
	x := a.matrix[int(r1)*a.dims : int(r1+1)*a.dims]
	y := a.matrix[int(r2)*a.dims : int(r2+1)*a.dims]
	var s float64
	for i, v := range x {
		s += float64(v) * float64(y[i])
	}
	return s
}
