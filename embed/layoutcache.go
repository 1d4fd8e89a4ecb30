package embed

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// layoutBucket holds Layouts keyed by LayoutVersion + image sha256 (32 bytes).
var layoutBucket = []byte("layouts")

// LayoutCache is a persistent store of Layouts keyed by image content, in
// its own small file next to the vector cache (LayoutCachePath), so a re-run
// decodes only images it has not seen. Values carry a CRC; a value that
// fails it is a miss. Safe for concurrent use.
type LayoutCache struct {
	db   *bolt.DB
	path string
}

// LayoutCachePath is where the layout cache lives for a vector cache file:
// beside it, "vectors.bolt" → "vectors-layouts.bolt".
func LayoutCachePath(vectorCache string) string {
	return strings.TrimSuffix(vectorCache, filepath.Ext(vectorCache)) + "-layouts.bolt"
}

// OpenLayoutCache opens or creates the layout cache at path. A file that is
// corrupt is moved aside (path.corrupt-<time>) and started again; a file
// another process holds is an error (callers go on without a cache).
func OpenLayoutCache(path string) (*LayoutCache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("layout cache %s: %w", path, err)
	}
	db, err := openLayoutDB(path)
	if err != nil && !strings.Contains(err.Error(), "timeout") {
		aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if mvErr := os.Rename(path, aside); mvErr == nil {
			db, err = openLayoutDB(path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("layout cache %s: %w", path, err)
	}
	return &LayoutCache{db: db, path: path}, nil
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

// Close closes the cache file (nil: nothing to do).
func (c *LayoutCache) Close() error {
	if c == nil {
		return nil
	}
	return c.db.Close()
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
	err = c.db.View(func(tx *bolt.Tx) error {
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

// Put stores Layouts by image sha256 in one transaction.
func (c *LayoutCache) Put(layouts map[string]*Layout) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(layoutBucket)
		for sha, l := range layouts {
			key, err := layoutKey(sha)
			if err != nil {
				return err
			}
			v := make([]byte, len(l)+4)
			copy(v, l[:])
			binary.LittleEndian.PutUint32(v[len(l):], crc32.Checksum(v[:len(l)], crcTable))
			if err := b.Put(key, v); err != nil {
				return fmt.Errorf("layout cache %s: %w", c.path, err)
			}
		}
		return nil
	})
}
