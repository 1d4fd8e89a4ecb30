// The inner loops of fastResizeToTensor (fastresize.go): a separable filter
// from 8-bit RGBA to the model's float input tensor. GCC/Clang vector
// extensions keep the four channels of a pixel in one SSE register (x86-64's
// baseline), so every filter tap is one multiply-add for the whole pixel.
// essync_resize_rgba_avx2 is the same filter for CPUs with AVX2 (chosen at
// run time, essync_resize_avx2_ok): two pixels per 256-bit register, the
// vertical pass fused with the scale/shift and planar store. It multiplies
// and adds in the SSE kernel's order, without FMA (its target has none, so the
// compiler cannot contract them): the tensors are bit-identical, and so are
// the vectors — an int8 model's input quantisation turns even a last-bit
// difference into a changed vector.

#include <stdint.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <stdlib.h>

#include "fastresize.h"

typedef float v4f __attribute__((vector_size(16)));

static inline v4f px4(const unsigned char *p) {
	v4f v = {(float)p[0], (float)p[1], (float)p[2], (float)p[3]};
	return v;
}

// hrow filters one source row (RGBA, src_w pixels) into out_w pixels of four
// floats: the row is converted to floats once (into tmp), then two outputs at
// a time so the additions of two independent sums overlap.
static void hrow(const unsigned char *row, int src_w, int out_w, int nx, const int *xs, const float *xw, v4f *tmp,
                 v4f *out) {
	for (int i = 0; i < src_w; i++) tmp[i] = px4(row + 4 * i);
	int x = 0;
	for (; x + 1 < out_w; x += 2) {
		const v4f *p0 = tmp + xs[x], *p1 = tmp + xs[x + 1];
		const float *w0 = xw + x * nx, *w1 = w0 + nx;
		v4f a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
		for (int k = 0; k < nx; k++) {
			a0 += p0[k] * w0[k];
			a1 += p1[k] * w1[k];
		}
		out[x] = a0;
		out[x + 1] = a1;
	}
	for (; x < out_w; x++) {
		const v4f *p0 = tmp + xs[x];
		const float *w0 = xw + x * nx;
		v4f a0 = {0, 0, 0, 0};
		for (int k = 0; k < nx; k++) a0 += p0[k] * w0[k];
		out[x] = a0;
	}
}

static inline float clamp255(float v) { return v < 0 ? 0 : (v > 255 ? 255 : v); }

int essync_resize_rgba(const unsigned char *src, int stride, int src_w, int out_w, int out_h,
                        int nx, const int *xs, const float *xw, int ny, const int *ys, const float *yw,
                        float *dst, int size, int left, int top, int nhwc, const float *scale, const float *shift) {
	// ny rows of out_w pixels (source row r lives in slot r % ny), one more for the
	// vertical sums, and one source row as floats. malloc's alignment suits the vectors.
	v4f *ring = malloc(sizeof(v4f) * ((size_t)(ny + 1) * (size_t)out_w + (size_t)src_w));
	if (!ring) return -1;
	v4f *acc = ring + ny * out_w, *rowf = acc + out_w;
	int have = ys[0];            // the next source row to filter horizontally
	int plane = size * size;
	for (int y = 0; y < out_h; y++) {
		int y0 = ys[y];
		if (have < y0) have = y0;
		for (; have < y0 + ny; have++) hrow(src + (long)have * stride, src_w, out_w, nx, xs, xw, rowf, ring + (have % ny) * out_w);
		const float *w = yw + y * ny;
		int o = (top + y) * size + left;
		for (int x = 0; x < out_w; x++) acc[x] = ring[(y0 % ny) * out_w + x] * w[0];
		for (int k = 1; k < ny; k++) {
			const v4f *row = ring + ((y0 + k) % ny) * out_w;
			float wk = w[k];
			for (int x = 0; x < out_w; x++) acc[x] += row[x] * wk;
		}
		for (int x = 0; x < out_w; x++) {
			v4f a = acc[x];
			float r = clamp255(a[0]) * scale[0] + shift[0];
			float g = clamp255(a[1]) * scale[1] + shift[1];
			float b = clamp255(a[2]) * scale[2] + shift[2];
			if (nhwc) {
				float *d = dst + 3 * (o + x);
				d[0] = r, d[1] = g, d[2] = b;
			} else {
				dst[o + x] = r, dst[plane + o + x] = g, dst[2 * plane + o + x] = b;
			}
		}
	}
	free(ring);
	return 0;
}

#if defined(__x86_64__) || defined(__i386__)
int essync_resize_avx2_ok(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}

