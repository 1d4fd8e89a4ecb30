package embed

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// layoutBucket holds Layouts keyed by LayoutVersion + image sha256 (32 bytes).
var layoutBucket = []byte("layouts")

// LayoutCache is a persistent store of Layouts keyed by image content, in
// its own small file next to the vector cache (LayoutCachePath), so a re-run
// decodes only images it has not seen. Values carry a CRC; a value that
// fails it is a miss. A Layout once stored is never replaced, so every run
// that reads it judges the same links alike. Within one process every
// OpenLayoutCache of a path shares one open file (the embedder fills it
// while the groups stage reads it); writes are buffered and flushed in
// batches and on the last Close. Safe for concurrent use.
type LayoutCache struct {
	s      *layoutStore
	closed sync.Once
}

// layoutStore is one open layout cache file, shared by its handles.
type layoutStore struct {
	db      *bolt.DB
	path    string
	refs    int // handles open; guarded by openLayoutStores
	mu      sync.Mutex
	pending map[string]Layout // image sha256 -> Layout not yet written
}

// layoutFlushAt is how many new Layouts are buffered before a write.
const layoutFlushAt = 512

// openLayoutStores holds the layout cache files open in this process, by path.
var openLayoutStores = struct {
	sync.Mutex
	m map[string]*layoutStore
}{m: map[string]*layoutStore{}}

// LayoutCachePath is where the layout cache lives for a vector cache file:
// beside it, "vectors.bolt" → "vectors-layouts.bolt".
func LayoutCachePath(vectorCache string) string {
	return strings.TrimSuffix(vectorCache, filepath.Ext(vectorCache)) + "-layouts.bolt"
}

// OpenLayoutCache opens or creates the layout cache at path, or shares the
// file another handle in this process has open. A corrupt file is moved
// aside (path.corrupt-<time>) and started again; a file another process
// holds is an error (callers go on without a cache).
func OpenLayoutCache(path string) (*LayoutCache, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	openLayoutStores.Lock()
	defer openLayoutStores.Unlock()
	if s, ok := openLayoutStores.m[path]; ok {
		s.refs++
		return &LayoutCache{s: s}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("layout cache %s: %w", path, err)
	}
	db, err := openLayoutDB(path)
	if err != nil && !errors.Is(err, bolterrors.ErrTimeout) {
		aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if mvErr := os.Rename(path, aside); mvErr == nil {
			db, err = openLayoutDB(path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("layout cache %s: %w", path, err)
	}
	s := &layoutStore{db: db, path: path, refs: 1, pending: map[string]Layout{}}
	openLayoutStores.m[path] = s
	return &LayoutCache{s: s}, nil
}

// openLayoutDB opens the bolt file, turning bbolt's panics on garbage into errors.
func openLayoutDB(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("corrupt cache file: %v", r)
		}
	}()
	db, err = bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(layoutBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close releases the handle; the last handle of a file writes what is
// buffered and closes it (nil: nothing to do). Calling it again does nothing.
func (c *LayoutCache) Close() error {
	if c == nil {
		return nil
	}
	var err error
	c.closed.Do(func() {
		openLayoutStores.Lock()
		defer openLayoutStores.Unlock()
		s := c.s
		if err = s.flush(); err != nil {
			err = fmt.Errorf("layout cache %s: %w", s.path, err)
		}
		if s.refs--; s.refs == 0 {
			delete(openLayoutStores.m, s.path)
			err = errors.Join(err, s.db.Close())
		}
	})
	return err
}

func layoutKey(imageSHA string) ([]byte, error) {
	i, err := hex.DecodeString(imageSHA)
	if err != nil || len(i) != 32 {
		return nil, fmt.Errorf("bad image sha256 %q", imageSHA)
	}
	return append([]byte(LayoutVersion), i...), nil
}

// Get returns the cached Layout of the image with this content, ok false
// when absent or failing its check.
func (c *LayoutCache) Get(imageSHA string) (l Layout, ok bool, err error) {
	key, err := layoutKey(imageSHA)
	if err != nil {
		return l, false, err
	}
	s := c.s
	s.mu.Lock()
	l, ok = s.pending[imageSHA]
	s.mu.Unlock()
	if ok {
		return l, true, nil
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(layoutBucket).Get(key)
		if len(v) != len(l)+4 || crc32.Checksum(v[:len(l)], crcTable) != binary.LittleEndian.Uint32(v[len(l):]) {
			return nil
		}
		copy(l[:], v)
		ok = true
		return nil
	})
	return l, ok, err
}

// Put stores Layouts by image sha256 where none is stored yet, written in
// batches (and on the last Close).
func (c *LayoutCache) Put(layouts map[string]*Layout) error {
	s := c.s
	stored := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(layoutBucket)
		for sha := range layouts {
			key, err := layoutKey(sha)
			if err != nil {
				return err
			}
			stored[sha] = b.Get(key) != nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for sha, l := range layouts {
		if _, ok := s.pending[sha]; !ok && !stored[sha] {
			s.pending[sha] = *l
		}
	}
	full := len(s.pending) >= layoutFlushAt
	s.mu.Unlock()
	if full {
		return s.flush()
	}
	return nil
}

// flush writes the buffered Layouts in one transaction, keeping any value
// already stored.
func (s *layoutStore) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(layoutBucket)
		for sha, l := range s.pending {
			key, _ := layoutKey(sha)
			if b.Get(key) != nil {
				continue
			}
			v := make([]byte, len(l)+4)
			copy(v, l[:])
			binary.LittleEndian.PutUint32(v[len(l):], crc32.Checksum(v[:len(l)], crcTable))
			if err := b.Put(key, v); err != nil {
				return err
			}
		}
		return nil
	})
	clear(s.pending)
	return err
}
