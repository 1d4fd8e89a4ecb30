package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Default field names, as the old pipeline's scraper wrote them.
const (
	DefaultIDField    = "productId"
	DefaultImageField = "imageName"
)

// ErrEmpty is returned (wrapped) when a catalog holds no records at all: an
// empty catalog is almost always a failed scrape, and syncing it would empty
// the index.
var ErrEmpty = errors.New("catalog has no records")

// Options says which fields hold the product id and image name, and where the
// images live.
type Options struct {
	// IDField names the product id field; empty means DefaultIDField.
	IDField string
	// ImageField names the image file name field; empty means DefaultImageField.
	ImageField string
	// ImagesDir is the folder image names are relative to. Required (unless
	// ImagesOptional): every image must resolve inside it.
	ImagesDir string
	// ImagesOptional is for runs on precomputed vectors: the images folder
	// may be absent and an image that does not resolve does not skip its
	// row; ImagePath is then empty.
	ImagesOptional bool
	// RecordsOnly keeps each product's fields as Product.Record (its JSON
	// text) and leaves Product.Fields nil, saving the map: most of a
	// product's memory. Without it Fields is set and Record is nil, as
	// before. Transitional: once every caller reads Record, Fields goes.
	RecordsOnly bool
}

// Product is one valid catalog row.
type Product struct {
	// Row is the 1-based record number in the file (every record counts,
	// including skipped ones and unparseable lines).
	Row int
	// Line is the 1-based line in the file where the record starts.
	Line int
	// ID is the product id as text (numbers keep their exact decimal text).
	ID string
	// ImageName is the image field exactly as written in the catalog.
	ImageName string
	// ImagePath is the absolute path ImagesDir/ImageName, checked to exist, to
	// be a regular file and to resolve (through any symlinks) inside ImagesDir.
	ImagePath string
	// Record is the record itself, id and image included, so its fields
	// reach the index unchanged; Record.Field and Record.Fields read them.
	// Set with Options.RecordsOnly.
	Record Record
	// Fields holds every field of the record as the raw JSON it was written
	// with: the parsed form of Record, at several times its memory. Nil
	// with Options.RecordsOnly.
	Fields map[string]json.RawMessage
}

// SkipKind classifies why a row was skipped, so reports and tests can group
// reasons without parsing text.
type SkipKind string

// The reasons a row can be skipped.
const (
	// SkipInvalidJSON: an NDJSON line (or one record) is not valid JSON.
	SkipInvalidJSON SkipKind = "invalid-json"
	// SkipNotObject: a record is valid JSON but not an object.
	SkipNotObject SkipKind = "not-an-object"
	// SkipMissingID: the id field is absent, null, empty or blank.
	SkipMissingID SkipKind = "missing-id"
	// SkipBadID: the id is not a string or number, or cannot be a document id.
	SkipBadID SkipKind = "bad-id"
	// SkipDuplicateID: an earlier row with the same id was kept.
	SkipDuplicateID SkipKind = "duplicate-id"
	// SkipMissingImage: the image field is absent, null, empty or not a string.
	SkipMissingImage SkipKind = "missing-image-field"
	// SkipBadImageName: the image name cannot be a file name (a NUL byte)
	// or is a URL instead of a file name.
	SkipBadImageName SkipKind = "bad-image-name"
	// SkipImageOutside: the image name is absolute, climbs out with ../, or
	// is a symlink that leads out of the images folder.
	SkipImageOutside SkipKind = "image-outside-folder"
	// SkipImageNotFound: no file by that name (or a dangling symlink).
	SkipImageNotFound SkipKind = "image-not-found"
	// SkipImageNotAFile: the name is a folder or a device, fifo or socket.
	SkipImageNotAFile SkipKind = "image-not-a-file"
	// SkipImageUnreachable: the file exists but cannot be examined
	// (permissions).
	SkipImageUnreachable SkipKind = "image-unreadable"
)

// Skip is one catalog row that was left out, with the reason and what to do.
type Skip struct {
	// Row is the 1-based record number (see Product.Row).
	Row int
	// Line is the 1-based line where the record starts.
	Line int
	// ID is the product id when it could be read, else "".
	ID string
	// ImageName is the image field when it could be read, else "".
	ImageName string
	// Kind classifies the reason.
	Kind SkipKind
	// Reason says what is wrong and how to fix it.
	Reason string
}

// String renders the skip for logs: where, which product, why.
func (s Skip) String() string {
	where := fmt.Sprintf("row %d (line %d)", s.Row, s.Line)
	if s.ID != "" {
		where += fmt.Sprintf(" id %q", s.ID)
	}
	return where + ": " + s.Reason
}

