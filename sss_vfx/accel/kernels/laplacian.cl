/* Graph Laplacian of a CSR affinity: L = D - W, D = diag(row sums of W).
 *
 * One work item per row. Every row must hold its diagonal entry (explicit zero if need
 * be); the diagonal of L is the sum of the row's off-diagonal weights (a self-loop
 * W_ii cancels in D - W), every other entry is -W_ij.
 *
 * Build options: -DREAL=double|float, -DINDEX_T=int|long, -DSSS_FP64 with double.
 */
#ifdef SSS_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

__kernel void csr_laplacian(__global const INDEX_T *indptr, __global const INDEX_T *indices,
                            __global const REAL *weights, const INDEX_T rows,
                            __global REAL *out)
{
    const INDEX_T row = get_global_id(0);
    if (row >= rows)
        return;
    const INDEX_T start = indptr[row], stop = indptr[row + 1];
    REAL off_diagonal = 0;
    for (INDEX_T k = start; k < stop; ++k)
        if (indices[k] != row)
            off_diagonal += weights[k];
    for (INDEX_T k = start; k < stop; ++k)
        out[k] = indices[k] == row ? off_diagonal : -weights[k];
}
