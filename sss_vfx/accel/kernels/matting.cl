/* Matting affinity and Laplacian of closed-form matting (Levin et al. 2008), 3x3 windows.
 *
 *   W_ij = sum over windows k holding i and j of (1 + (I_i - mu_k)^T A_k (I_j - mu_k)) / 9,
 *   A_k = (S_k + eps/9 Id)^-1.
 *
 * Gather formulation: each pixel sums, for each of its 25 neighbours, over the windows
 * they share, and writes its own CSR row: no atomics, and a fixed sparsity pattern
 * (every neighbour within distance 2 that lies in the image).
 *
 * Per window, G[a][b] = (1 + v_a . v_b) / 9 for its pixels a, b (row-major positions
 * 0..8), with v_a = L^-1 (I_a - mu) and L the Cholesky factor of S + eps/9 Id; G is
 * symmetric, so 45 values. Two ways to run it:
 *   matting_tile   one kernel: a work group computes the G of the windows over its tile
 *                  of pixels into local memory, then gathers (devices with large local
 *                  memory, e.g. CPUs; build with TILE_W, TILE_H);
 *   window_gram + matting_rows   G of a band of windows in global memory, then the
 *                  gather (devices with small local memory, e.g. GPUs).
 *
 * Build options: -DREAL=double|float, -DINDEX_T=int|long, -DSSS_FP64 with double,
 * -DTILE_W (multiple of 4) and -DTILE_H for matting_tile.
 *
 * Images are (rows, 3, width) REAL (each row holds its R, G and B runs) for a band of
 * image rows that starts at image row img_row0. Work items handle four consecutive
 * windows or pixels as REAL4 vectors, which CPU runtimes map to SIMD registers.
 */
#ifdef SSS_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
typedef CAT(REAL, 4) real4;

/* Packed index of the symmetric pair (a, b), a, b in 0..8, into 45 values. */
#define SYM(a, b) ((a) <= (b) ? (a) * 9 - (a) * ((a) - 1) / 2 + (b) - (a) \
                              : (b) * 9 - (b) * ((b) - 1) / 2 + (a) - (b))

/* Pixels x .. x + 3 of one channel row, clamped to the row. */
inline real4 load_run(__global const REAL *row, const int x, const int width)
{
    if (x >= 0 && x + 3 < width)
        return vload4(0, row + x);
    return (real4)(row[clamp(x, 0, width - 1)], row[clamp(x + 1, 0, width - 1)],
                   row[clamp(x + 2, 0, width - 1)], row[clamp(x + 3, 0, width - 1)]);
}

/* v[a] = L^-1 (I_a - mu) / 3 for the four windows centred at (cy, cx0 .. cx0 + 3), with
 * reads clamped to the band, so any centre is safe to ask for. */
