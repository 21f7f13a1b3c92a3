/* The protocol's pieces (reference-spec 3-4): the subset and its disjointness from the
 * validation split, steps per epoch, memory drawn fresh and without replacement, the
 * generators' independence, normalisation and flips. */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "memwrap/protocol.h"

static void test_subset_sizes_and_validation_split(void **state) {
    enum { N = 60000, VAL = 6000 };
    int32_t *a = NULL, *b = NULL, *full = NULL;
    int na, nb, nfull;
    TEST_OK(mw_protocol_subset(N, VAL, 1000, 0, &a, &na));
    TEST_OK(mw_protocol_subset(N, VAL, 1000, 1, &b, &nb));
    TEST_OK(mw_protocol_subset(N, VAL, -1, 0, &full, &nfull));
    assert_int_equal(na, 1000);
    assert_int_equal(nfull, N - VAL); /* "full" still removes the validation split */
    /* Within a run: distinct indices, all inside the training pool of that run, which is the
     * full subset's set; the validation examples are never used. */
    char *in_pool = calloc(N, 1), *seen = calloc(N, 1);
    for (int i = 0; i < nfull; i++) in_pool[full[i]] = 1;
    for (int i = 0; i < na; i++) {
        assert_true(a[i] >= 0 && a[i] < N);
        assert_false(seen[a[i]]);
        seen[a[i]] = 1;
        assert_true(in_pool[a[i]]);
    }
    /* Different runs draw different subsets; the same run the same one. */
    int same = 0;
    for (int i = 0; i < na; i++) same += a[i] == b[i];
    assert_true(same < 50);
    int32_t *again = NULL;
    int nagain;
    TEST_OK(mw_protocol_subset(N, VAL, 1000, 0, &again, &nagain));
    assert_memory_equal(a, again, sizeof *a * 1000);
    /* impossible splits */
    int32_t *bad = NULL;
    int nbad;
    assert_int_equal(mw_protocol_subset(100, 100, 10, 0, &bad, &nbad), MW_ERR_INVALID_ARG);
    free(a), free(b), free(full), free(again), free(in_pool), free(seen);
}

static void test_steps_per_epoch_drop_the_last_batch(void **state) {
    assert_int_equal(mw_protocol_steps_per_epoch(1000, 128), 7); /* 896 images seen */
    assert_int_equal(mw_protocol_steps_per_epoch(2000, 128), 15);
    assert_int_equal(mw_protocol_steps_per_epoch(5000, 128), 39);
    assert_int_equal(mw_protocol_steps_per_epoch(67257, 128), 525); /* SVHN full */
    assert_int_equal(mw_protocol_steps_per_epoch(44000, 128), 343); /* CIFAR-10 full */
    assert_int_equal(mw_protocol_steps_per_epoch(89990, 128), 703); /* CINIC-10 full */
}

/* Each step draws M distinct images from the pool; consecutive steps draw fresh sets. */
static void test_memory_draws(void **state) {
    enum { POOL = 1000, M = 100, STEPS = 50 };
    int32_t pool[POOL], scratch[POOL], mem[M], prev[M];
    for (int i = 0; i < POOL; i++) pool[i] = 5000 + 3 * i, scratch[i] = i;
    mw_rng r;
    mw_rng_seed(&r, 3, MW_RNG_MEMORY);
    long hits[POOL] = {0};
    for (int s = 0; s < STEPS; s++) {
        TEST_OK(mw_protocol_draw_memory(&r, pool, POOL, M, scratch, mem));
        char seen[POOL] = {0};
        for (int j = 0; j < M; j++) {
            int k = (mem[j] - 5000) / 3;
            assert_true(k >= 0 && k < POOL && (mem[j] - 5000) % 3 == 0);
            assert_false(seen[k]); /* without replacement within a step */
            seen[k] = 1;
            hits[k]++;
        }
        if (s > 0) assert_true(memcmp(prev, mem, sizeof mem) != 0); /* fresh every step */
        memcpy(prev, mem, sizeof mem);
        for (int i = 0; i < POOL; i++) assert_int_equal(scratch[i], i); /* identity again */
    }
    /* A draw depends on the generator's state alone: the same state, with or without the
     * draws before it, draws the same set (what a resumed run or a fresh evaluation needs). */
    mw_rng saved = r;
    int32_t again[M];
    TEST_OK(mw_protocol_draw_memory(&r, pool, POOL, M, scratch, mem));
    TEST_OK(mw_protocol_draw_memory(&saved, pool, POOL, M, scratch, again));
    assert_memory_equal(mem, again, sizeof mem);
    /* roughly uniform: every pool entry drawn 5 times on average */
    int never = 0;
    for (int i = 0; i < POOL; i++) never += hits[i] == 0;
    assert_true(never < 30);
    assert_int_equal(mw_protocol_draw_memory(&r, pool, 10, 11, scratch, mem), MW_ERR_INVALID_ARG);
}