// hrow_avx2 converts one source row to floats (two pixels per step) into tmp,
// then filters it into out_w RGBA float pixels (out), four outputs per step:
// outputs x and x+1 share a register, their taps weighted by xw2's pair table
// (for pair x/2 and tap k: w[x][k] four times, then w[x+1][k] four times).
__attribute__((target("avx2"))) static void hrow_avx2(const unsigned char *row, int src_w, int out_w, int nx,
                                                          const int *xs, const float *xw2, float *tmp, float *out) {
	int i = 0;
	for (; i + 2 <= src_w; i += 2) {
		__m128i b = _mm_loadl_epi64((const __m128i *)(row + 4 * i));
		_mm256_store_ps(tmp + 4 * i, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)));
	}
	for (; i < src_w; i++)
		for (int c = 0; c < 4; c++) tmp[4 * i + c] = (float)row[4 * i + c];
	int x = 0;
	for (; x + 4 <= out_w; x += 4) {
		const float *p0 = tmp + 4 * xs[x], *p1 = tmp + 4 * xs[x + 1], *p2 = tmp + 4 * xs[x + 2],
		            *p3 = tmp + 4 * xs[x + 3];
		const float *w01 = xw2 + (size_t)(x / 2) * nx * 8, *w23 = w01 + nx * 8;
		__m256 a01 = _mm256_setzero_ps(), a23 = _mm256_setzero_ps();
		for (int k = 0; k < nx; k++) {
			__m256 v01 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_load_ps(p0 + 4 * k)), _mm_load_ps(p1 + 4 * k), 1);
			__m256 v23 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_load_ps(p2 + 4 * k)), _mm_load_ps(p3 + 4 * k), 1);
			a01 = _mm256_add_ps(_mm256_mul_ps(v01, _mm256_loadu_ps(w01 + 8 * k)), a01);
			a23 = _mm256_add_ps(_mm256_mul_ps(v23, _mm256_loadu_ps(w23 + 8 * k)), a23);
		}
		_mm256_store_ps(out + 4 * x, a01);
		_mm256_store_ps(out + 4 * x + 8, a23);
	}
	for (; x < out_w; x++) {
		const float *p = tmp + 4 * xs[x];
		const float *w = xw2 + (size_t)(x / 2) * nx * 8 + 4 * (x & 1);
		__m128 a = _mm_setzero_ps();
		for (int k = 0; k < nx; k++) a = _mm_add_ps(_mm_mul_ps(_mm_load_ps(p + 4 * k), _mm_loadu_ps(w + 8 * k)), a);
		_mm_store_ps(out + 4 * x, a);
	}
}

// finish_px clamps one filtered RGBA pixel, scales and shifts it, and stores
// its three channels at tensor position o.
__attribute__((target("avx2"))) static inline void finish_px(__m128 a, float *dst, int o, int plane, int nhwc,
                                                                 __m128 sc, __m128 sh) {
	a = _mm_add_ps(_mm_mul_ps(_mm_min_ps(_mm_max_ps(a, _mm_setzero_ps()), _mm_set1_ps(255)), sc), sh);
	float v[4];
	_mm_storeu_ps(v, a);
	if (nhwc) {
		float *d = dst + 3 * o;
		d[0] = v[0], d[1] = v[1], d[2] = v[2];
	} else {
		dst[o] = v[0], dst[plane + o] = v[1], dst[2 * plane + o] = v[2];
	}
}

