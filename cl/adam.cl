/* torch.optim.Adam (amsgrad off), fused over the whole parameter arena. The host computes the
 * bias corrections of step t in double: step_size = lr / (1 - beta1^t) and
 * bc2_sqrt = sqrt(1 - beta2^t). On the first step the moments are taken as zero whatever the
 * buffers hold (they are not cleared when allocated). */
__kernel void adam_step_f32(__global float *p, __global const float *g, __global float *m,
                            __global float *v, const uint n, const float step_size,
                            const float beta1, const float beta2, const float eps,
                            const float weight_decay, const float bc2_sqrt, const int first_step) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float d = g[i] + weight_decay * p[i];
    float mi = (1.0f - beta1) * d, vi = (1.0f - beta2) * d * d;
    if (!first_step) {
        mi += beta1 * m[i];
        vi += beta2 * v[i];
    }
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * (mi / (sqrt(vi) / bc2_sqrt + eps));
}
