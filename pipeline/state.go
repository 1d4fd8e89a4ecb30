package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sync"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
)

// stored is a product document as the live index has it.
type stored struct {
	Source   map[string]json.RawMessage // the whole document, field by field
	SHA256   string
	Vector   []float32
	Similar  []string
	SyncedAt string
}

// readState reads every document of the live index (one consistent
// point-in-time snapshot) and decodes what the sync logic compares.
func readState(ctx context.Context, es *elasticsearch.Client, index string, dims int) (map[string]*stored, error) {
	state := map[string]*stored{}
	err := esindex.Scan(ctx, es, index, nil, 500, func(d esindex.StoredDoc) error {
		var src map[string]json.RawMessage
		if err := json.Unmarshal(d.Source, &src); err != nil {
			return fmt.Errorf("document %s: %w", d.ID, err)
		}
		s := &stored{Source: src}
		var doc struct {
			Vector  []float32   `json:"image_vector"`
			Similar []string    `json:"similar_pi"`
			Essync  bookkeeping `json:"essync"`
		}
		if err := json.Unmarshal(d.Source, &doc); err != nil {
			return fmt.Errorf("document %s: %w", d.ID, err)
		}
		// image_sha256 may be empty: runs on precomputed vectors without
		// their images leave it so, and compare the vectors instead.
		if len(doc.Vector) != dims || doc.Essync.Model == "" {
			return fmt.Errorf("document %s has no essync vector of %d dims or no essync.model: %w to rebuild the index", d.ID, dims, ErrNeedsFull)
		}
		s.SHA256, s.Vector, s.Similar, s.SyncedAt = doc.Essync.ImageSHA256, doc.Vector, doc.Similar, doc.Essync.SyncedAt
		state[d.ID] = s
		return nil
	})
	return state, err
}

// sameDocument reports whether two documents hold the same fields with the
// same values. Elasticsearch returns _source as it was sent, except after a
// partial update, when it re-renders numbers its own way (5.054619E-4 for
// 0.0005054619), so values are compared decoded, not as text; the vector is
// compared as float32, the precision it was written with.
func sameDocument(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			return false
		}
		if k == "image_vector" {
			if !sameVector(va, vb) {
				return false
			}
		} else if !sameJSON(va, vb) {
			return false
		}
	}
	return true
}

func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func sameVector(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb []float32
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return slices.Equal(va, vb)
}

// hashFiles returns each image's sha256 as embed computes it (so it compares
// with the stored image_sha256), in parallel; an unreadable file gets an error.
func hashFiles(paths []string) ([]string, []error) {
	sums, errs := make([]string, len(paths)), make([]error, len(paths))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sums[i], errs[i] = embed.FileSHA256(paths[i])
			}
		}()
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()
	return sums, errs
}
