package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/essync/essync/neighbors"
)

// recallPass is an incremental run's recall measurement: a sample of
// incrementalRecallSample products against brute force over every vector
// (at a million products a 4.8 GiB pass over the mapped snapshot vectors,
// ≈ 80 s from disk, BENCHMARKS §14). It runs in its own goroutine while
// the groups, documents and index stages wait on Elasticsearch, and is
// joined (wait) before the snapshot that stores it is written.
type recallPass struct {
	done    chan struct{}
	cancel  context.CancelFunc
	recall  float64
	err     error
	seconds float64
	joined  bool
}

// recallOf settles the run's recall: measured by the neighbour stage
// itself after a pending mark (every list recomputed), carried from the
// snapshot when no list changed and the snapshot stores one, otherwise
// measured by a pass started now (returned; nil in the other cases).
func recallOf(ctx context.Context, g *neighbors.Graph, snap *snapshot, p *plan, pending bool, rep *Report) *recallPass {
	n := &rep.Neighbors
	switch {
	case pending:
		n.RecallMeasured = true
		return nil
	case !p.listsChanged && snap.hdr.RecallGeneration > 0:
		n.Recall, n.RecallFromGeneration = snap.hdr.Recall, snap.hdr.RecallGeneration
		slog.Info("no neighbour list changed: reporting the recall measured before", "recall", n.Recall, "generation", n.RecallFromGeneration)
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &recallPass{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		start := time.Now()
		r.recall, r.err = g.MeasureRecall(ctx, incrementalRecallSample)
		r.seconds = time.Since(start).Seconds()
	}()
	return r
}

// wait joins the pass and puts its figure in the report (once; nothing
// for a nil pass). The wait is the "recall" stage.
func (r *recallPass) wait(rep *Report) {
	if r == nil || r.joined {
		return
	}
	rep.timed("recall", func() error { <-r.done; return nil })
	r.joined = true
	n := &rep.Neighbors
	n.RecallSeconds = r.seconds
	if r.err != nil {
		n.Recall, n.RecallMeasured = 0, false
		n.RecallNote = "not measured: the sample pass was stopped (" + r.err.Error() + ")"
		if !errors.Is(r.err, context.Canceled) && !errors.Is(r.err, context.DeadlineExceeded) {
			slog.Warn("recall not measured", "err", r.err)
		}
		return
	}
	n.Recall, n.RecallMeasured = r.recall, true
	slog.Info("recall measured beside the later stages", "recall", r.recall, "seconds", r.seconds)
}

// stop cancels the pass if it still runs and joins it: a run that ends
// early (an error, a signal) neither waits for a whole pass nor leaves it
// reading vectors about to be unmapped, and reports no figure for it.
func (r *recallPass) stop(rep *Report) {
	if r == nil {
		return
	}
	r.cancel()
	r.wait(rep)
}

// recallToStore is the recall a snapshot written at generation keeps: the
// one this run measured (stamped generation), the one it carried, or none.
func recallToStore(rep *Report, generation int64) (float64, int64) {
	n := rep.Neighbors
	switch {
	case n.RecallMeasured:
		return n.Recall, generation
	case n.RecallFromGeneration > 0:
		return n.Recall, n.RecallFromGeneration
	}
	return 0, 0
}