// Read reads the catalog file at path, auto-detecting its format, and returns
// the valid products in file order plus every skipped row. The error is
// non-nil only when the file cannot be read or is not a catalog at all.
func Read(path string, opts Options) ([]Product, []Skip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: cannot open %s: %w (check the --catalog path)", path, err)
	}
	defer f.Close()
	return ReadReader(f, path, opts)
}

// ReadReader is Read for an already open stream; name is used in messages.
func ReadReader(r io.Reader, name string, opts Options) ([]Product, []Skip, error) {
	v, err := newValidator(name, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := decode(r, name, v.add); err != nil {
		return nil, nil, err
	}
	if v.rows == 0 {
		return nil, nil, fmt.Errorf("catalog %s: %w: check that the scrape wrote its output", name, ErrEmpty)
	}
	return v.products, v.skipped, nil
}

// validator turns decoded records into products or skips.
type validator struct {
	name       string
	idField    string
	imageField string
	images     imagesDir
	optional   bool           // Options.ImagesOptional
	recordOnly bool           // Options.RecordsOnly
	noImages   bool           // optional and no folder given
	kept       map[string]int // id -> index into products
	products   []Product
	skipped    []Skip
	rows       int
}

func newValidator(name string, opts Options) (*validator, error) {
	v := &validator{
		name:       name,
		idField:    opts.IDField,
		imageField: opts.ImageField,
		kept:       map[string]int{},
		optional:   opts.ImagesOptional,
		recordOnly: opts.RecordsOnly,
	}
	if v.idField == "" {
		v.idField = DefaultIDField
	}
	if v.imageField == "" {
		v.imageField = DefaultImageField
	}
	if opts.ImagesDir == "" && opts.ImagesOptional {
		v.noImages = true
		return v, nil
	}
	if opts.ImagesDir == "" {
		return nil, fmt.Errorf("catalog %s: no images folder given: pass the folder the image names are relative to (--images)", name)
	}
	dir, err := openImagesDir(opts.ImagesDir)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", name, err)
	}
	v.images = dir
	return v, nil
}

// record is one decoded catalog record, or a line that failed to decode
// (fields nil, bad set).
type record struct {
	line   int
	fields map[string]json.RawMessage
	raw    []byte // the object's JSON text; only valid during the emit call
	bad    SkipKind
	reason string
}

// add validates one record; it never fails, it either keeps or skips.
func (v *validator) add(rec record) {
	v.rows++
	row := v.rows
	skip := func(id, image string, kind SkipKind, reason string) {
		v.skipped = append(v.skipped, Skip{Row: row, Line: rec.line, ID: id, ImageName: image, Kind: kind, Reason: reason})
	}
	if rec.bad != "" {
		skip("", "", rec.bad, rec.reason)
		return
	}
	id, kind, reason := readID(rec.fields, v.idField)
	if kind != "" {
		skip("", imageNameForReport(rec.fields, v.imageField), kind, reason)
		return
	}
	image, kind, reason := readImageName(rec.fields, v.imageField)
	if kind != "" {
		skip(id, "", kind, reason)
		return
	}
	if i, dup := v.kept[id]; dup {
		first := v.products[i]
		skip(id, image, SkipDuplicateID, fmt.Sprintf(
			"duplicate %s %q: row %d (line %d) has the same id and was kept; give every product its own id",
			v.idField, id, first.Row, first.Line))
		return
	}
	var path string
	if !v.noImages {
		var kind SkipKind
		var reason string
		path, kind, reason = v.images.resolve(image)
		if kind != "" && !v.optional {
			skip(id, image, kind, reason)
			return
		}
	}
	p := Product{Row: row, Line: rec.line, ID: id, ImageName: image, ImagePath: path, Fields: rec.fields}
	if v.recordOnly {
		p.Record, p.Fields = compactRecord(rec.raw), nil
	}
	v.kept[id] = len(v.products)
	v.products = append(v.products, p)
}

// imageNameForReport returns the image field when it is a plain string, so a
// row skipped for its id still names its image in the report.
func imageNameForReport(fields map[string]json.RawMessage, field string) string {
	var s string
	if raw, ok := fields[field]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// readImageName returns the image file name, or the skip kind and reason.
func readImageName(fields map[string]json.RawMessage, field string) (string, SkipKind, string) {
	raw, ok := fields[field]
	if !ok || isNull(raw) {
		return "", SkipMissingImage, fmt.Sprintf("no %q field: add the image file name", field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", SkipMissingImage, fmt.Sprintf("%q must be a string (the image file name), got %s", field, jsonKind(raw))
	}
	if s == "" {
		return "", SkipMissingImage, fmt.Sprintf("%q is empty: add the image file name", field)
	}
	return s, "", ""
}
