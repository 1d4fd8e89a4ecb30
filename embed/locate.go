package embed

import (
	"fmt"
	"os"
	"path/filepath"

	ort "github.com/yalue/onnxruntime_go"
)

// Where essync finds its default model card, the ONNX Runtime library and
// libjpeg-turbo. The first match wins, in this order:
//
//  1. an explicit path: --model / ESSYNC_MODEL, --ort-lib / ESSYNC_ORT_LIB,
//     ESSYNC_TURBOJPEG_LIB ("off" turns libjpeg-turbo off);
//  2. the release layout beside the executable: an unpacked release archive
//     keeps bin/essync, lib/ and models/ side by side, so <exe>/../models/…
//     and <exe>/../lib/… (symlinks to the executable are followed);
//  3. an essync checkout: the project-relative path (models/…, and .cache/…
//     where scripts/setup installs the libraries), walking up from the
//     working directory, then from the executable's folder;
//  4. for libjpeg-turbo only, the system's libturbojpeg.so.0.
//
// A binary that finds nothing says what is missing and how to get it;
// `essync doctor` checks all of it at once.

// ReleaseORTLibRel is the ONNX Runtime library in a release archive,
// relative to its root (the folder holding bin/).
const ReleaseORTLibRel = "lib/libonnxruntime.so.1"

// ReleaseTurboJPEGRel is libjpeg-turbo's TurboJPEG library in a release
// archive, relative to its root.
const ReleaseTurboJPEGRel = "lib/libturbojpeg.so.0"

// Sources a Locate function reports, saying which rule found a file.
const (
	SourceFlag     = "flag"
	SourceEnv      = "environment"
	SourceRelease  = "release (beside the executable)"
	SourceCheckout = "checkout"
	SourceSystem   = "system"
)

// ReleaseRoot is the folder above the running executable's folder: the root
// of an unpacked release archive when the executable is its bin/essync. It is
// "" when the executable cannot be found.
func ReleaseRoot() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Dir(filepath.Dir(exe))
}

// besideExecutable returns ReleaseRoot()/rel if that file exists, else "".
func besideExecutable(rel string) string {
	root := ReleaseRoot()
	if root == "" {
		return ""
	}
	p := filepath.Join(root, rel)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// lookedIn describes the default places searched, for error messages.
func lookedIn(releaseRel, checkoutRel string) string {
	wd, _ := os.Getwd()
	return fmt.Sprintf("no %s beside the essync executable, no %s above the working directory %s or the executable",
		filepath.Join(ReleaseRoot(), releaseRel), checkoutRel, wd)
}

// LocateDefaultCard finds the shipped default model's card (DefaultCardRel):
// beside the executable first (release layout), then in a checkout. It
// returns the path and which rule found it.
func LocateDefaultCard() (path, source string, err error) {
	if p := besideExecutable(DefaultCardRel); p != "" {
		return p, SourceRelease, nil
	}
	if p := findUp(DefaultCardRel); p != "" {
		return p, SourceCheckout, nil
	}
	return "", "", fmt.Errorf("default model card not found (%s); to fix: unpack the essync release archive and run "+
		"its bin/essync (it finds models/ beside it), or pass --model / ESSYNC_MODEL=<card.json>; "+
		"`essync doctor` checks everything essync needs",
		lookedIn(DefaultCardRel, DefaultCardRel))
}

// LocateORTLibrary finds the ONNX Runtime shared library: explicit (the
// --ort-lib flag, which also reads ESSYNC_ORT_LIB) if set, else
// $ESSYNC_ORT_LIB, else lib/ beside the executable, else .cache/ort of a
// checkout. It returns the path and which rule found it.
func LocateORTLibrary(explicit string) (path, source string, err error) {
	for _, c := range []struct{ from, source, path string }{
		{"--ort-lib", SourceFlag, explicit},
		{ORTEnv, SourceEnv, os.Getenv(ORTEnv)},
	} {
		if c.path == "" {
			continue
		}
		if _, err := os.Stat(c.path); err != nil {
			return "", "", fmt.Errorf("%w: %s=%s: %v; %s", ErrORTMissing, c.from, c.path, err, ortHowTo)
		}
		return c.path, c.source, nil
	}
	if p := besideExecutable(ReleaseORTLibRel); p != "" {
		return p, SourceRelease, nil
	}
	if p := findUp(ORTLocalRel); p != "" {
		return p, SourceCheckout, nil
	}
	return "", "", fmt.Errorf("%w (%s); %s", ErrORTMissing, lookedIn(ReleaseORTLibRel, ORTLocalRel), ortHowTo)
}

// turboJPEGSearchPath lists the libjpeg-turbo libraries to try when
// ESSYNC_TURBOJPEG_LIB is unset: beside the executable, the checkout's copy
// from scripts/install-turbojpeg, then the system's (by soname, for dlopen).
func turboJPEGSearchPath() []string {
	var paths []string
	if p := besideExecutable(ReleaseTurboJPEGRel); p != "" {
		paths = append(paths, p)
	}
	if p := findUp(TurboJPEGLocalRel); p != "" {
		paths = append(paths, p)
	}
	return append(paths, "libturbojpeg.so.0")
}

// TurboJPEGLibrary loads libjpeg-turbo if it can (once per process) and
// returns the library in use, or "" when JPEGs are decoded by Go's
// image/jpeg. libjpeg-turbo is optional: it only makes decoding faster.
func TurboJPEGLibrary() string { return turboJPEG() }

// ORTVersion loads the ONNX Runtime library (found as FindORTLibrary does,
// once per process) and returns its version string as the library reports
// it (OrtGetApiBase()->GetVersionString), with the library's path. No model
// or session is needed.
func ORTVersion(explicit string) (version, path string, err error) {
	path, err = FindORTLibrary(explicit)
	if err != nil {
		return "", "", err
	}
	if err := initORT(path); err != nil {
		return "", path, err
	}
	return ort.GetVersion(), path, nil
}
