// Package neighbors computes every item's K most similar items by cosine
// similarity over a row-major float32 matrix of unit vectors, exactly or with
// an angular random-projection forest, and updates that graph incrementally.
//
// Exact mode is blocked brute force: each pair is scored once by a 4×3
// register-blocked dot-product kernel (AVX2+FMA assembly on amd64, pure Go
// elsewhere) and offered to both items' top-K lists.
//
// Approximate mode seeds every item's list from the leaves it shares in
// several angular trees (two-means hyperplane splits, Annoy style, built on a
// 64-d random-projection sketch; leaves grow with the number of items so a
// tree's depth, and the share of true neighbours it finds, do not), then refines the lists with NN-descent
// rounds: the neighbours and reverse neighbours of an item are scored against
// each other, since a neighbour of a neighbour is likely a neighbour. Every
// candidate is scored on the full vectors, so the final ranking is exact over
// the candidates. Wide rows (more than 256 dimensions) are first searched in
// their 128-d principal subspace, where a pair costs a tenth, and the lists
// are then re-scored on the full vectors; only if the recall is still short
// does the descent continue on the full vectors. Effort rises (rounds, then
// longer working lists, then more trees) until the recall@K measured against
// brute force on a random sample of items meets Options.Recall. Results are
// deterministic for a seed, whatever the number of workers.
//
// Graph.Update adds and removes items and reports every item whose list
// changed (reverse neighbours included); in exact mode the result equals a
// rebuild.
package neighbors
