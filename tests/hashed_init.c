/* Hashed initialisation (see hashed_init.h); mirrors make_encoder_reference.py. */
#include "hashed_init.h"

#include <math.h>
#include <string.h>

uint64_t hashed_fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

void hashed_fill(const char *name, float *out, size_t n, double a, double b) {
    uint64_t state = hashed_fnv1a64(name);
    for (size_t k = 0; k < n; k++) {
        state += 0x9E3779B97F4A7C15ull;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        double u = (double)(z >> 40) / 16777216.0;
        /* volatile: the product is rounded to double before the addition, as in numpy;
         * no compiler may fuse it into an FMA. */
        volatile double p = b * u;
        out[k] = (float)(a + p);
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

int hashed_init_range(const char *name, int weight_ndim, const int64_t *weight_shape, double *a,
                      double *b) {
    double ra, rb;
    if (!strchr(name, '.')) {
        ra = -1.0, rb = 2.0;
    } else if (ends_with(name, ".running_mean")) {
        ra = -0.1, rb = 0.2;
    } else if (ends_with(name, ".running_var")) {
        ra = 0.5, rb = 1.0;
    } else if (ends_with(name, ".num_batches_tracked")) {
        ra = 0.0, rb = 0.0;
    } else if (ends_with(name, ".weight") || ends_with(name, ".bias")) {
        int is_weight = ends_with(name, ".weight");
        if (weight_ndim >= 2) {
            if (!weight_shape) return -1;
            int64_t fan_in = 1;
            for (int i = 1; i < weight_ndim; i++)
                fan_in *= weight_shape[i];
            if (fan_in <= 0) return -1;
            double s = 1.0 / sqrt((double)fan_in);
            ra = -s, rb = 2.0 * s;
        } else if (weight_ndim == 1) {
            if (is_weight)
                ra = 0.75, rb = 0.5;
            else
                ra = -0.1, rb = 0.2;
        } else {
            return -1;
        }
    } else {
        return -1;
    }
    *a = ra;
    *b = rb;
    return 0;
}

int hashed_init_tensor(const char *name, int weight_ndim, const int64_t *weight_shape, float *out,
                       size_t n) {
    double a, b;
    if (hashed_init_range(name, weight_ndim, weight_shape, &a, &b) != 0) return -1;
    hashed_fill(name, out, n, a, b);
    return 0;
}
