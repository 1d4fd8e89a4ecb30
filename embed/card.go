package embed

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Layout values of Card.Layout: the order of the model input's dimensions.
const (
	LayoutNCHW = "NCHW"
	LayoutNHWC = "NHWC"
)

// Resize values of Card.Resize.
const (
	// ResizePad scales the whole image to fit Size×Size and centres it on a
	// canvas of PadValue, like TensorFlow's tf.image.resize_with_pad.
	ResizePad = "pad"
	// ResizeCrop scales the shorter side to Size and cuts the centre square,
	// the usual ImageNet evaluation transform.
	ResizeCrop = "crop"
)

// Scaling values of Card.Scaling.
const (
	// ScalingUnit feeds pixels as value/255, in 0..1.
	ScalingUnit = "unit"
	// ScalingMeanStd feeds (value/255 - Mean[c]) / Std[c] per RGB channel.
	ScalingMeanStd = "mean_std"
)

// Filter values of Card.Filter: the resampling kernel used for resizing.
const (
	FilterBilinear = "bilinear"
	FilterBicubic  = "bicubic"
)

// Card describes an ONNX image feature extractor: which file, how to turn an
// image into its input tensor, and which output holds the feature vector. It is
// the JSON file next to the model, so any compatible model can be plugged in
// without code changes.
type Card struct {
	// Name identifies the model in fingerprints and documents, e.g. "efficientnet-lite0".
	Name string `json:"name"`
	// File is the ONNX file, relative to the card's folder (or absolute).
	File string `json:"file"`
	// SHA256 is the hex sha256 of File; New refuses a model whose bytes differ.
	SHA256 string `json:"sha256"`
	// InputName is the name of the model's image input.
	InputName string `json:"input_name"`
	// Layout is LayoutNCHW or LayoutNHWC (batch first either way).
	Layout string `json:"layout"`
	// Size is the square input side in pixels.
	Size int `json:"size"`
	// Resize is ResizePad or ResizeCrop.
	Resize string `json:"resize"`
	// PadValue is the 0..1 grey level of letterbox padding before scaling
	// (0 = black, as tf.image.resize_with_pad pads with zeros). Used by ResizePad only.
	PadValue float32 `json:"pad_value"`
	// Filter is FilterBicubic (default) or FilterBilinear.
	Filter string `json:"filter,omitempty"`
	// Scaling is ScalingUnit or ScalingMeanStd.
	Scaling string `json:"scaling"`
	// Mean and Std are per-channel RGB values in 0..1 units, for ScalingMeanStd.
	Mean []float32 `json:"mean,omitempty"`
	Std  []float32 `json:"std,omitempty"`
	// OutputName is the output holding the feature vector, shape [N, Dims].
	OutputName string `json:"output_name"`
	// LogitsName optionally names a classification output, shape [N, Classes];
	// essync does not need it, but tests use it to prove the preprocessing.
	LogitsName string `json:"logits_name,omitempty"`
	// Classes is the width of LogitsName.
	Classes int `json:"classes,omitempty"`
	// Dims is the feature vector length.
	Dims int `json:"dims"`
	// FeatureMapName optionally names the last feature map before pooling,
	// shape [N, Dims, H, W] (non-negative activations); Focus needs it.
	FeatureMapName string `json:"feature_map_name,omitempty"`
	// Focus says how the object is found and embedded: FocusNone (the whole
	// input), FocusSCDACrop or FocusSCDAPool. It is part of the fingerprint.
	Focus string `json:"focus,omitempty"`
	// LocateSize, with FocusSCDACrop, is the input side of the first
	// (localisation) pass: a multiple of 32 below Size, which costs about
	// (LocateSize/Size)² of a full pass; the model's input and feature map
	// must then have dynamic spatial dimensions. Every vector still comes from
	// a pass at Size (of the crop, or of the whole image when the object fills
	// it). 0 = locate at Size and keep that pass's vector when nothing is
	// cropped. Part of the fingerprint.
	LocateSize int `json:"locate_size,omitempty"`
	// FocusSteps, with FocusSCDACrop, is how many times the crop may zoom in
	// (each a pass at Size over the images still not filled by their
	// object); 0 = DefaultFocusSteps. Part of the fingerprint when not the default.
	FocusSteps int `json:"focus_steps,omitempty"`
	// CropSize, with FocusSCDACrop, is the input side of the passes over the
	// crops: a multiple of 32 below Size, costing about (CropSize/Size)² of a
	// full pass (the crop is a part of the photo, so it loses less than the
	// whole photo would at that size); the model must have dynamic spatial
	// dimensions, and the card cannot also set LocateSize. 0 = Size. Part of
	// the fingerprint.
	CropSize int `json:"crop_size,omitempty"`
	// CropMaxShare, with FocusSCDACrop, skips a crop pass whose square would
	// keep at least this share of what the pass before saw (the centre square
	// with resize "crop", the whole image with "pad"): such a crop cuts too
	// little background to be worth a pass, and the vector of the pass before
	// is kept. 0 = no such limit (only the object's box filling focusFillFrac
	// of the map skips). Part of the fingerprint ("-k" and the percentage).
	CropMaxShare float64 `json:"crop_max_share,omitempty"`
	// Notes is free text: provenance, licence, how the card was checked.
	Notes string `json:"notes,omitempty"`

	// path is where the card was loaded from; ModelPath resolves File against it.
	path string
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// LoadCard reads and validates a model card. The model file is resolved
// relative to the card's folder and must exist; its checksum is verified by New.
func LoadCard(path string) (*Card, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model card: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var c Card
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("model card %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("model card %s: %w", path, err)
	}
	c.path = abs
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("model card %s: %w", path, err)
	}
	if _, err := os.Stat(c.ModelPath()); err != nil {
		return nil, fmt.Errorf("model card %s: model file: %w", path, err)
	}
	return &c, nil
}

