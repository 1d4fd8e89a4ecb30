package verify

import (
	"cmp"
	"slices"
	"strings"
)

// Kind classifies a finding, so scripts and tests can group findings without
// parsing their text.
type Kind string

// The kinds of finding, in the order reports list them.
const (
	// KindAliasMissing: the alias names no index (and no index has its name).
	KindAliasMissing Kind = "alias-missing"
	// KindNotAlias: the name is a concrete index, not an alias; readers of an
	// essync index query its alias.
	KindNotAlias Kind = "not-an-alias"
	// KindAliasMultiple: the alias names more than one index.
	KindAliasMultiple Kind = "alias-multiple"
	// KindNotEssync: the index has no _meta.essync: essync did not build it.
	KindNotEssync Kind = "not-essync"
	// KindIncomplete: _meta.essync.complete is not true (no full run finished it).
	KindIncomplete Kind = "index-incomplete"
	// KindPending: _meta.essync.incremental_pending is true: an incremental run
	// is writing, or died writing, so lists may be half-updated.
	KindPending Kind = "incremental-pending"
	// KindDocumentCount: the index holds another number of documents than
	// _meta.essync.documents recorded at the last verified write.
	KindDocumentCount Kind = "document-count"
	// KindIndexModel: the index's model is not the one --model names.
	KindIndexModel Kind = "index-model"
	// KindLeaseHeld: a run holds the alias's lease now (its writes may be in flight).
	KindLeaseHeld Kind = "lease-held"
	// KindLeaseStale: a lease expired without being released: a run died.
	KindLeaseStale Kind = "lease-stale"

	// KindMissingFromIndex: a catalog product has no document.
	KindMissingFromIndex Kind = "missing-from-index"
	// KindNotInCatalog: a document's product is not in the catalog.
	KindNotInCatalog Kind = "not-in-catalog"
	// KindImageName: the document's image_name is not the catalog's.
	KindImageName Kind = "image-name"
	// KindImageChanged: (--hash) the image file's sha256 is not the document's
	// essync.image_sha256: the image changed since the last sync.
	KindImageChanged Kind = "image-changed"
	// KindImageUnreadable: (--hash) the image file could not be read.
	KindImageUnreadable Kind = "image-unreadable"

	// KindDocumentUnreadable: the document's essync fields are not of the
	// expected JSON types.
	KindDocumentUnreadable Kind = "document-unreadable"
	// KindProductID: product_id differs from the document _id.
	KindProductID Kind = "product-id"
	// KindVectorMissing: no image_vector.
	KindVectorMissing Kind = "vector-missing"
	// KindVectorDims: image_vector has another length than the index's dims.
	KindVectorDims Kind = "vector-dims"
	// KindVectorNorm: image_vector's length is far from 1 (or not finite).
	KindVectorNorm Kind = "vector-norm"
	// KindModel: the document's essync.model is not the index's model.
	KindModel Kind = "model"

	// KindSimilarIndex: the similar index (alias <alias>-similar, where the
	// lists live since schema 3) is missing or is not the pair of the live
	// product index.
	KindSimilarIndex Kind = "similar-index"
	// KindListMissing: a product has no list document in the similar index.
	KindListMissing Kind = "list-missing"
	// KindListOrphan: a list document in the similar index has no product.
	KindListOrphan Kind = "list-orphan"
	// KindListSelf: a list names the product itself.
	KindListSelf Kind = "list-self"
	// KindListDangling: a list names a product that has no document.
	KindListDangling Kind = "list-dangling"
	// KindListDuplicate: a list names a product twice.
	KindListDuplicate Kind = "list-duplicate"
	// KindListUnsorted: similar is not sorted by similarity, highest first.
	KindListUnsorted Kind = "list-unsorted"
	// KindListScoreRange: a similarity outside [-1, 1] (or missing).
	KindListScoreRange Kind = "list-score-range"
	// KindListShort: a list shorter than min(K, N−1).
	KindListShort Kind = "list-short"
	// KindListLong: a list longer than K.
	KindListLong Kind = "list-long"
	// KindListsDisagree: similar and similar_pi name different products.
	KindListsDisagree Kind = "lists-disagree"
	// KindListScoreWrong: (sampled products) a stored similarity is not the
	// cosine of the stored vectors.
	KindListScoreWrong Kind = "list-score-wrong"
	// KindGroup: members of an offer group disagree on group_size, or it is
	// not their number, or it is missing.
	KindGroup Kind = "group"
	// KindListGroup: a list document's copy of group_id (schema 4) is not
	// its product document's group_id.
	KindListGroup Kind = "list-group"
	// KindRecall: the sample's recall@K against the exact top-K is below
	// --min-recall; the ids are the sampled products under it.
	KindRecall Kind = "recall"
)

var kindOrder = []Kind{
	KindAliasMissing, KindNotAlias, KindAliasMultiple, KindNotEssync, KindIncomplete, KindPending,
	KindDocumentCount, KindIndexModel, KindLeaseHeld, KindLeaseStale,
	KindMissingFromIndex, KindNotInCatalog, KindImageName, KindImageChanged, KindImageUnreadable,
	KindDocumentUnreadable, KindProductID, KindVectorMissing, KindVectorDims, KindVectorNorm, KindModel,
	KindSimilarIndex, KindListMissing, KindListOrphan, KindListSelf, KindListDangling, KindListDuplicate, KindListUnsorted, KindListScoreRange,
	KindListShort, KindListLong, KindListsDisagree, KindListScoreWrong, KindGroup, KindListGroup, KindRecall,
}

// Kinds returns every kind of finding in report order (for docs and help).
func Kinds() []Kind { return slices.Clone(kindOrder) }

// Finding is one thing wrong with the index.
type Finding struct {
	Kind Kind `json:"kind"`
	// IDs are the products concerned: first the document the finding is
	// about, then the products it names (a missing list entry, a duplicate,
	// the other members of a group). Empty for index-wide findings.
	IDs []string `json:"ids,omitempty"`
	// Detail says what was found and, where it helps, what to do.
	Detail string `json:"detail"`
}

// sortFindings orders findings by kind (kindOrder), then by ids, so reports
// are stable whatever order the documents were read in.
func sortFindings(fs []Finding) {
	rank := make(map[Kind]int, len(kindOrder))
	for i, k := range kindOrder {
		rank[k] = i
	}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := cmp.Compare(rank[a.Kind], rank[b.Kind]); c != 0 {
			return c
		}
		return strings.Compare(strings.Join(a.IDs, "\x00"), strings.Join(b.IDs, "\x00"))
	})
}
