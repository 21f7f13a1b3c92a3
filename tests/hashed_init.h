/* Deterministic "hashed" initialisation shared with tests/reference/make_encoder_reference.py,
 * so that encoder reference files need not store weights: C rebuilds exactly the float32
 * values PyTorch started from.
 *
 * Stream of a tensor named NAME (its state_dict key, or "input" / "memory"), n elements:
 *   state = FNV-1a 64 of the UTF-8 bytes of NAME (offset 0xcbf29ce484222325,
 *           prime 0x100000001b3, no terminating NUL)
 *   for k = 0 .. n-1 (row-major order of the tensor):
 *     state += 0x9E3779B97F4A7C15                      (mod 2^64)
 *     z = state; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *                z = (z ^ (z >> 27)) * 0x94D049BB133111EB;  z ^= z >> 31   (splitmix64)
 *     u = (double)(z >> 40) / 2^24                      (in [0,1), exact)
 *     p = b * u   (rounded to double: never fused with the addition)
 *     out[k] = (float)(a + p)                           (round to nearest even)
 * Element k depends only on NAME and k: a shorter tensor with the same name is a prefix.
 *
 * (a, b) by the last dot-separated component of NAME, where W is the tensor named
 * "<prefix>.weight" (the same prefix as NAME; for a ".weight" name, the tensor itself):
 *   no '.' in NAME ("input", "memory")       a = -1,    b = 2
 *   ".running_mean"                           a = -0.1,  b = 0.2
 *   ".running_var"                            a = 0.5,   b = 1.0
 *   ".num_batches_tracked"                    a = 0,     b = 0      (value 0)
 *   ".weight" or ".bias", W has ndim >= 2     a = -s,    b = 2s,  s = 1/sqrt(fan_in),
 *        (conv / linear)                      fan_in = W.shape[1] * ... * W.shape[ndim-1]
 *                                             (in_channels/groups * kh * kw, or in_features)
 *   ".weight", W has ndim == 1 (BN gamma)     a = 0.75,  b = 0.5
 *   ".bias",   W has ndim == 1 (BN beta)      a = -0.1,  b = 0.2
 *   anything else (or W with ndim 0)          error
 * s is computed as 1.0 / sqrt((double)fan_in), a = -s, b = 2.0 * s (all exact IEEE ops). */
#ifndef MEMWRAP_TEST_HASHED_INIT_H
#define MEMWRAP_TEST_HASHED_INIT_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64-bit of the bytes of a NUL-terminated string. */
uint64_t hashed_fnv1a64(const char *s);

/* Fills out[0..n) with the stream of `name` mapped to float32(a + b*u). */
void hashed_fill(const char *name, float *out, size_t n, double a, double b);

/* Picks (a, b) for `name` by the rules above. weight_ndim / weight_shape describe the tensor
 * "<prefix>.weight" (for a ".weight" name: the tensor itself); they are ignored for running
 * stats, num_batches_tracked and input names (pass 0 / NULL). Returns 0, or -1 (a, b
 * untouched) for a name/shape the rules do not cover. */
int hashed_init_range(const char *name, int weight_ndim, const int64_t *weight_shape, double *a,
                      double *b);

/* hashed_init_range + hashed_fill. Returns 0, or -1 (out untouched) on an unknown name. */
int hashed_init_tensor(const char *name, int weight_ndim, const int64_t *weight_shape, float *out,
                       size_t n);

#endif
