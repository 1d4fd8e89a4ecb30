// essync_resize_rgba: see fastresize.c and fastResizeToTensor in fastresize.go.
// It returns 0, or -1 when its row buffer cannot be allocated.
int essync_resize_rgba(const unsigned char *src, int stride, int src_w, int out_w, int out_h,
                       int nx, const int *xs, const float *xw, int ny, const int *ys, const float *yw,
                       float *dst, int size, int left, int top, int nhwc, const float *scale, const float *shift);
