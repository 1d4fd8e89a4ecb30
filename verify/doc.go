// Package verify audits a live essync index against its catalog: it reads
// every document once through a point in time, checks each one on its own
// (vector, model, list shape), then checks what needs them all (lists that name
// missing products, list lengths, offer groups, catalog coverage) and the
// quality of the lists: recall@K against the exact top-K on a random sample,
// computed from the stored vectors. It reports findings as plain values, a
// kind and the product ids concerned, so the CLI can print them and tests can
// assert them.
//
// Memory: one contiguous float32 matrix of the stored vectors (pre-sized from
// the document count, so it holds 1× the raw vectors), plus a few small
// values per document (interned list ids, lengths, group) — not the documents.
package verify