/* ProtoNet's support sets: every class in each, drawn again when one is missing; the same
 * state draws the same set; a pool without a class or m < classes is an error naming it. */
static void test_support_draws(void **state) {
    enum { POOL = 60, CLASSES = 10, M = 12, STEPS = 200 };
    int32_t labels[POOL + 3], pool[POOL], scratch[POOL], mem[M], again[M];
    for (int i = 0; i < POOL + 3; i++)
        labels[i] = i < 3 ? 9 : (i - 3) % CLASSES; /* dataset index 3 + p has label p % 10 */
    for (int i = 0; i < POOL; i++)
        pool[i] = 3 + i, scratch[i] = i;
    mw_rng r, plain;
    mw_rng_seed(&r, 5, MW_RNG_MEMORY);
    plain = r;
    /* 12 of 60 seldom hold all ten classes (1.3% of draws): almost every set is redrawn */
    int redrawn = 0;
    for (int s = 0; s < STEPS; s++) {
        mw_rng before = r;
        TEST_OK(mw_protocol_draw_support(&r, pool, POOL, M, scratch, labels, CLASSES, mem));
        int count[CLASSES] = {0};
        for (int j = 0; j < M; j++)
            count[labels[mem[j]]]++;
        for (int c = 0; c < CLASSES; c++)
            assert_true(count[c] > 0);
        for (int i = 0; i < POOL; i++)
            assert_int_equal(scratch[i], i);
        TEST_OK(mw_protocol_draw_support(&before, pool, POOL, M, scratch, labels, CLASSES, again));
        assert_memory_equal(mem, again, sizeof mem); /* the state alone decides */
        TEST_OK(mw_protocol_draw_memory(&plain, pool, POOL, M, scratch, again));
        redrawn += memcmp(mem, again, sizeof mem) != 0;
        plain = r;
    }
    assert_true(redrawn > STEPS / 2);
    /* errors: fewer samples than classes; a class missing from the pool */
    assert_int_equal(mw_protocol_draw_support(&r, pool, POOL, 9, scratch, labels, CLASSES, mem),
                     MW_ERR_INVALID_ARG);
    assert_non_null(strstr(mw_error_message(), "10 classes"));
    int32_t odd[POOL]; /* labels 1, 3, 5, 7, 9 only... */
    int n_odd = 0;
    for (int i = 0; i < POOL; i++)
        if (labels[pool[i]] % 2 == 1 || labels[pool[i]] == 0) odd[n_odd++] = pool[i];
    assert_int_equal(mw_protocol_draw_support(&r, odd, n_odd, M, scratch, labels, CLASSES, mem),
                     MW_ERR_INVALID_ARG); /* ... and 0: class 2 is the first missing */
    assert_non_null(strstr(mw_error_message(), "class 2 has no sample"));
}

