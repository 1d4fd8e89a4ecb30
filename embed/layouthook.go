package embed

import (
	"image"
	"log/slog"
	"sync"
)

// layoutKeeper stores the Layout of every image the embedder decodes in the
// layout cache beside its vector cache (none without one), so the offer
// groups' verifier finds it there instead of decoding the image again:
// made from pixels already in memory, it costs a small share of an
// embedding (BenchmarkLayoutVsEmbed).
type layoutKeeper struct {
	once  sync.Once
	cache *LayoutCache
}

// keepLayout is prepare's hook: it records the Layout of a decoded image
// whose file has this sha256, unless one is stored already.
func (e *Embedder) keepLayout(sha string, img image.Image) {
	k := &e.layouts
	if e.opts.CachePath == "" || img == nil {
		return
	}
	defer func() {
		// A bug here must cost a layout (decoded again if needed), never the product.
		if r := recover(); r != nil {
			slog.Warn("layout of a decoded image failed; offer groups will decode it again", "image_sha256", sha, "err", r)
		}
	}()
	k.once.Do(func() {
		c, err := OpenLayoutCache(LayoutCachePath(e.opts.CachePath))
		if err != nil {
			slog.Warn("layout cache unavailable; offer groups will decode the images they verify", "err", err)
			return
		}
		k.cache = c
	})
	if k.cache == nil {
		return
	}
	if _, ok, _ := k.cache.Get(sha); ok {
		return
	}
	l := layoutOfImage(img)
	if err := k.cache.Put(map[string]*Layout{sha: &l}); err != nil {
		slog.Warn("layout cache write failed", "err", err)
	}
}

// close releases the layout cache (nothing if it was never opened).
func (k *layoutKeeper) close() error { return k.cache.Close() }
