// The inner loops of fastResizeToTensor (fastresize.go): a separable filter
// from 8-bit RGBA to the model's float input tensor. GCC/Clang vector
// extensions keep the four channels of a pixel in one SSE register (x86-64's
// baseline), so every filter tap is one multiply-add for the whole pixel.

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
