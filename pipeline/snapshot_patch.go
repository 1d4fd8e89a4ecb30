package pipeline

// Lists that arrive after their rows: when the state is rebuilt from the live
// index (readLists), the products are scanned first and the similar index's
// list documents are then patched into the finished snapshot in place.

import (
	"fmt"
	"os"
	"path/filepath"
)

// listPatcher writes lists into the rows of a finished snapshot (see
// readLists): a product's list arrives from the similar index after its
// row was written.
type listPatcher struct {
	w              *snapshotWriter
	lists, records *os.File
}

// listPatcher opens the finished snapshot's lists and records for
// patching in place.
func (w *snapshotWriter) listPatcher() (*listPatcher, error) {
	if !w.finished {
		return nil, fmt.Errorf("state snapshot: lists patched before the snapshot was finished")
	}
	p := &listPatcher{w: w}
	var err error
	if p.lists, err = os.OpenFile(filepath.Join(w.dir, snapLists), os.O_RDWR, 0); err != nil {
		return nil, fmt.Errorf("state snapshot: %w", err)
	}
	if p.records, err = os.OpenFile(filepath.Join(w.dir, snapRecords), os.O_RDWR, 0); err != nil {
		p.lists.Close()
		return nil, fmt.Errorf("state snapshot: %w", err)
	}
	return p, nil
}

// set writes product id's list and its digest; ok is false when the
// snapshot has no row for id.
func (p *listPatcher) set(id string, d digest, list []string) (ok bool, err error) {
	row, ok := p.w.row[id]
	if !ok {
		return false, nil
	}
	if _, err := p.lists.WriteAt(p.w.encodeList(list), int64(row)*int64(4*p.w.hdr.K)); err != nil {
		return true, fmt.Errorf("state snapshot: %w", err)
	}
	if _, err := p.records.WriteAt(d[:], int64(row)*recordSize+48+digestSize); err != nil {
		return true, fmt.Errorf("state snapshot: %w", err)
	}
	return true, nil
}

func (p *listPatcher) close() error {
	err := p.lists.Close()
	if rerr := p.records.Close(); err == nil {
		err = rerr
	}
	return err
}
