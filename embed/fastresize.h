// essync_resize_rgba: see fastresize.c and fastResizeToTensor in fastresize.go.
// It returns 0, or -1 when its row buffer cannot be allocated.
int essync_resize_rgba(const unsigned char *src, int stride, int src_w, int out_w, int out_h,
                       int nx, const int *xs, const float *xw, int ny, const int *ys, const float *yw,
                       float *dst, int size, int left, int top, int nhwc, const float *scale, const float *shift);

// essync_resize_avx2_ok reports whether this CPU runs essync_resize_rgba_avx2 (AVX2).
int essync_resize_avx2_ok(void);

// essync_resize_rgba_avx2 is essync_resize_rgba for AVX2 CPUs (same result, bit for bit): xw2 is the
// pair-expanded horizontal weight table (fastresize.go's tapTable.w2) and
// scratch a caller-owned buffer (no malloc per call). It returns 0.
int essync_resize_rgba_avx2(const unsigned char *src, int stride, int src_w, int out_w, int out_h,
                            int nx, const int *xs, const float *xw2, int ny, const int *ys, const float *yw,
                            float *dst, int size, int left, int top, int nhwc, const float *scale, const float *shift,
                            float *scratch);

// essync_opaque_rgba reports whether every pixel of a w×h RGBA block has alpha 255.
int essync_opaque_rgba(const unsigned char *p, int stride, int w, int h);
