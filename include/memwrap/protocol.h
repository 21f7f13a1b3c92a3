/* The paper's training protocol as pure functions (reference-spec 3-4), separate from the
 * device so that each piece is unit-tested: seeded random streams per purpose, the
 * validation split and the run's training subset, epoch shuffling with the last partial
 * batch dropped, fresh memory draws, normalisation and flips. */
#ifndef MEMWRAP_PROTOCOL_H
#define MEMWRAP_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memwrap/data.h"
#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One generator per purpose, so that e.g. changing the memory size does not change the
 * training subset. xoshiro256** seeded through splitmix64 from (run seed, purpose). */
typedef enum mw_rng_purpose {
    MW_RNG_SUBSET = 0, /* validation split and training subset */
    MW_RNG_SHUFFLE,    /* epoch order */
    MW_RNG_MEMORY,     /* memory draws (training and evaluation) */
    MW_RNG_AUGMENT,    /* horizontal flips */
    MW_RNG_INIT,       /* parameter initialisation */
    MW_RNG_PURPOSES
} mw_rng_purpose;

typedef struct mw_rng {
    uint64_t s[4];
} mw_rng;

void mw_rng_seed(mw_rng *r, uint64_t seed, mw_rng_purpose purpose);
uint64_t mw_rng_next(mw_rng *r);
/* Uniform integer in [0, n), without modulo bias. */
uint64_t mw_rng_below(mw_rng *r, uint64_t n);

/* Fisher-Yates permutation of 0..n-1. */
void mw_rng_permutation(mw_rng *r, int32_t *out, int n);

/* The run's training subset (reference split_dataset): a random permutation removes
 * `validation` examples, then `size` of the rest (all if size < 0 or larger) are taken in
 * a second random order. *out (malloc'd) holds dataset indices; *count its length. */
mw_status mw_protocol_subset(int dataset_count, int validation, long size, uint64_t run_seed,
                             int32_t **out, int *count);

/* Steps per epoch with the last partial batch dropped: floor(count / batch). */
int mw_protocol_steps_per_epoch(int count, int batch);

/* A run's generators, one per purpose, all seeded by the run (what `memwrap train` draws
 * from: the initial parameters from MW_RNG_INIT's first value, an epoch's order as one
 * mw_rng_permutation of MW_RNG_SHUFFLE, then per step the memory from MW_RNG_MEMORY). */
void mw_protocol_run_generators(uint64_t run, mw_rng rngs[MW_RNG_PURPOSES]);

/* The dataset indices of step `step` of an epoch: subset[order[step batch + i]], i < batch,
 * where order is that epoch's permutation of the subset's positions. */
void mw_protocol_batch_indices(const int32_t *subset, const int32_t *order, int step, int batch,
                               int32_t *idx);

/* Draws `m` distinct entries of pool[0..pool_count) into out, uniformly: a partial
 * Fisher-Yates over `scratch`, which must hold the identity permutation 0..pool_count-1 and
 * holds it again on return, so the draw depends on the generator's state alone. */
mw_status mw_protocol_draw_memory(mw_rng *r, const int32_t *pool, int pool_count, int m,
                                  int32_t *scratch, int32_t *out);

/* Protonet's support set: mw_protocol_draw_memory repeated until the m samples hold every
 * class of labels (indexed by dataset index, classes 0..classes-1). A class without a sample
 * has no prototype: the reference's mean of none is NaN, which skips that training step
 * (GradScaler) and fails every prediction of that evaluation batch; memwrap draws again.
 * MW_ERR_INVALID_ARG, naming the class, when the pool lacks one or m < classes (check it
 * before training with mw_protocol_check_support). */
mw_status mw_protocol_draw_support(mw_rng *r, const int32_t *pool, int pool_count, int m,
                                   int32_t *scratch, const int32_t *labels, int classes,
                                   int32_t *out);
mw_status mw_protocol_check_support(const int32_t *pool, int pool_count, int m,
                                    const int32_t *labels, int classes);

/* Per-dataset normalisation (mean, std per channel) and whether training flips images. */
typedef struct mw_transform {
    float mean[3], std[3];
    bool flip; /* RandomHorizontalFlip(p=0.5) in training (CIFAR-10, CINIC-10) */
} mw_transform;
mw_status mw_protocol_transform(const char *dataset, mw_transform *out);

/* Writes image `index` of d as normalised float32 [C, H, W], mirrored left-right with `flip`. */
void mw_protocol_fill_image(const mw_dataset *d, int32_t index, const mw_transform *t, bool flip,
                            float *out);

/* One draw of RandomHorizontalFlip(p=0.5): true to mirror. */
bool mw_protocol_draw_flip(mw_rng *flip_rng);

/* Writes images idx[0..n) of d as normalised float32 [n, C, H, W]; with `flip_rng`, each
 * image is mirrored left-right with probability 1/2 (mw_protocol_draw_flip for every image,
 * in order). */
void mw_protocol_fill_batch(const mw_dataset *d, const int32_t *idx, int n, const mw_transform *t,
                            mw_rng *flip_rng, float *out);

#ifdef __cplusplus
}
#endif
#endif