// essync_resize_rgba_avx2: see the header. scratch holds at least
// ny*rowlen + 4*src_w + 16 floats (rowlen = 4*out_w rounded up to 8); rows
// start 32-byte aligned inside it.
__attribute__((target("avx2"))) int essync_resize_rgba_avx2(
    const unsigned char *src, int stride, int src_w, int out_w, int out_h, int nx, const int *xs, const float *xw2,
    int ny, const int *ys, const float *yw, float *dst, int size, int left, int top, int nhwc, const float *scale,
    const float *shift, float *scratch) {
	size_t rowlen = ((size_t)out_w * 4 + 7) & ~(size_t)7;
	float *ring = (float *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
	float *rowf = ring + (size_t)ny * rowlen;
	const float *rp[ny];
	int have = ys[0]; // the next source row to filter horizontally
	int plane = size * size;
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	const __m256 zero = _mm256_setzero_ps(), top255 = _mm256_set1_ps(255);
	const __m256 sR = _mm256_set1_ps(scale[0]), sG = _mm256_set1_ps(scale[1]), sB = _mm256_set1_ps(scale[2]);
	const __m256 hR = _mm256_set1_ps(shift[0]), hG = _mm256_set1_ps(shift[1]), hB = _mm256_set1_ps(shift[2]);
	const __m128 sc = _mm_setr_ps(scale[0], scale[1], scale[2], 0), sh = _mm_setr_ps(shift[0], shift[1], shift[2], 0);
	for (int y = 0; y < out_h; y++) {
		int y0 = ys[y];
		if (have < y0) have = y0;
		for (; have < y0 + ny; have++)
			hrow_avx2(src + (long)have * stride, src_w, out_w, nx, xs, xw2, rowf, ring + (size_t)(have % ny) * rowlen);
		const float *w = yw + (size_t)y * ny;
		for (int k = 0; k < ny; k++) rp[k] = ring + (size_t)((y0 + k) % ny) * rowlen;
		int o = (top + y) * size + left;
		int x = 0;
		for (; x + 8 <= out_w; x += 8) { // eight pixels: four registers of two
			const float *r0 = rp[0] + 4 * x;
			__m256 wk = _mm256_set1_ps(w[0]);
			__m256 a = _mm256_mul_ps(_mm256_loadu_ps(r0), wk), b = _mm256_mul_ps(_mm256_loadu_ps(r0 + 8), wk);
			__m256 c = _mm256_mul_ps(_mm256_loadu_ps(r0 + 16), wk), d = _mm256_mul_ps(_mm256_loadu_ps(r0 + 24), wk);
			for (int k = 1; k < ny; k++) {
				const float *r = rp[k] + 4 * x;
				wk = _mm256_set1_ps(w[k]);
				a = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(r), wk), a);
				b = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(r + 8), wk), b);
				c = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(r + 16), wk), c);
				d = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(r + 24), wk), d);
			}
			if (nhwc) {
				__m256 v[4] = {a, b, c, d};
				for (int j = 0; j < 4; j++) {
					finish_px(_mm256_castps256_ps128(v[j]), dst, o + x + 2 * j, plane, 1, sc, sh);
					finish_px(_mm256_extractf128_ps(v[j], 1), dst, o + x + 2 * j + 1, plane, 1, sc, sh);
				}
				continue;
			}
			// RGBA×8 to R×8, G×8, B×8 (a 4×4 transpose per lane, then the lanes' order).
			__m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
			__m256 t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
			__m256 R = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t0, t2, 0x44), perm);
			__m256 G = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t0, t2, 0xEE), perm);
			__m256 B = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t1, t3, 0x44), perm);
			_mm256_storeu_ps(dst + o + x, _mm256_add_ps(_mm256_mul_ps(_mm256_min_ps(_mm256_max_ps(R, zero), top255), sR), hR));
			_mm256_storeu_ps(dst + plane + o + x, _mm256_add_ps(_mm256_mul_ps(_mm256_min_ps(_mm256_max_ps(G, zero), top255), sG), hG));
			_mm256_storeu_ps(dst + 2 * plane + o + x, _mm256_add_ps(_mm256_mul_ps(_mm256_min_ps(_mm256_max_ps(B, zero), top255), sB), hB));
		}
		for (; x < out_w; x++) {
			__m128 a = _mm_mul_ps(_mm_loadu_ps(rp[0] + 4 * x), _mm_set1_ps(w[0]));
			for (int k = 1; k < ny; k++) a = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(rp[k] + 4 * x), _mm_set1_ps(w[k])), a);
			finish_px(a, dst, o + x, plane, nhwc, sc, sh);
		}
	}
	return 0;
}

#else // not x86: the SSE-named kernel (plain vector extensions) is the only one

int essync_resize_avx2_ok(void) { return 0; }

int essync_resize_rgba_avx2(const unsigned char *src, int stride, int src_w, int out_w, int out_h, int nx,
                            const int *xs, const float *xw2, int ny, const int *ys, const float *yw, float *dst,
                            int size, int left, int top, int nhwc, const float *scale, const float *shift,
                            float *scratch) {
	return -1;
}
#endif

// essync_opaque_rgba reports whether every pixel of the w×h RGBA block has
// alpha 255: image.NRGBA.Opaque's answer, eight bytes at a time (Go's loop
// checks one byte per iteration and cost a tenth of the AVX2 resize).
int essync_opaque_rgba(const unsigned char *p, int stride, int w, int h) {
	const uint64_t alpha = 0xff000000ff000000ull;
	for (int y = 0; y < h; y++) {
		const unsigned char *row = p + (long)y * stride;
		uint64_t acc = alpha;
		int x = 0;
		for (; x + 2 <= w; x += 2) {
			uint64_t v;
			__builtin_memcpy(&v, row + 4 * x, 8);
			acc &= v;
		}
		if ((acc & alpha) != alpha) return 0;
		if (x < w && row[4 * x + 3] != 255) return 0;
	}
	return 1;
}
