/* torch.optim.SGD with dampening 0, fused over the whole parameter arena. */
__kernel void sgd_step_f32(__global float *p, __global const float *g, __global float *buf,
                           const uint n, const float lr, const float momentum,
                           const float weight_decay, const int nesterov, const int first_step) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float d = g[i] + weight_decay * p[i];
    if (momentum != 0.0f) {
        float b = first_step ? d : momentum * buf[i] + d;
        buf[i] = b;
        d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
}
