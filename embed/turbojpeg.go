package embed

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef void *tjhandle;
typedef tjhandle (*tj_init_t)(void);
typedef int (*tj_header_t)(tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *);
typedef int (*tj_decompress_t)(tjhandle, const unsigned char *, unsigned long, unsigned char *, int, int, int, int, int);
typedef int (*tj_destroy_t)(tjhandle);
typedef char *(*tj_errstr_t)(tjhandle);

static tj_init_t p_init;
static tj_header_t p_header;
static tj_decompress_t p_decompress;
static tj_destroy_t p_destroy;
static tj_errstr_t p_errstr;

// tj_load binds the TurboJPEG functions essync uses from the library at path.
static int tj_load(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) return -1;
	p_init = (tj_init_t)dlsym(h, "tjInitDecompress");
	p_header = (tj_header_t)dlsym(h, "tjDecompressHeader3");
	p_decompress = (tj_decompress_t)dlsym(h, "tjDecompress2");
	p_destroy = (tj_destroy_t)dlsym(h, "tjDestroy");
	p_errstr = (tj_errstr_t)dlsym(h, "tjGetErrorStr2");
	if (!p_init || !p_header || !p_decompress || !p_destroy || !p_errstr) {
		dlclose(h);
		return -2;
	}
	return 0;
}

static const char *tj_dlerror(void) { const char *e = dlerror(); return e ? e : "unknown"; }

// tj_decode decompresses buf into dst (RGBA, width*4 pitch) at the given scaled size.
// It returns 0, or -1 with the library's message copied into err.
static int tj_decode(const unsigned char *buf, unsigned long n, unsigned char *dst, int w, int h, int flags,
                     char *err, int errlen) {
	tjhandle t = p_init();
	if (!t) { snprintf(err, errlen, "tjInitDecompress failed"); return -1; }
	// pixel format 7 is TJPF_RGBA
	int rc = p_decompress(t, buf, n, dst, w, w * 4, h, 7, flags);
	if (rc != 0) snprintf(err, errlen, "%s", p_errstr(t));
	p_destroy(t);
	return rc;
}

static int tj_info(const unsigned char *buf, unsigned long n, int *w, int *h, int *cs) {
	tjhandle t = p_init();
	if (!t) return -1;
	int sub;
	int rc = p_header(t, buf, n, w, h, &sub, cs);
	p_destroy(t);
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"sync"
	"unsafe"

	"github.com/disintegration/imaging"
)

// TurboJPEGEnv names the libturbojpeg.so.0 to use for JPEG decoding; "off"
// forces Go's image/jpeg.
const TurboJPEGEnv = "ESSYNC_TURBOJPEG_LIB"

// TurboJPEGLocalRel is where scripts/install-turbojpeg puts the library,
// relative to the project root.
const TurboJPEGLocalRel = ".cache/turbojpeg/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0"

const (
	tjStopOnWarning = 8192 // TJFLAG_STOPONWARNING: a truncated file is an error, not grey fill
	// TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE: ~20% faster decode; the vectors of the
	// reference photos did not change in the 4th decimal of their cosine.
	tjFast   = 2048 | 256
	tjCSCMYK = 3 // TJCS_CMYK
	tjCSYCCK = 4 // TJCS_YCCK
)

var (
	turboOnce sync.Once
	turboLib  string // "" when unavailable
)

// turboJPEG loads libjpeg-turbo's TurboJPEG library once per process: from
// $ESSYNC_TURBOJPEG_LIB, lib/ beside the executable, the project-local copy,
// or the system (turboJPEGSearchPath). It returns
// the library used, or "" when JPEGs go to Go's decoder.
func turboJPEG() string {
	turboOnce.Do(func() {
		var candidates []string
		switch env := os.Getenv(TurboJPEGEnv); env {
		case "off":
		case "":
			candidates = turboJPEGSearchPath()
		default:
			candidates = append(candidates, env)
		}
		for _, c := range candidates {
			cs := C.CString(c)
			rc := C.tj_load(cs)
			C.free(unsafe.Pointer(cs))
			if rc == 0 {
				turboLib = c
				slog.Debug("JPEG decoder: libjpeg-turbo", "lib", c)
				return
			}
			slog.Debug("libjpeg-turbo not loaded", "lib", c, "err", C.GoString(C.tj_dlerror()))
		}
		slog.Info("JPEG decoder: Go image/jpeg (libjpeg-turbo, several times faster, not found; `essync doctor` says how to add it)")
	})
	return turboLib
}

// errTurboUnsupported means "use Go's decoder instead" (CMYK/YCCK, no library).
var errTurboUnsupported = errors.New("not handled by libjpeg-turbo")

// decodeJPEGTurbo decodes a JPEG with libjpeg-turbo, shrunk in the DCT domain
// by the largest factor n/8 that keeps the side chosen by keep (the shorter
// side for crop, the longer for pad) at least minSide pixels (minSide 0 =
// full size). EXIF orientation is applied.
func decodeJPEGTurbo(data []byte, minSide int, keepLonger bool) (*image.NRGBA, error) {
	if turboJPEG() == "" || len(data) == 0 {
		return nil, errTurboUnsupported
	}
	buf := (*C.uchar)(unsafe.Pointer(&data[0]))
	var w, h, cs C.int
	if C.tj_info(buf, C.ulong(len(data)), &w, &h, &cs) != 0 {
		return nil, errTurboUnsupported // let Go's decoder describe the problem
	}
	if cs == tjCSCMYK || cs == tjCSYCCK {
		return nil, errTurboUnsupported
	}
	side := min(int(w), int(h))
	if keepLonger {
		side = max(int(w), int(h))
	}
	num := 8
	if minSide > 0 {
		for n := 1; n < 8; n++ {
			if scaled(side, n) >= minSide {
				num = n
				break
			}
		}
	}
	sw, sh := scaled(int(w), num), scaled(int(h), num)
	img := image.NewNRGBA(image.Rect(0, 0, sw, sh))
	var msg [256]C.char
	if C.tj_decode(buf, C.ulong(len(data)), (*C.uchar)(unsafe.Pointer(&img.Pix[0])), C.int(sw), C.int(sh),
		tjStopOnWarning|tjFast, &msg[0], C.int(len(msg))) != 0 {
		return nil, fmt.Errorf("libjpeg-turbo: %s", C.GoString(&msg[0]))
	}
	return orient(img, jpegOrientation(data)), nil
}

// scaled is TJSCALED(dim, n/8): the size libjpeg-turbo gives for that factor.
func scaled(dim, n int) int { return (dim*n + 7) / 8 }

// orient applies an EXIF orientation (1..8) as a viewer would.
func orient(img *image.NRGBA, o int) *image.NRGBA {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}
