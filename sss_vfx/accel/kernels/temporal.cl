/* Temporal affinity of frame t's pixels to frame t+1's pixels (DESIGN section 2).
 *
 *   W_p,q_k = lambda_t c(p) b_k exp(-||I_t(p) - I_t+1(q_k)||^2 / sigma^2)
 *
 * for the four pixels q_k around q = p + F(p) with bilinear weights b_k; pixels q_k
 * outside the frame are dropped. Two launches: temporal_count writes each row's number
 * of entries, the host turns them into CSR row starts, temporal_rows writes the rows.
 *
 * Build options: -DREAL=double|float, -DINDEX_T=int|long, -DSSS_FP64 with double.
 * Frames are (H, W, 3) and the flow (H, W, 2) (x then y) REAL arrays.
 */
#ifdef SSS_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

/* floor(q) of pixel i; false for a non-finite flow vector. */
inline int target(__global const REAL *flow, const int width, const int i,
                  REAL *fx, REAL *fy, int *x0, int *y0)
{
    const REAL qx = (REAL)(i % width) + flow[2 * (size_t)i];
    const REAL qy = (REAL)(i / width) + flow[2 * (size_t)i + 1];
    if (!isfinite(qx) || !isfinite(qy))
        return 0;
    const REAL bx = floor(qx), by = floor(qy);
    *fx = qx - bx;
    *fy = qy - by;
    /* Far outside the frame: clamp before converting, the pixel is dropped anyway. */
    *x0 = (int)clamp(bx, (REAL)-2, (REAL)width + 1);
    *y0 = (int)clamp(by, (REAL)-2, (REAL)1e9);
    return 1;
}

__kernel void temporal_count(__global const REAL *flow, const int height, const int width,
                             __global INDEX_T *counts)
{
    const int i = get_global_id(0);
    if (i >= height * width)
        return;
    REAL fx, fy;
    int x0, y0;
    INDEX_T count = 0;
    if (target(flow, width, i, &fx, &fy, &x0, &y0)) {
        const int nx = (x0 >= 0 && x0 < width) + (x0 + 1 >= 0 && x0 + 1 < width);
        const int ny = (y0 >= 0 && y0 < height) + (y0 + 1 >= 0 && y0 + 1 < height);
        count = nx * ny;
    }
    counts[i] = count;
}

__kernel void temporal_rows(__global const REAL *frame, __global const REAL *next_frame,
                            __global const REAL *flow, __global const REAL *confidence,
                            const int height, const int width, const REAL lambda_t,
                            const REAL inv_sigma2, __global const INDEX_T *indptr,
                            __global REAL *data, __global INDEX_T *indices)
{
    const int i = get_global_id(0);
    if (i >= height * width)
        return;
    REAL fx, fy;
    int x0, y0;
    if (!target(flow, width, i, &fx, &fy, &x0, &y0))
        return;
    const REAL base = lambda_t * confidence[i];
    const REAL r = frame[3 * (size_t)i], g = frame[3 * (size_t)i + 1],
               b = frame[3 * (size_t)i + 2];
    INDEX_T pos = indptr[i];
    for (int dy = 0; dy < 2; ++dy) {
        const int cy = y0 + dy;
        if (cy < 0 || cy >= height)
            continue;
        for (int dx = 0; dx < 2; ++dx) {
            const int cx = x0 + dx;
            if (cx < 0 || cx >= width)
                continue;
            const size_t j = (size_t)cy * width + cx;
            const REAL d0 = r - next_frame[3 * j], d1 = g - next_frame[3 * j + 1],
                       d2 = b - next_frame[3 * j + 2];
            const REAL bilinear = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
            data[pos] = base * bilinear * exp(-(d0 * d0 + d1 * d1 + d2 * d2) * inv_sigma2);
            indices[pos] = (INDEX_T)j;
            ++pos;
        }
    }
}