// Validate checks that every field has a usable value and fills defaults
// (Filter). It reports all problems at once.
func (c *Card) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Name == "" {
		bad("name is empty")
	}
	if c.File == "" {
		bad("file is empty")
	}
	c.SHA256 = strings.ToLower(c.SHA256)
	if !hexSHA256.MatchString(c.SHA256) {
		bad("sha256 %q is not 64 hex digits", c.SHA256)
	}
	if c.InputName == "" {
		bad("input_name is empty")
	}
	if c.Layout != LayoutNCHW && c.Layout != LayoutNHWC {
		bad("layout %q: want %s or %s", c.Layout, LayoutNCHW, LayoutNHWC)
	}
	if c.Size < 8 || c.Size > 4096 {
		bad("size %d: want 8..4096", c.Size)
	}
	if c.Resize != ResizePad && c.Resize != ResizeCrop {
		bad("resize %q: want %s or %s", c.Resize, ResizePad, ResizeCrop)
	}
	if c.PadValue < 0 || c.PadValue > 1 {
		bad("pad_value %v: want 0..1", c.PadValue)
	}
	if c.Filter == "" {
		c.Filter = FilterBicubic
	}
	if c.Filter != FilterBicubic && c.Filter != FilterBilinear {
		bad("filter %q: want %s or %s", c.Filter, FilterBicubic, FilterBilinear)
	}
	switch c.Scaling {
	case ScalingUnit:
		if len(c.Mean) != 0 || len(c.Std) != 0 {
			bad("scaling %s takes no mean/std", ScalingUnit)
		}
	case ScalingMeanStd:
		if len(c.Mean) != 3 || len(c.Std) != 3 {
			bad("scaling %s needs 3 mean and 3 std values (RGB, 0..1 units)", ScalingMeanStd)
		}
		for _, s := range c.Std {
			if !(s > 0) || math.IsInf(float64(s), 0) {
				bad("std %v must be > 0", s)
			}
		}
	default:
		bad("scaling %q: want %s or %s", c.Scaling, ScalingUnit, ScalingMeanStd)
	}
	if c.OutputName == "" {
		bad("output_name is empty")
	}
	if c.Dims < 1 {
		bad("dims %d: want > 0", c.Dims)
	}
	if c.LogitsName != "" && c.Classes < 1 {
		bad("logits_name %q needs classes > 0", c.LogitsName)
	}
	switch c.Focus {
	case FocusNone:
	case FocusSCDACrop, FocusSCDAPool:
		if c.FeatureMapName == "" {
			bad("focus %s needs feature_map_name (the [N, dims, H, W] output before pooling)", c.Focus)
		}
	default:
		bad("focus %q: want %s, %s or none", c.Focus, FocusSCDACrop, FocusSCDAPool)
	}
	if c.FocusSteps != 0 && (c.Focus != FocusSCDACrop || c.FocusSteps < 1 || c.FocusSteps > 4) {
		bad("focus_steps %d: want 1..4 with focus %s", c.FocusSteps, FocusSCDACrop)
	}
	if c.CropMaxShare != 0 && (c.Focus != FocusSCDACrop || c.CropMaxShare <= 0 || c.CropMaxShare >= 1) {
		bad("crop_max_share %g: want a share between 0 and 1 with focus %s", c.CropMaxShare, FocusSCDACrop)
	}
	if c.LocateSize != 0 {
		if c.Focus != FocusSCDACrop {
			bad("locate_size %d needs focus %s", c.LocateSize, FocusSCDACrop)
		}
		if c.LocateSize < 32 || c.LocateSize >= c.Size || c.LocateSize%32 != 0 {
			bad("locate_size %d: want a multiple of 32 below size %d", c.LocateSize, c.Size)
		}
	}
	if c.CropSize != 0 {
		if c.Focus != FocusSCDACrop || c.LocateSize != 0 {
			bad("crop_size %d needs focus %s and no locate_size", c.CropSize, FocusSCDACrop)
		}
		if c.CropSize < 32 || c.CropSize >= c.Size || c.CropSize%32 != 0 {
			bad("crop_size %d: want a multiple of 32 below size %d", c.CropSize, c.Size)
		}
	}
	return errors.Join(errs...)
}

