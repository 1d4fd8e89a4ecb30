package embed

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// cacheBucket holds vectors keyed by model sha256 (32 bytes) + image sha256 (32 bytes).
var cacheBucket = []byte("vectors.v1")

// Cache is a persistent store of feature vectors keyed by (model sha256,
// image content sha256), so a re-run embeds only new or changed images.
// Every value carries a CRC; a value that fails it is a miss, never a result.
// Safe for concurrent use.
type Cache struct {
	db   *bolt.DB
	path string
}

// OpenCache opens or creates the cache file at path. A file that is not a
// valid cache (corrupt, truncated, another format) is moved aside to
// path.corrupt-<time> and a new one is created, with a warning. A cache held
// open by another process is an error, not corruption.
func OpenCache(path string) (*Cache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("vector cache %s: %w", path, err)
	}
	db, err := openChecked(path)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("vector cache %s is in use by another essync process: %w", path, err)
	}
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if mvErr := os.Rename(path, aside); mvErr != nil {
			return nil, fmt.Errorf("vector cache %s is unusable (%v) and cannot be moved aside: %w", path, err, mvErr)
		}
		slog.Warn("vector cache was corrupt; moved aside and rebuilding", "cache", path, "moved_to", aside, "reason", err)
		db, err = openChecked(path)
		if err != nil {
			return nil, fmt.Errorf("vector cache %s: %w", path, err)
		}
	}
	return &Cache{db: db, path: path}, nil
}

// openChecked opens the bolt file and verifies its page structure, turning
// bbolt's panics on garbage into errors.
func openChecked(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("corrupt cache file: %v", r)
		}
	}()
	db, err = bolt.Open(path, 0o644, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return cerr
		}
		_, err := tx.CreateBucketIfNotExists(cacheBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close flushes and closes the cache file.
func (c *Cache) Close() error {
	if c == nil || c.db == nil {
		return nil
	}
	return c.db.Close()
}

func cacheKey(modelSHA, imageSHA string) ([]byte, error) {
	m, err := hex.DecodeString(modelSHA)
	if err != nil || len(m) != 32 {
		return nil, fmt.Errorf("bad model sha256 %q", modelSHA)
	}
	i, err := hex.DecodeString(imageSHA)
	if err != nil || len(i) != 32 {
		return nil, fmt.Errorf("bad image sha256 %q", imageSHA)
	}
	return append(m, i...), nil
}

// Get returns the cached vector, or nil if absent or not trustworthy (wrong
// length, CRC mismatch, non-finite values), which is logged and treated as a miss.
func (c *Cache) Get(modelSHA, imageSHA string, dims int) ([]float32, error) {
	key, err := cacheKey(modelSHA, imageSHA)
	if err != nil {
		return nil, err
	}
	var vec []float32
	err = c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(cacheBucket)
		if b == nil {
			return nil
		}
		v := b.Get(key)
		if v == nil {
			return nil
		}
		vec = decodeVector(v, dims)
		if vec == nil {
			slog.Warn("vector cache entry failed its check; re-embedding", "cache", c.path, "image_sha256", imageSHA)
		}
		return nil
	})
	return vec, err
}

// Entry is one vector to store.
type Entry struct {
	ImageSHA256 string
	Vector      []float32
}

// PutBatch stores vectors for one model in one transaction.
func (c *Cache) PutBatch(modelSHA string, entries []Entry) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(cacheBucket)
		if err != nil {
			return err
		}
		for _, e := range entries {
			key, err := cacheKey(modelSHA, e.ImageSHA256)
			if err != nil {
				return err
			}
			if err := b.Put(key, encodeVector(e.Vector)); err != nil {
				return fmt.Errorf("vector cache %s: %w", c.path, err)
			}
		}
		return nil
	})
}

// encodeVector: uint32 dims, dims float32 (little endian), uint32 CRC-32C of all before.
func encodeVector(v []float32) []byte {
	buf := make([]byte, 4+4*len(v)+4)
	binary.LittleEndian.PutUint32(buf, uint32(len(v)))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4+4*i:], math.Float32bits(x))
	}
	n := 4 + 4*len(v)
	binary.LittleEndian.PutUint32(buf[n:], crc32.Checksum(buf[:n], crcTable))
	return buf
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func decodeVector(b []byte, dims int) []float32 {
	if len(b) != 4+4*dims+4 || int(binary.LittleEndian.Uint32(b)) != dims {
		return nil
	}
	n := 4 + 4*dims
	if crc32.Checksum(b[:n], crcTable) != binary.LittleEndian.Uint32(b[n:]) {
		return nil
	}
	v := make([]float32, dims)
	for i := range v {
		x := math.Float32frombits(binary.LittleEndian.Uint32(b[4+4*i:]))
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
		v[i] = x
	}
	return v
}
