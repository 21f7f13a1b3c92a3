/* Mean softmax cross-entropy (torch.nn.CrossEntropyLoss, reduction 'mean') and mean squared
 * error (torch.nn.MSELoss). */
#include "softmax_fn.clh"
#include "row_group.clh"

/* One work-group of at most MW_CE_GROUP items, any number (a shared define,
 * engine/runtime/kernel_defines.h): each work-item takes rows lid, lid + L, ...; writes each
 * row's softmax to probs (kept for the backward) and adds its loss, then the group sums the
 * partial losses in local memory. A label outside [0, classes) yields NaN, which the trainer reports. */
__kernel void softmax_ce_f32(__global const float *logits, __global const int *labels,
                             __global float *loss, __global float *probs, const uint rows,
                             const uint classes) {
    __local float partial[MW_CE_GROUP];
    uint lid = get_local_id(0), size = get_local_size(0);
    float acc = 0.0f;
    for (uint r = lid; r < rows; r += size) {
        __global const float *x = logits + r * classes;
        float2 ms = softmax_row(x, probs + r * classes, classes);
        int y = labels[r];
        acc += (y >= 0 && (uint)y < classes) ? log(ms.y) - (x[y] - ms.x) : NAN;
    }
    partial[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    /* Halving with the odd one out carried: any group size, not only powers of two. */
    for (uint n = size; n > 1;) {
        uint upper = (n + 1) / 2; /* where the upper part starts */
        if (lid + upper < n) partial[lid] += partial[lid + upper];
        barrier(CLK_LOCAL_MEM_FENCE);
        n = upper;
    }
    if (lid == 0) loss[0] = partial[0] / (float)rows;
}

/* glogits = gloss · (softmax − onehot(label)) / rows */
__kernel void softmax_ce_bwd_f32(__global const float *gloss, __global const float *probs,
                                 __global const int *labels, __global float *glogits,
                                 const uint rows, const uint classes) {
    uint i = get_global_id(0);
    if (i >= rows * classes) return;
    uint r = i / classes, c = i % classes;
    float onehot = labels[r] == (int)c ? 1.0f : 0.0f;
    glogits[i] = gloss[0] * (probs[i] - onehot) / (float)rows;
}

/* loss[0] = Σ (a − b)² / n: one work-group over all n values, as a row of cl/row_group.clh
 * (float16 runs, the ragged tail element by element, then the group's sum). */
__kernel void mse_loss_f32(__global const float *a, __global const float *b, __global float *loss,
                           const uint n) {
    __local float2 scratch[MW_ROW_MAX_GROUP];
    float16 acc = 0.0f;
    ROW_LOOP(n, {
        float16 d = data_lanes(load_lanes(a, at, lanes) - load_lanes(b, at, lanes), lanes);
        acc += d * d;
    })
    float total = group_sum_lanes(acc, 0.0f, scratch).x;
    if (get_local_id(0) == 0) loss[0] = total / (float)n;
}

/* g = scale · gloss · (a − b), scale = 2/n for a's gradient, −2/n for b's. */
__kernel void mse_loss_bwd_f32(__global const float *gloss, __global const float *a,
                               __global const float *b, __global float *g, const float scale,
                               const uint n) {
    uint i = get_global_id(0);
    if (i < n) g[i] = scale * gloss[0] * (a[i] - b[i]);
}