// ModelPath is the absolute path of the ONNX file.
func (c *Card) ModelPath() string {
	if filepath.IsAbs(c.File) || c.path == "" {
		return c.File
	}
	return filepath.Join(filepath.Dir(c.path), c.File)
}

// Path is where the card was loaded from ("" for a card built in code).
func (c *Card) Path() string { return c.path }

// Fingerprint names the model, its exact bytes and its focus step, e.g.
// "efficientnet-lite0@5b35d9cdc090" or "efficientnet-lite0-int8@d9a09b087d2b+scda-crop-c192-k70-s1":
// stored with every vector so vectors made differently are never mixed.
func (c *Card) Fingerprint() string {
	fp := c.Name + "@" + c.SHA256[:12]
	if c.Focus != FocusNone {
		fp += "+" + c.focusTag()
	}
	return fp
}

// focusTag is the focus step as the fingerprint and the cache key name it:
// the focus, plus "-l" and the locate size when the first pass is smaller,
// "-c" and the crop size when the crop passes are,
// "-k" and the crop share percentage above which a crop is not re-embedded,
// and "-s" and the number of zoom steps when not DefaultFocusSteps.
func (c *Card) focusTag() string {
	tag := c.Focus
	if c.LocateSize > 0 {
		tag += fmt.Sprintf("-l%d", c.LocateSize)
	}
	if c.CropSize > 0 {
		tag += fmt.Sprintf("-c%d", c.CropSize)
	}
	if c.CropMaxShare > 0 {
		tag += fmt.Sprintf("-k%g", math.Round(c.CropMaxShare*1000)/10)
	}
	if c.FocusSteps > 0 && c.FocusSteps != DefaultFocusSteps {
		tag += fmt.Sprintf("-s%d", c.FocusSteps)
	}
	return tag
}

// focusSteps is the card's FocusSteps with the default filled in.
func (c *Card) focusSteps() int {
	if c.FocusSteps > 0 {
		return c.FocusSteps
	}
	return DefaultFocusSteps
}

// locateCard is the card the first pass resizes for: c itself, or a copy
// whose Size is LocateSize.
func (c *Card) locateCard() *Card { return c.atFocusSize(c.LocateSize) }

// cropCard is the card the crop passes resize for: c itself, or a copy
// whose Size is CropSize.
func (c *Card) cropCard() *Card { return c.atFocusSize(c.CropSize) }

// atFocusSize is c itself when size is 0 or the card has no crop focus, and
// otherwise a copy of c whose Size is size (a focus pass at another side).
func (c *Card) atFocusSize(size int) *Card {
	if c.Focus != FocusSCDACrop || size == 0 {
		return c
	}
	l := *c
	l.Size = size
	return &l
}

// vectorKey is the hex sha256 the vector cache files vectors under: the
// model's own for the whole-image vectors, a hash of model and focus otherwise,
// so switching the focus step never serves vectors made the other way.
func (c *Card) vectorKey() string {
	if c.Focus == FocusNone {
		return c.SHA256
	}
	sum := sha256.Sum256([]byte(c.SHA256 + "+" + c.focusTag()))
	return hex.EncodeToString(sum[:])
}

// DefaultCardRel is the shipped default model's card, relative to the project root.
const DefaultCardRel = "models/efficientnet-lite0/card.json"

// DefaultCardPath finds the shipped default model's card: beside the
// executable (models/ of an unpacked release archive), then by walking up
// from the working directory and from the executable's directory (a
// checkout). See LocateDefaultCard for the order; the error says what to do.
func DefaultCardPath() (string, error) {
	p, _, err := LocateDefaultCard()
	return p, err
}

// LoadCardOrDefault loads the card at path, or the shipped default model's
// card when path is empty: what every command does with its --model flag.
func LoadCardOrDefault(path string) (*Card, error) {
	if path == "" {
		p, err := DefaultCardPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	return LoadCard(path)
}

// findUp returns the first existing rel found in the working directory, the
// executable's directory, or any of their parents; "" if none.
func findUp(rel string) string {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, rel)
			if _, err := os.Stat(p); err == nil {
				return p
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return ""
}
