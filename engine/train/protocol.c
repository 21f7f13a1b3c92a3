/* See memwrap/protocol.h. */
#include <stdlib.h>
#include <string.h>

#include "memwrap/protocol.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void mw_rng_seed(mw_rng *r, uint64_t seed, mw_rng_purpose purpose) {
    uint64_t x = seed * 0x100000001B3ull ^ ((uint64_t)purpose << 56) ^ 0x6D656D7772617021ull;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t mw_rng_next(mw_rng *r) { /* xoshiro256** */
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t mw_rng_below(mw_rng *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    uint64_t x;
    do
        x = mw_rng_next(r);
    while (x >= limit);
    return x % n;
}

void mw_rng_permutation(mw_rng *r, int32_t *out, int n) {
    for (int i = 0; i < n; i++)
        out[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)mw_rng_below(r, (uint64_t)i + 1);
        int32_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

mw_status mw_protocol_subset(int dataset_count, int validation, long size, uint64_t run_seed,
                             int32_t **out, int *count) {
    *out = NULL;
    *count = 0;
    if (validation < 0 || validation >= dataset_count)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "validation split of %d leaves no training data "
                            "out of %d examples",
                            validation, dataset_count);
    int rest = dataset_count - validation;
    int n = (size < 0 || size > rest) ? rest : (int)size;
    int32_t *perm1 = malloc((size_t)dataset_count * sizeof *perm1);
    int32_t *perm2 = malloc((size_t)rest * sizeof *perm2);
    int32_t *subset = malloc((size_t)(n ? n : 1) * sizeof *subset);
    if (!perm1 || !perm2 || !subset) {
        free(perm1), free(perm2), free(subset);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory drawing the subset");
    }
    mw_rng r;
    mw_rng_seed(&r, run_seed, MW_RNG_SUBSET);
    mw_rng_permutation(&r, perm1, dataset_count); /* [0, rest) train pool, the rest validation */
    mw_rng_permutation(&r, perm2, rest);
    for (int i = 0; i < n; i++)
        subset[i] = perm1[perm2[i]];
    free(perm1), free(perm2);
    *out = subset;
    *count = n;
    return MW_OK;
}

int mw_protocol_steps_per_epoch(int count, int batch) {
    return batch > 0 ? count / batch : 0;
}

void mw_protocol_run_generators(uint64_t run, mw_rng rngs[MW_RNG_PURPOSES]) {
    for (int r = 0; r < MW_RNG_PURPOSES; r++)
        mw_rng_seed(&rngs[r], run, (mw_rng_purpose)r);
}

void mw_protocol_batch_indices(const int32_t *subset, const int32_t *order, int step, int batch,
                               int32_t *idx) {
    for (int i = 0; i < batch; i++)
        idx[i] = subset[order[(size_t)step * batch + i]];
}

mw_status mw_protocol_draw_memory(mw_rng *r, const int32_t *pool, int pool_count, int m,
                                  int32_t *scratch, int32_t *out) {
    if (m > pool_count)
        return mw_error_set(MW_ERR_INVALID_ARG, "memory of %d examples drawn from %d", m,
                            pool_count);
    /* A partial Fisher-Yates over the identity permutation in scratch; out[j] holds the
     * position swapped with j until the swaps are undone below. */
    for (int j = 0; j < m; j++) {
        int k = j + (int)mw_rng_below(r, (uint64_t)(pool_count - j));
        int32_t t = scratch[j];
        scratch[j] = scratch[k];
        scratch[k] = t;
        out[j] = k;
    }
    /* Undone in reverse, scratch is the identity again: each draw then depends only on the
     * generator's state, which resume files keep, and not on the draws before it (a run
     * resumed mid-way, or a checkpoint evaluated in a fresh process, draws what the
     * uninterrupted run drew). */
    for (int j = m - 1; j >= 0; j--) {
        int k = out[j];
        int32_t drawn = scratch[j];
        scratch[j] = scratch[k];
        scratch[k] = drawn;
        out[j] = pool[drawn];
    }
    return MW_OK;
}

/* The first class of 0..classes-1 with no sample among idx[0..n), or -1. */
static int missing_class(const int32_t *idx, int n, const int32_t *labels, int classes) {
    for (int c = 0; c < classes; c++) {
        int j = 0;
        while (j < n && labels[idx[j]] != c)
            j++;
        if (j == n) return c;
    }
    return -1;
}

mw_status mw_protocol_check_support(const int32_t *pool, int pool_count, int m,
                                    const int32_t *labels, int classes) {
    if (m < classes)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "protonet: a support set of %d samples (memory_examples) cannot hold "
                            "every one of %d classes",
                            m, classes);
    if (m > pool_count)
        return mw_error_set(MW_ERR_INVALID_ARG, "memory of %d examples drawn from %d", m,
                            pool_count);
    int c = missing_class(pool, pool_count, labels, classes);
    if (c >= 0)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "protonet: class %d has no sample among the %d the support sets are "
                            "drawn from, so no prototype; use more training examples",
                            c, pool_count);
    return MW_OK;
}

