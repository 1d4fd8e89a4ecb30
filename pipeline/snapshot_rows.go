package pipeline

import (
	"bytes"

	"github.com/essync/essync/neighbors"
)

// rowSink takes the new state snapshot's rows as changedDocuments computes
// them, in the order of the graph's ids. A lazy sink (the run keeps the
// snapshot's rows and vectors: nothing added or removed) opens its writer
// only at the first row that differs from the snapshot's, copying the rows
// before it, so a run that changes nothing rewrites no snapshot. A nil sink
// (no state dir, or a round after refusals) takes nothing.
type rowSink struct {
	w    *snapshotWriter
	open func() *snapshotWriter // lazy: opens the writer; nil once opened, or when not lazy
	snap *snapshot
	ids  []string
	lr   *neighbors.ListRows
	row  listRow
	buf  []byte
}

// newRowSink returns a sink writing to w (not lazy).
func newRowSink(w *snapshotWriter, g *neighbors.Graph, k int) *rowSink {
	if w == nil {
		return nil
	}
	return &rowSink{w: w, lr: g.ListRows(), row: newListRow(k)}
}

// newLazyRowSink returns a sink that opens its writer with open only when a
// row differs from snap's (whose ids are ids, in the same order, and whose
// lists the graph holds as stored).
func newLazyRowSink(open func() *snapshotWriter, snap *snapshot, g *neighbors.Graph, ids []string) *rowSink {
	return &rowSink{open: open, snap: snap, ids: ids, lr: g.ListRows(), row: newListRow(snap.hdr.K), buf: make([]byte, recordSize)}
}

// add takes row i: product id's fresh record and its offer group's size.
func (s *rowSink) add(i int, id string, r record, groupSize int) error {
	if s == nil {
		return nil
	}
	if s.w == nil {
		if s.open == nil {
			return nil
		}
		r.encode(s.buf)
		if bytes.Equal(s.buf, s.snap.records[i*recordSize:(i+1)*recordSize]) && int32(groupSize) == s.snap.groupSizes[i] {
			return nil // as the snapshot holds it (its list too: the graph restored it as stored)
		}
		if err := s.materialize(i); err != nil {
			return err
		}
	}
	s.lr.Row(id, s.row.rows, s.row.sims)
	return s.w.addScored(id, r, s.row.rows, s.row.sims, groupSize)
}

// materialize opens a lazy sink's writer (nil when it cannot be opened: the run goes on
// without a snapshot) and copies the snapshot's first n
// rows into it (nothing when it is open already).
func (s *rowSink) materialize(n int) error {
	if s == nil || s.w != nil || s.open == nil {
		return nil
	}
	w := s.open()
	s.open = nil
	if w == nil {
		return nil // could not be opened (logged and reported): the run goes on without
	}
	s.w = w
	for i, id := range s.ids[:n] {
		s.lr.Row(id, s.row.rows, s.row.sims)
		if err := w.addScored(id, s.snap.record(int32(i)), s.row.rows, s.row.sims, int(s.snap.groupSizes[i])); err != nil {
			return err
		}
	}
	return nil
}

// writer is the sink's writer, nil when none was opened.
func (s *rowSink) writer() *snapshotWriter {
	if s == nil {
		return nil
	}
	return s.w
}

// unchanged tells whether a lazy sink never opened its writer: the
// snapshot in place describes the state this run leaves.
func (s *rowSink) unchanged() bool { return s != nil && s.w == nil && s.open != nil }
