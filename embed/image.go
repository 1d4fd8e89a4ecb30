package embed

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // GIF: first frame
	_ "image/jpeg"
	_ "image/png"
	"io"
	"log/slog"
	"os"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/webp"
)

// DefaultMaxPixels is the largest image (width×height from its header) that
// is decoded when Options.MaxPixels is 0: 50 megapixels, about 200 MB as RGBA.
const DefaultMaxPixels = 50_000_000

// maxFileBytes bounds how much of one file is read into memory.
const maxFileBytes = 256 << 20

// ErrImage marks errors about an image file itself (unreadable, broken,
// unsupported, too large): the product is skipped, the run goes on.
var ErrImage = errors.New("bad image")

// imageError wraps a per-file problem so callers can test errors.Is(err, ErrImage).
func imageError(path, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrImage, path, fmt.Sprintf(format, a...))
}

// readImageFile reads a whole image file (bounded) and returns its bytes and
// their hex sha256, which keys the vector cache.
func readImageFile(path string) ([]byte, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", imageError(path, "%v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", imageError(path, "%v", err)
	}
	if st.IsDir() {
		return nil, "", imageError(path, "is a directory")
	}
	if st.Size() > maxFileBytes {
		return nil, "", imageError(path, "file is %d bytes, larger than the %d byte limit", st.Size(), maxFileBytes)
	}
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + bytes.MinRead) // one allocation for the usual, unchanging file
	if _, err := buf.ReadFrom(io.LimitReader(f, maxFileBytes+1)); err != nil {
		return nil, "", imageError(path, "read: %v", err)
	}
	data := buf.Bytes()
	if len(data) > maxFileBytes {
		return nil, "", imageError(path, "file grew past the %d byte limit while being read", maxFileBytes)
	}
	if len(data) == 0 {
		return nil, "", imageError(path, "empty file")
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// decodeImage decodes JPEG, PNG, GIF (first frame) or WebP from data,
// applying the JPEG EXIF orientation. It reads the header first and refuses
// images above maxPixels before allocating anything for them. With a card,
// JPEGs may be decoded already shrunk towards the card's input size (by
// libjpeg-turbo, when installed); with nil, at full size.
func decodeImage(path string, data []byte, maxPixels int, c *Card) (image.Image, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, imageError(path, "not a JPEG, PNG, GIF or WebP image (%d bytes, starts %q)", len(data), prefix(data))
		}
		return nil, imageError(path, "unreadable header: %v", err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, imageError(path, "%s is %d×%d = %d pixels, above the limit of %d (refused without decoding)",
			format, cfg.Width, cfg.Height, int64(cfg.Width)*int64(cfg.Height), maxPixels)
	}
	return decodeChecked(path, data, cfg, format, c)
}

// decodeChecked decodes data whose header (cfg, format) was read and found
// within the pixel limit by the caller, so the header is parsed once.
func decodeChecked(path string, data []byte, cfg image.Config, format string, c *Card) (image.Image, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, imageError(path, "%s header says %d×%d pixels", format, cfg.Width, cfg.Height)
	}
	if format == "jpeg" {
		minSide, longer := 0, false
		if c != nil {
			minSide, longer = c.Size, c.Resize == ResizePad
		}
		img, err := decodeJPEGTurbo(data, minSide, longer)
		if err == nil {
			return img, nil
		}
		if !errors.Is(err, errTurboUnsupported) {
			slog.Debug("libjpeg-turbo refused the file; trying Go's decoder", "image", path, "err", err)
		}
	}
	img, err := decodeGo(data, format)
	if err != nil {
		return nil, imageError(path, "broken %s (%d×%d header): %v", format, cfg.Width, cfg.Height, err)
	}
	return img, nil
}

// decodeGo decodes with the Go decoders, honouring JPEG EXIF orientation.
func decodeGo(data []byte, format string) (image.Image, error) {
	return imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(format == "jpeg"))
}

func prefix(data []byte) []byte {
	if len(data) > 8 {
		return data[:8]
	}
	return data
}

// FileSHA256 returns the hex sha256 of an image file's bytes: the value
// Result.ImageSHA256 carries and the vector cache keys on, so callers can tell
// changed images from unchanged ones without embedding.
func FileSHA256(path string) (string, error) {
	_, sum, err := readImageFile(path)
	return sum, err
}