inline void window_vectors(__global const REAL *img, const int width, const int img_row0,
                           const int img_rows, const int cy, const int cx0,
                           const REAL eps9, real4 v[9][3])
{
    __global const REAL *rows3[3];
    for (int a = 0; a < 3; ++a)
        rows3[a] = img + (size_t)(clamp(cy - 1 + a, img_row0, img_row0 + img_rows - 1)
                                  - img_row0) * 3 * width;
    /* Colours relative to the centre pixel: small, and exact for quantised images,
     * so flat windows stay exactly flat. */
    real4 centre[3];
    for (int c = 0; c < 3; ++c)
        centre[c] = load_run(rows3[1] + c * width, cx0, width);
    real4 m[3] = {0, 0, 0};
    for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 3; ++b) {
            for (int c = 0; c < 3; ++c) {
                const real4 d = load_run(rows3[a] + c * width, cx0 - 1 + b, width)
                                - centre[c];
                v[3 * a + b][c] = d;
                m[c] += d;
            }
        }
    }
    for (int c = 0; c < 3; ++c)
        m[c] *= (REAL)(1.0 / 9);
    real4 s00 = 0, s01 = 0, s02 = 0, s11 = 0, s12 = 0, s22 = 0;
    for (int t = 0; t < 9; ++t) {
        v[t][0] -= m[0];
        v[t][1] -= m[1];
        v[t][2] -= m[2];
        s00 += v[t][0] * v[t][0];
        s01 += v[t][0] * v[t][1];
        s02 += v[t][0] * v[t][2];
        s11 += v[t][1] * v[t][1];
        s12 += v[t][1] * v[t][2];
        s22 += v[t][2] * v[t][2];
    }
    const REAL ninth = (REAL)(1.0 / 9);
    s00 = s00 * ninth + eps9;
    s11 = s11 * ninth + eps9;
    s22 = s22 * ninth + eps9;
    s01 *= ninth;
    s02 *= ninth;
    s12 *= ninth;
    /* Cholesky factor of S + eps/9 Id, applied by forward substitution: v_a . v_b is
     * then backward stable, where an explicit inverse is not (in a grey window S is
     * nearly rank one and the entries of its inverse, of order 9/eps, cancel in the
     * quadratic form). The pivots are at least eps/9 in exact arithmetic; the clamp
     * keeps float32 rounding from making them negative. */
    const real4 r00 = 1 / sqrt(s00);
    const real4 l10 = s01 * r00;
    const real4 l20 = s02 * r00;
    const real4 r11 = 1 / sqrt(fmax(s11 - l10 * l10, eps9));
    const real4 l21 = (s12 - l20 * l10) * r11;
    const real4 r22 = 1 / sqrt(fmax(s22 - l20 * l20 - l21 * l21, eps9));
    /* v is returned divided by 3, so that G = 1/9 + v_a . v_b needs no division. */
    const REAL third = (REAL)(1.0 / 3);
    for (int t = 0; t < 9; ++t) {
        const real4 v0 = v[t][0] * r00;
        const real4 v1 = (v[t][1] - l10 * v0) * r11;
        v[t][0] = v0 * third;
        v[t][1] = v1 * third;
        v[t][2] = (v[t][2] - l20 * v0 - l21 * v1) * r22 * third;
    }
}

#define GRAM(v, a, b) \
    ((REAL)(1.0 / 9) + v[a][0] * v[b][0] + v[a][1] * v[b][1] + v[a][2] * v[b][2])

/* Write the CSR rows of pixels (y, x0 .. x0 + 3) from their 25 neighbour sums. */
inline void write_rows(real4 acc[25], const int height, const int width, const int y,
                       const int x0, __global const INDEX_T *row_starts,
                       const INDEX_T base, const int laplacian,
                       __global REAL *data, __global INDEX_T *indices)
{
    if (laplacian) {
        real4 off_diagonal = 0;
        for (int n = 0; n < 25; ++n)
            if (n != 12)
                off_diagonal += acc[n];
        for (int n = 0; n < 25; ++n)
            acc[n] = -acc[n];
        acc[12] = off_diagonal;
    }
    REAL out[25][4];
    for (int n = 0; n < 25; ++n)
        vstore4(acc[n], 0, out[n]);
    if (y >= 2 && y <= height - 3 && x0 >= 2 && x0 + 3 <= width - 3) {
        /* Interior: all 25 neighbours in the image. */
        for (int l = 0; l < 4; ++l) {
            const INDEX_T pos = row_starts[l] - base;
            const INDEX_T col = (INDEX_T)(y - 2) * width + x0 + l - 2;
            for (int n = 0; n < 25; ++n) {
                data[pos + n] = out[n][l];
                indices[pos + n] = col + (n / 5) * width + n % 5;
            }
        }
        return;
    }
    for (int l = 0; l < 4 && x0 + l < width; ++l) {
        const int x = x0 + l;
        INDEX_T pos = row_starts[l] - base;
        for (int n = 0; n < 25; ++n) {
            const int ny = y + n / 5 - 2, nx = x + n % 5 - 2;
            if (ny >= 0 && ny < height && nx >= 0 && nx < width) {
                data[pos] = out[n][l];
                indices[pos] = (INDEX_T)ny * width + nx;
                ++pos;
            }
        }
    }
}

#if defined(TILE_W) && defined(TILE_H)