/* The generators of different purposes are independent streams. */
static void test_generators_per_purpose(void **state) {
    mw_rng a, b, c;
    mw_rng_seed(&a, 7, MW_RNG_SHUFFLE);
    mw_rng_seed(&b, 7, MW_RNG_MEMORY);
    mw_rng_seed(&c, 7, MW_RNG_SHUFFLE);
    uint64_t x = mw_rng_next(&a), y = mw_rng_next(&b), z = mw_rng_next(&c);
    assert_true(x != y);
    assert_true(x == z);
    for (int i = 0; i < 1000; i++) assert_true(mw_rng_below(&a, 7) < 7);
    int32_t perm[50];
    mw_rng_permutation(&a, perm, 50);
    long sum = 0;
    for (int i = 0; i < 50; i++) sum += perm[i];
    assert_int_equal(sum, 49 * 50 / 2);
}

/* A run's generators are mw_rng_seed(run, purpose) for every purpose, and a step's batch is
 * the subset read through the epoch's order (hand-computed). */
static void test_run_generators_and_batches(void **state) {
    mw_rng rngs[MW_RNG_PURPOSES];
    mw_protocol_run_generators(11, rngs);
    for (int p = 0; p < MW_RNG_PURPOSES; p++) {
        mw_rng want;
        mw_rng_seed(&want, 11, (mw_rng_purpose)p);
        assert_true(mw_rng_next(&rngs[p]) == mw_rng_next(&want));
    }
    const int32_t subset[6] = {40, 41, 42, 43, 44, 45}, order[6] = {5, 0, 3, 1, 4, 2};
    int32_t idx[3] = {-1, -1, -1};
    mw_protocol_batch_indices(subset, order, 1, 3, idx); /* positions 1, 4, 2 of the order */
    assert_int_equal(idx[0], 41);
    assert_int_equal(idx[1], 44);
    assert_int_equal(idx[2], 42);
}

static void test_normalisation_and_flip(void **state) {
    uint8_t pixels[2 * 3 * 2 * 3]; /* two 3x2x3 images */
    for (int i = 0; i < (int)sizeof pixels; i++) pixels[i] = (uint8_t)(i * 13);
    mw_dataset d = {"cifar10", 2, 3, 2, 3, 10, pixels, NULL};
    mw_transform t;
    TEST_OK(mw_protocol_transform("cifar10", &t));
    assert_true(t.flip);
    float out[18];
    int32_t idx[1] = {1};
    mw_protocol_fill_batch(&d, idx, 1, &t, NULL, out);
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 6; k++) {
            float want = (pixels[18 + c * 6 + k] / 255.0f - t.mean[c]) / t.std[c];
            assert_true(fabsf(out[c * 6 + k] - want) < 1e-5f);
        }
    /* with a generator, about half the images are mirrored, exactly mirrored */
    mw_rng r;
    mw_rng_seed(&r, 1, MW_RNG_AUGMENT);
    int flipped = 0;
    for (int rep = 0; rep < 200; rep++) {
        float f[18];
        mw_protocol_fill_batch(&d, idx, 1, &t, &r, f);
        bool mirrored = true, same = true;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 3; x++) {
                    mirrored &= f[c * 6 + y * 3 + x] == out[c * 6 + y * 3 + (2 - x)];
                    same &= f[c * 6 + y * 3 + x] == out[c * 6 + y * 3 + x];
                }
        assert_true(mirrored || same);
        flipped += mirrored;
    }
    assert_true(flipped > 70 && flipped < 130);
    TEST_OK(mw_protocol_transform("svhn", &t));
    assert_false(t.flip);
    assert_int_equal(mw_protocol_transform("imagenet", &t), MW_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subset_sizes_and_validation_split),
        cmocka_unit_test(test_steps_per_epoch_drop_the_last_batch),
        cmocka_unit_test(test_memory_draws),
        cmocka_unit_test(test_support_draws),
        cmocka_unit_test(test_generators_per_purpose),
        cmocka_unit_test(test_run_generators_and_batches),
        cmocka_unit_test(test_normalisation_and_flip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
