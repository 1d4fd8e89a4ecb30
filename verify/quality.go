package verify

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/essync/essync/neighbors"
)

// Sample is the list-quality result: recall@K of the stored lists against the
// exact top-K over the stored vectors, on a random sample of products.
type Sample struct {
	Requested int     `json:"requested"`
	Size      int     `json:"size"` // products sampled (those with a usable vector)
	Seed      uint64  `json:"seed"`
	K         int     `json:"k"`      // min(K, vectors−1): the exact list length
	Recall    float64 `json:"recall"` // meaningful when Size > 0
	MinRecall float64 `json:"min_recall"`
}

// scoreTolerance is how far a stored similarity may be from the recomputed
// cosine: scores are truncated to 4 decimals (up to 1e-4 lower) and float32
// sums differ from float64 by far less.
const scoreTolerance = 1.5e-4

// tieTolerance is the score gap under which two candidates count as tied,
// so a stored list that picked the other one of a tie at the K-th place is
// not counted as a miss.
const tieTolerance = 1e-6

// recallSlack absorbs float rounding in the mean, so a recall equal to the
// minimum passes.
const recallSlack = 1e-9

// checkQuality samples up to n products with a usable vector (seeded; the
// sample depends only on the seed and the set of ids), computes their exact
// top-K over every stored vector, and reports the mean recall@K of their
// stored lists, plus every stored similarity that is not the vectors' cosine.
func (a *auditor) checkQuality(k, n int, seed uint64, minRecall float64, workers int) Sample {
	s := Sample{Requested: n, Seed: seed, MinRecall: minRecall}
	rows := len(a.rowDoc)
	s.K = min(k, rows-1)
	if n <= 0 || s.K <= 0 {
		return s
	}
	// Candidates in id order, so the sample does not depend on scan order.
	cands := make([]int32, rows)
	for r := range cands {
		cands[r] = int32(r)
	}
	slices.SortFunc(cands, func(x, y int32) int { return strings.Compare(a.id(int(a.rowDoc[x])), a.id(int(a.rowDoc[y]))) })
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for i := range min(n, rows) {
		j := i + rng.IntN(rows-i)
		cands[i], cands[j] = cands[j], cands[i]
	}
	sample := cands[:min(n, rows)]
	s.Size = len(sample)
	queries := make([]int, len(sample))
	for i, r := range sample {
		queries[i] = int(r)
	}
	ids := make([]string, rows)
	for r, doc := range a.rowDoc {
		ids[r] = a.id(int(doc))
	}
	exact, err := neighbors.ExactTopK(ids, a.matrix, a.dims, queries, s.K, workers)
	if err != nil {
		a.report(KindRecall, fmt.Sprintf("could not compute the exact top-K: %v", err))
		return s
	}
	type low struct {
		id     string
		recall float64
	}
	var lows []low
	var sum float64
	for qi, r := range sample {
		doc := int(a.rowDoc[r])
		truth := make(map[int]bool, s.K)
		for _, t := range exact[qi].Rows {
			truth[t] = true
		}
		floor := float64(exact[qi].Similarities[len(exact[qi].Similarities)-1])
		names, scores := a.list(doc)
		hits := 0
		counted := make(map[int32]bool, len(names))
		for e, name := range names {
			other := a.docOf[name]
			if other < 0 || int(other) == doc || a.row[other] < 0 {
				continue // missing, itself or without a usable vector: a miss, reported elsewhere
			}
			o := a.row[other]
			sim := a.dot64(r, o)
			if stored := float64(scores[e]); !math.IsNaN(stored) && math.Abs(stored-sim) > scoreTolerance {
				a.report(KindListScoreWrong, fmt.Sprintf("stored similarity %.4f of %q, the vectors' cosine is %.6f", stored, a.names[name], sim), a.id(doc), a.names[name])
			}
			if e < s.K && !counted[o] && (truth[int(o)] || sim >= floor-tieTolerance) {
				hits++
				counted[o] = true
			}
		}
		rec := float64(hits) / float64(s.K)
		sum += rec
		if rec < minRecall-recallSlack {
			lows = append(lows, low{a.id(doc), rec})
		}
	}
	s.Recall = sum / float64(len(sample))
	if s.Recall < minRecall-recallSlack {
		slices.SortFunc(lows, func(x, y low) int {
			if x.recall != y.recall {
				return cmpFloat(x.recall, y.recall)
			}
			return strings.Compare(x.id, y.id)
		})
		ids := make([]string, len(lows))
		for i, l := range lows {
			ids[i] = l.id
		}
		a.report(KindRecall, fmt.Sprintf("recall@%d of the stored lists is %.4f on %d sampled products (seed %d), below --min-recall %.4f; the ids are the sampled products under it, worst first: run essync full (or with --exact)",
			s.K, s.Recall, s.Size, seed, minRecall), ids...)
	}
	return s
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