/* Windows over a tile: centre rows y_tile - 1 .. y_tile + TILE_H, centre columns
 * x_tile - 1 .. x_tile + TILE_W (+ 2 padding columns for whole vectors). */
#define TILE_WIN_W (TILE_W + 4)
#define TILE_WIN_H (TILE_H + 2)
#define TILE_PLANE (TILE_WIN_W * TILE_WIN_H)

/* CSR rows of the pixels on image rows row0 .. row0 + rows - 1. Work group: a tile of
 * TILE_H rows by TILE_W pixels; work item (tx, ty) handles pixels 4 tx .. 4 tx + 3 of
 * row ty of the tile. starts[(y - row0) * width + x] - base is where pixel (y, x)'s row
 * begins in data and indices; its in-image 5x5 neighbours are written there in
 * ascending column order. laplacian != 0 writes L = D - W instead of W (diagonal: the
 * sum of the row's off-diagonal weights). */
__kernel __attribute__((reqd_work_group_size(TILE_W / 4, TILE_H, 1)))
void matting_tile(__global const REAL *img, const int height, const int width,
                  const int img_row0, const int img_rows, const int row0, const int rows,
                  const REAL eps9, __global const INDEX_T *starts, const INDEX_T base,
                  const int laplacian, __global REAL *data, __global INDEX_T *indices)
{
    __local REAL gram[45 * TILE_PLANE];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int x_tile = get_group_id(0) * TILE_W;
    const int y_tile = row0 + get_group_id(1) * TILE_H;

    /* Phase 1: G of every window over the tile, zero for centres outside the image
     * (they hold no complete window), so the gather needs no masks. */
    for (int g = ty * (TILE_W / 4) + tx; g < TILE_WIN_H * (TILE_WIN_W / 4);
         g += (TILE_W / 4) * TILE_H) {
        const int wr = g / (TILE_WIN_W / 4), wc = 4 * (g % (TILE_WIN_W / 4));
        const int cy = y_tile - 1 + wr, cx0 = x_tile - 1 + wc;
        real4 v[9][3];
        window_vectors(img, width, img_row0, img_rows, cy, cx0, eps9, v);
#define CENTRE_OK(c) ((c) >= 1 && (c) <= width - 2 ? (REAL)1 : (REAL)0)
        const real4 valid = (cy >= 1 && cy <= height - 2)
            ? (real4)(CENTRE_OK(cx0), CENTRE_OK(cx0 + 1), CENTRE_OK(cx0 + 2),
                      CENTRE_OK(cx0 + 3))
            : (real4)0;
#undef CENTRE_OK
        __local REAL *dst = gram + wr * TILE_WIN_W + wc;
        for (int a = 0; a < 9; ++a)
            for (int b = a; b < 9; ++b)
                vstore4(valid * GRAM(v, a, b), 0, dst + SYM(a, b) * TILE_PLANE);
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    /* Phase 2: window centred at (y + wy - 1, x + wx - 1) holds pixel (y, x) at
     * position a = 8 - (3 wy + wx), and its pixel b = 3 by + bx is neighbour
     * n = 5 (wy + by) + wx + bx of (y, x). */
    const int y = y_tile + ty, x0 = x_tile + 4 * tx;
    if (y >= row0 + rows || x0 >= width)
        return;
    real4 acc[25];
    for (int n = 0; n < 25; ++n)
        acc[n] = 0;
    for (int wy = 0; wy < 3; ++wy) {
        for (int wx = 0; wx < 3; ++wx) {
            const int a = 8 - (3 * wy + wx);
            __local const REAL *src = gram + (ty + wy) * TILE_WIN_W + 4 * tx + wx;
            for (int by = 0; by < 3; ++by)
                for (int bx = 0; bx < 3; ++bx)
                    acc[5 * (wy + by) + wx + bx] +=
                        vload4(0, src + SYM(a, 3 * by + bx) * TILE_PLANE);
        }
    }
    write_rows(acc, height, width, y, x0, starts + (size_t)(y - row0) * width + x0, base,
               laplacian, data, indices);
}

#endif

/* Two-pass form, pass 1: G of the windows centred on image rows win_row0 ..
 * win_row0 + win_rows - 1 and columns 1 .. width - 2, stored value-major as
 * gram[SYM(a, b) * nwin + k], window k = (cy - win_row0) * (width - 2) + cx - 1. Work
 * item (g, wy) handles the windows centred at columns 1 + 4g .. 4 + 4g of window row
 * wy. */
__kernel void window_gram(__global const REAL *img, const int width, const int img_row0,
                          const int img_rows, const int win_row0, const int win_rows,
                          const REAL eps9, __global REAL *gram)
{
    const int cx0 = 1 + 4 * (int)get_global_id(0);
    const int wy = get_global_id(1);
    if (cx0 > width - 2 || wy >= win_rows)
        return;
    real4 v[9][3];
    window_vectors(img, width, img_row0, img_rows, win_row0 + wy, cx0, eps9, v);
    const int nwin = (width - 2) * win_rows;
    const int k = wy * (width - 2) + cx0 - 1;
    const int lanes = min(4, width - 1 - cx0);
    for (int a = 0; a < 9; ++a) {
        for (int b = a; b < 9; ++b) {
            const real4 g = GRAM(v, a, b);
            __global REAL *out = gram + (size_t)SYM(a, b) * nwin + k;
            if (lanes == 4) {
                vstore4(g, 0, out);
            } else {
                out[0] = g.s0;
                if (lanes > 1) out[1] = g.s1;
                if (lanes > 2) out[2] = g.s2;
            }
        }
    }
}

/* Entries of four consecutive windows (centre columns c0 .. c0 + 3) of one value
 * plane; zero for centres outside 1 .. width - 2. */
inline real4 gram_run(__global const REAL *plane, const int c0, const int width)
{
    if (c0 >= 1 && c0 + 3 <= width - 2)
        return vload4(0, plane + c0 - 1);
    real4 r;
    r.s0 = (c0 >= 1 && c0 <= width - 2) ? plane[c0 - 1] : 0;
    r.s1 = (c0 + 1 >= 1 && c0 + 1 <= width - 2) ? plane[c0] : 0;
    r.s2 = (c0 + 2 >= 1 && c0 + 2 <= width - 2) ? plane[c0 + 1] : 0;
    r.s3 = (c0 + 3 >= 1 && c0 + 3 <= width - 2) ? plane[c0 + 2] : 0;
    return r;
}

/* Two-pass form, pass 2: CSR rows of the pixels on image rows row0 .. row0 + rows - 1;
 * work item (g, yb) handles pixels 4g .. 4g + 3 of row row0 + yb. Arguments as for
 * matting_tile. */
__kernel void matting_rows(const int height, const int width,
                           __global const REAL *gram, const int win_row0, const int win_rows,
                           const int row0, const int rows,
                           __global const INDEX_T *starts, const INDEX_T base,
                           const int laplacian,
                           __global REAL *data, __global INDEX_T *indices)
{
    const int x0 = 4 * (int)get_global_id(0);
    const int yb = get_global_id(1);
    if (x0 >= width || yb >= rows)
        return;
    const int y = row0 + yb;
    const int nwin = (width - 2) * win_rows;
    real4 acc[25];
    for (int n = 0; n < 25; ++n)
        acc[n] = 0;
    for (int wy = 0; wy < 3; ++wy) {
        const int cy = y + wy - 1;
        if (cy < 1 || cy > height - 2)
            continue;
        __global const REAL *wrow = gram + (size_t)(cy - win_row0) * (width - 2);
        for (int wx = 0; wx < 3; ++wx) {
            const int a = 8 - (3 * wy + wx);
            for (int by = 0; by < 3; ++by)
                for (int bx = 0; bx < 3; ++bx)
                    acc[5 * (wy + by) + wx + bx] += gram_run(
                        wrow + (size_t)SYM(a, 3 * by + bx) * nwin, x0 + wx - 1, width);
        }
    }
    write_rows(acc, height, width, y, x0, starts + (size_t)yb * width + x0, base,
               laplacian, data, indices);
}
