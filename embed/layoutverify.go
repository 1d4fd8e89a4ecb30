package embed

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/essync/essync/internal/parallel"
)

// LayoutCut is the least Layout.Match score that confirms an offer-group
// link. Calibrated on testdata/groups (TestLayoutCut): every pair of one
// item's shop copies scores at least 0.72 there (a 90 % crop of a fine
// texture is the lowest), two other regions of one photo at most 0.61 (the
// coin halves); the cut sits in the middle of that gap.
const LayoutCut = 0.67

// LayoutVerifier confirms candidate links of offer groups by comparing the
// two products' Layouts (groups.Options.Verify is its Verify). Each product's
// Layout is computed once per Verify call, from the cache when it has it;
// a product whose image cannot be read or decoded cannot be confirmed, so
// its links are turned down (and counted in Stats).
type LayoutVerifier struct {
	// Read returns a product's image file bytes.
	Read func(id string) ([]byte, error)
	// Cache, if set, keeps Layouts by image sha256 across runs.
	Cache *LayoutCache
	// Cut is the least Match score of a confirmed link (0: LayoutCut).
	Cut float32
	// Workers decode images and compare pairs in parallel (0: GOMAXPROCS).
	Workers int
	// MaxPixels refuses larger images (0: DefaultMaxPixels).
	MaxPixels int

	stats LayoutStats
}

// LayoutStats says what a LayoutVerifier did, for run reports and benchmarks.
type LayoutStats struct {
	Cut      float32 `json:"cut"`
	Pairs    int     `json:"pairs"`     // candidate links asked about
	Rejected int     `json:"rejected"`  // of them turned down
	Products int     `json:"products"`  // products on candidate links
	Computed int     `json:"computed"`  // Layouts computed from the image
	Cached   int     `json:"cached"`    // Layouts found in the cache
	Failed   int     `json:"failed"`    // images that could not be read or decoded
	Seconds  float64 `json:"seconds"`   // wall time of Verify, in all
	Layouts  float64 `json:"layouts_s"` // of it reading, decoding and caching Layouts
}

// Stats returns the counts of every Verify call so far.
func (v *LayoutVerifier) Stats() LayoutStats {
	st := v.stats
	st.Cut = v.cut()
	return st
}

func (v *LayoutVerifier) cut() float32 {
	if v.Cut == 0 {
		return LayoutCut
	}
	return v.Cut
}

// Verify answers, for every pair of product ids, whether their Layouts
// match at least Cut. It never fails: an unreadable image only turns down
// its pairs (logged once per product).
func (v *LayoutVerifier) Verify(pairs [][2]string) ([]bool, error) {
	start := time.Now()
	workers := v.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	index := map[string]int{}
	var ids []string
	for _, p := range pairs {
		for _, id := range p {
			if _, ok := index[id]; !ok {
				index[id] = len(ids)
				ids = append(ids, id)
			}
		}
	}
	layouts := make([]*Layout, len(ids))
	fresh := make([]string, len(ids)) // sha256 of Layouts to cache
	var computed, cached, failed atomic.Int64
	parallel.For(len(ids), workers, func(i int) {
		l, sha, hit, err := v.layout(ids[i])
		switch {
		case err != nil:
			failed.Add(1)
			slog.Warn("offer groups: no layout for the verifier; its links are turned down", "id", ids[i], "err", err)
		case hit:
			cached.Add(1)
		default:
			computed.Add(1)
			fresh[i] = sha
		}
		layouts[i] = l
	})
	if v.Cache != nil {
		put := map[string]*Layout{}
		for i, sha := range fresh {
			if sha != "" {
				put[sha] = layouts[i]
			}
		}
		if len(put) > 0 {
			if err := v.Cache.Put(put); err != nil {
				slog.Warn("layout cache write failed; layouts are still used", "err", err)
			}
		}
	}
	layoutTime := time.Since(start)
	cut := v.cut()
	same := make([]bool, len(pairs))
	var rejected atomic.Int64
	parallel.For(len(pairs), workers, func(t int) {
		a, b := layouts[index[pairs[t][0]]], layouts[index[pairs[t][1]]]
		same[t] = a != nil && b != nil && a.Match(b, cut) >= cut
		if !same[t] {
			rejected.Add(1)
		}
	})
	v.stats.Pairs += len(pairs)
	v.stats.Rejected += int(rejected.Load())
	v.stats.Products += len(ids)
	v.stats.Computed += int(computed.Load())
	v.stats.Cached += int(cached.Load())
	v.stats.Failed += int(failed.Load())
	v.stats.Layouts += layoutTime.Seconds()
	v.stats.Seconds += time.Since(start).Seconds()
	return same, nil
}

// layout returns one product's Layout and its image's sha256, from the
// cache when there (hit).
func (v *LayoutVerifier) layout(id string) (l *Layout, sha string, hit bool, err error) {
	data, err := v.Read(id)
	if err != nil {
		return nil, "", false, err
	}
	sum := sha256.Sum256(data)
	sha = hex.EncodeToString(sum[:])
	if v.Cache != nil {
		got, ok, err := v.Cache.Get(sha)
		if err != nil {
			slog.Warn("layout cache read failed; decoding", "id", id, "err", err)
		}
		if ok {
			return &got, sha, true, nil
		}
	}
	fresh, err := LayoutOf(id, data, v.MaxPixels)
	if err != nil {
		return nil, "", false, err
	}
	return &fresh, sha, false, nil
}

// ReadImageIn reads an image file inside root (no path may leave it), with
// the same size limit as embedding.
func ReadImageIn(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, imageError(name, "%v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	switch {
	case err != nil:
		return nil, imageError(name, "read: %v", err)
	case len(data) > maxFileBytes:
		return nil, imageError(name, "file is larger than the %d byte limit", maxFileBytes)
	}
	return data, nil
}