mw_status mw_protocol_draw_support(mw_rng *r, const int32_t *pool, int pool_count, int m,
                                   int32_t *scratch, const int32_t *labels, int classes,
                                   int32_t *out) {
    /* With every class in the pool each draw holds them all with a probability that is far
     * from 0 for the paper's 100 of 10 classes (1 − 3e-4); the bound only ends a hopeless
     * case, such as m = classes from a pool dominated by one class. */
    enum { MAX_DRAWS = 1 << 20 };
    for (long k = 0; k < MAX_DRAWS; k++) {
        /* the whole pool is scanned only when a draw misses a class (rare), not every step */
        if (k == 1 || m < classes)
            MW_TRY(mw_protocol_check_support(pool, pool_count, m, labels, classes));
        MW_TRY(mw_protocol_draw_memory(r, pool, pool_count, m, scratch, out));
        if (missing_class(out, m, labels, classes) < 0) return MW_OK;
    }
    return mw_error_set(MW_ERR_INVALID_ARG,
                        "protonet: %d support draws of %d samples from %d never held all %d "
                        "classes; raise memory_examples",
                        MAX_DRAWS, m, pool_count, classes);
}

/* (mean, std) per channel after ToTensor: reference-spec 3.4 for SVHN (ImageNet statistics),
 * CIFAR-10 and CINIC-10; for Fashion-MNIST and MNIST (not in the reference) the statistics
 * of their training sets: 0.2860/0.3530 and 0.1307/0.3081. */
static const struct {
    const char *name;
    mw_transform t;
} transforms[] = {
    {"svhn", {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, false}},
    {"cifar10", {{0.4914f, 0.4822f, 0.4465f}, {0.2023f, 0.1994f, 0.2010f}, true}},
    {"cinic10",
     {{0.47889522f, 0.47227842f, 0.43047404f}, {0.24205776f, 0.23828046f, 0.25874835f}, true}},
    {"fashion-mnist", {{0.2860f, 0.2860f, 0.2860f}, {0.3530f, 0.3530f, 0.3530f}, false}},
    {"mnist", {{0.1307f, 0.1307f, 0.1307f}, {0.3081f, 0.3081f, 0.3081f}, false}},
};

mw_status mw_protocol_transform(const char *dataset, mw_transform *out) {
    for (size_t i = 0; i < sizeof transforms / sizeof transforms[0]; i++)
        if (strcmp(dataset, transforms[i].name) == 0) {
            *out = transforms[i].t;
            return MW_OK;
        }
    return mw_error_set(MW_ERR_INVALID_ARG, "no normalisation known for dataset '%s'", dataset);
}

void mw_protocol_fill_image(const mw_dataset *d, int32_t index, const mw_transform *t, bool flip,
                            float *out) {
    size_t plane = (size_t)d->height * d->width, image = plane * d->channels;
    const uint8_t *src = d->images + (size_t)index * image;
    for (int c = 0; c < d->channels; c++) {
        float scale = 1.0f / (255.0f * t->std[c]), shift = t->mean[c] / t->std[c];
        for (int y = 0; y < d->height; y++)
            for (int x = 0; x < d->width; x++) {
                int sx = flip ? d->width - 1 - x : x;
                size_t at = c * plane + (size_t)y * d->width;
                out[at + x] = src[at + sx] * scale - shift;
            }
    }
}

bool mw_protocol_draw_flip(mw_rng *flip_rng) {
    return mw_rng_next(flip_rng) >> 63;
}

void mw_protocol_fill_batch(const mw_dataset *d, const int32_t *idx, int n, const mw_transform *t,
                            mw_rng *flip_rng, float *out) {
    size_t image = (size_t)d->height * d->width * d->channels;
    for (int i = 0; i < n; i++)
        mw_protocol_fill_image(d, idx[i], t, flip_rng && mw_protocol_draw_flip(flip_rng),
                               out + (size_t)i * image);
}
