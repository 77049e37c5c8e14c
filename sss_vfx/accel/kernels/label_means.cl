/* Per-label sums of per-pixel values (superpixel means of colour and features).
 *
 * A reduction over labels with integer atomics only: each value is mapped to a fixed
 * point number q in [0, 2^31] ((v - lo) * scale, rounded) and added to a 64-bit sum
 * held as two 32-bit words, the carry going to the high word. Integer addition is
 * associative, so the sums do not depend on the order work items run in: the result
 * is the same bit for bit on every run and every device.
 *
 * Each work item walks CHUNK consecutive pixels and sums runs of equal labels
 * privately, touching the shared sums once per run: superpixels are spatially
 * coherent, so runs along a row are long and atomics few.
 *
 * Build options: -DREAL=double|float, -DSSS_FP64 with double, -DCHANNELS=C,
 * -DCHUNK=pixels per work item.
 */
#ifdef SSS_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

inline void flush(__global uint *sums, __global uint *counts, const int label,
                  const uint count, const ulong run[CHANNELS])
{
    atomic_add(counts + label, count);
    for (int c = 0; c < CHANNELS; ++c) {
        __global uint *word = sums + 2 * ((size_t)label * CHANNELS + c);
        const uint low = (uint)run[c], high = (uint)(run[c] >> 32);
        const uint old = atomic_add(word, low);
        atomic_add(word + 1, high + (old + low < old ? 1u : 0u));
    }
}

/* labels: (n,) int; values: (n, CHANNELS) REAL; sums: (labels, CHANNELS, 2) uint, low
 * word first; counts: (labels,) uint. */
__kernel void label_sums(__global const int *labels, __global const REAL *values,
                         __global const REAL *lo, __global const REAL *scale,
                         const long n, __global uint *sums, __global uint *counts)
{
    const long first = (long)get_global_id(0) * CHUNK;
    if (first >= n)
        return;
    const long last = min(first + CHUNK, n);
    REAL lo_c[CHANNELS], scale_c[CHANNELS];
    ulong run[CHANNELS];
    for (int c = 0; c < CHANNELS; ++c) {
        lo_c[c] = lo[c];
        scale_c[c] = scale[c];
        run[c] = 0;
    }
    int label = labels[first];
    uint count = 0;
    for (long i = first; i < last; ++i) {
        const int s = labels[i];
        if (s != label) {
            flush(sums, counts, label, count, run);
            label = s;
            count = 0;
            for (int c = 0; c < CHANNELS; ++c)
                run[c] = 0;
        }
        ++count;
        for (int c = 0; c < CHANNELS; ++c)
            run[c] += (ulong)((values[i * CHANNELS + c] - lo_c[c]) * scale_c[c] + (REAL)0.5);
    }
    flush(sums, counts, label, count, run);
}
