/* Graph builders for every op. Each appends one node (or a few, for composites such as
 * mw_distance) and returns the output tensor id, or -1 (see memwrap/graph.h). Shapes are
 * row-major; a "matrix" is a 2-D tensor [rows, cols]. */
#ifndef MEMWRAP_OPS_H
#define MEMWRAP_OPS_H

#include "memwrap/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* C = op(A) op(B), op = transpose when the flag is set (CLBlast SGEMM). */
int mw_matmul(mw_graph *g, int a, int b, bool transpose_a, bool transpose_b);

/* y = x wᵀ + b, x [N, in], w [out, in], b [out] or -1 for no bias (PyTorch nn.Linear). */
int mw_linear(mw_graph *g, int x, int w, int b);

int mw_relu(mw_graph *g, int x);

/* y = alpha x + beta, elementwise. */
int mw_affine(mw_graph *g, int x, float alpha, float beta);

/* y = a + b, same shapes. */
int mw_add(mw_graph *g, int a, int b);

/* [a, b] along features (columns): a [N, p], b [N, q] -> [N, p + q]. */
int mw_concat_cols(mw_graph *g, int a, int b);

/* Columns [start, start + count) of x [N, C]. */
int mw_slice_cols(mw_graph *g, int x, int start, int count);

/* x / sqrt(sum_k x_k² + eps) per row (memorywrap's _vector_norms: eps inside the root). */
int mw_row_normalize(mw_graph *g, int x, float eps);

/* D_ij = sum_k (a_ik - b_jk)², a [N, d], b [M, d] -> [N, M] (squared, no root). */
int mw_pairwise_sqdist(mw_graph *g, int a, int b);

/* Memory Wrap distances between queries e [N, d] and memory m [M, d] -> D [N, M]:
 * "cosine" 1 - ê m̂ᵀ (eps 1e-6 inside the norms' root), "l2" squared euclidean,
 * "dot" -e mᵀ. An unknown name is an error that lists the valid ones. */
int mw_distance(mw_graph *g, int e, int m, const char *name);
extern const char *const mw_distance_names[]; /* NULL-terminated */

/* sparsemax over each row (Martins & Astudillo 2016, entmax's SparsemaxFunction). */
int mw_sparsemax(mw_graph *g, int z);

/* Mean softmax cross-entropy of logits [N, C] against int32 labels [N]: a [1] tensor. */
int mw_softmax_cross_entropy(mw_graph *g, int logits, int labels);

#ifdef __cplusplus
}
#endif
#endif
