/* The hashed initialisation (tests/hashed_init.h) against the values Python produced
 * (tests/reference/make_encoder_reference.py -> encoder_hash_check.safetensors): bit-exact
 * streams, the (a, b) rule, and coverage of every state_dict key of the reference encoders
 * (encoder_keys.txt). Needs no OpenCL device. */
#include "hashed_init.h"
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct hash_case {
    const char *name;
    int ndim;
    int64_t shape[4];
    int weight_ndim; /* shape of "<prefix>.weight"; 0 when the rule ignores it */
    int64_t weight_shape[4];
} hash_case;

/* The same list as HASH_CHECKS in make_encoder_reference.py. */
static const hash_case cases[] = {
    {"input", 4, {4, 3, 32, 32}, 0, {0}},
    {"memory", 4, {6, 3, 32, 32}, 0, {0}},
    {"conv1.weight", 4, {32, 3, 3, 3}, 4, {32, 3, 3, 3}},
    {"layers.0.conv2.weight", 4, {32, 1, 3, 3}, 4, {32, 1, 3, 3}},
    {"layers.0.bn1.weight", 1, {32}, 1, {32}},
    {"layers.0.bn1.bias", 1, {32}, 1, {32}},
    {"layers.0.bn1.running_mean", 1, {32}, 0, {0}},
    {"layers.0.bn1.running_var", 1, {32}, 0, {0}},
    {"layers.0.bn1.num_batches_tracked", 0, {0}, 0, {0}},
    {"layers.1.se.se1.weight", 4, {4, 96, 1, 1}, 4, {4, 96, 1, 1}},
    {"layers.1.se.se1.bias", 1, {4}, 4, {4, 96, 1, 1}},
    {"linear.weight", 2, {10, 1280}, 2, {10, 1280}},
    {"linear.bias", 1, {10}, 2, {10, 1280}},
    {"mw.classifier.fc1.bias", 1, {5120}, 2, {5120, 2560}},
    {"layer4.1.conv2.weight", 4, {512, 512, 3, 3}, 4, {512, 512, 3, 3}},
};

static size_t numel_of(int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    return n;
}

static double *read_f64(const mw_safetensors *st, const char *name, size_t n) {
    double *out = malloc(n * sizeof *out);
    assert_non_null(out);
    TEST_OK(mw_safetensors_read_f64(st, name, -1, NULL, out, n));
    return out;
}

/* An I64 tensor's first element as the raw 64-bit pattern (little-endian file). */
static uint64_t read_u64_bits(const mw_safetensors *st, const char *name) {
    const mw_st_tensor *t = mw_safetensors_find(st, name);
    if (!t || t->dtype != MW_ST_I64 || t->numel < 1) {
        print_error("%s: missing or not I64\n", name);
        fail();
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | t->data[i];
    return v;
}

static void test_fnv1a64_known_vectors(void **state) {
    assert_true(hashed_fnv1a64("") == 0xcbf29ce484222325ull);
    assert_true(hashed_fnv1a64("a") == 0xaf63dc4c8601ec8cull);
    assert_true(hashed_fnv1a64("foobar") == 0x85944171f73967e8ull);
}

static void test_matches_python(void **state) {
    mw_safetensors *ref = test_reference("encoder_hash_check.safetensors");
    char key[160];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const hash_case *hc = &cases[c];
        size_t n = numel_of(hc->ndim, hc->shape);

        snprintf(key, sizeof key, "%s.fnv", hc->name);
        if (read_u64_bits(ref, key) != hashed_fnv1a64(hc->name)) {
            print_error("%s: FNV-1a differs from Python\n", hc->name);
            fail();
        }

        double a = NAN, b = NAN;
        assert_int_equal(hashed_init_range(hc->name, hc->weight_ndim, hc->weight_shape, &a, &b), 0);
        snprintf(key, sizeof key, "%s.ab", hc->name);
        double *ab = read_f64(ref, key, 2);
        if (a != ab[0] || b != ab[1]) {
            print_error("%s: (a, b) = (%.17g, %.17g), Python (%.17g, %.17g)\n", hc->name, a, b,
                        ab[0], ab[1]);
            fail();
        }
        free(ab);

        float *v = malloc(n * sizeof *v);
        assert_non_null(v);
        assert_int_equal(hashed_init_tensor(hc->name, hc->weight_ndim, hc->weight_shape, v, n), 0);

        size_t nfirst = n < 64 ? n : 64;
        snprintf(key, sizeof key, "%s.first", hc->name);
        float *first = test_reference_f32(ref, key, nfirst);
        for (size_t i = 0; i < nfirst; i++) {
            if (memcmp(&v[i], &first[i], sizeof(float)) != 0) {
                print_error("%s[%zu]: C %.9g, Python %.9g (must be bit-identical)\n", hc->name, i,
                            (double)v[i], (double)first[i]);
                fail();
            }
        }
        free(first);

        snprintf(key, sizeof key, "%s.index", hc->name);
        int32_t *index = test_reference_i32(ref, key, 8);
        snprintf(key, sizeof key, "%s.sample", hc->name);
        float *sample = test_reference_f32(ref, key, 8);
        for (int i = 0; i < 8; i++) {
            assert_true(index[i] >= 0 && (size_t)index[i] < n);
            if (memcmp(&v[index[i]], &sample[i], sizeof(float)) != 0) {
                print_error("%s[%d]: C %.9g, Python %.9g\n", hc->name, index[i],
                            (double)v[index[i]], (double)sample[i]);
                fail();
            }
        }
        free(index), free(sample);

        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += (double)v[i];
        snprintf(key, sizeof key, "%s.sum", hc->name);
        double *want = read_f64(ref, key, 1);
        if (fabs(sum - want[0]) > 1e-9 * fmax(1.0, fabs(want[0]))) {
            print_error("%s: sum %.17g, Python (exact) %.17g\n", hc->name, sum, want[0]);
            fail();
        }
        free(want);
        free(v);
    }
    mw_safetensors_free(ref);
}

static void test_stream_is_a_prefix(void **state) {
    float a[10], b[100];
    hashed_fill("input", a, 10, -1.0, 2.0);
    hashed_fill("input", b, 100, -1.0, 2.0);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 0; i < 100; i++)
        assert_true(b[i] >= -1.0f && b[i] < 1.0f);
}

static void test_rule_rejects_unknown(void **state) {
    double a = 7, b = 7;
    const int64_t w4[4] = {8, 4, 3, 3}, w0[1] = {0};
    assert_int_equal(hashed_init_range("conv1.kernel", 4, w4, &a, &b), -1);
    assert_int_equal(hashed_init_range("conv1.weight", 0, NULL, &a, &b), -1);
    assert_int_equal(hashed_init_range("conv1.weight", 2, NULL, &a, &b), -1);
    assert_int_equal(hashed_init_range("conv1.weight", 1, w0, &a, &b), 0); /* BN by ndim */
    assert_true(a == 0.75 && b == 0.5);
    assert_int_equal(hashed_init_range("conv1.weight", 4, w4, &a, &b), 0);
    assert_true(b == 2.0 / 6.0 && a == -1.0 / 6.0); /* fan_in 36 */
    a = b = 7;
    assert_int_equal(hashed_init_range("x.bias", 0, NULL, &a, &b), -1);
    assert_true(a == 7 && b == 7);
}

/* Every key of every reference encoder (encoder_keys.txt) is covered by the rule, with the
 * sibling ".weight" found in the same model section. */
static void test_covers_every_encoder_key(void **state) {
    char path[1024];
    snprintf(path, sizeof path, "%s/encoder_keys.txt", MEMWRAP_REFERENCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f) {
        print_error("cannot open %s\n", path);
        fail();
    }
    enum { MAXK = 2048 }; /* DenseNet: 724 tensors */
    static char names[MAXK][96];
    static int64_t shapes[MAXK][4];
    static int ndims[MAXK];
    int count = 0, sections = 0, checked = 0;
    char line[256];
    for (int more = 1; more;) {
        more = fgets(line, sizeof line, f) != NULL;
        if (!more || line[0] == '#') { /* end of a section: check it */
            for (int i = 0; i < count; i++) {
                const char *dot = strrchr(names[i], '.');
                int wi = i; /* ".weight" itself, else look up "<prefix>.weight" */
                if (dot && strcmp(dot, ".bias") == 0) {
                    char wname[96];
                    snprintf(wname, sizeof wname, "%.*s.weight", (int)(dot - names[i]), names[i]);
                    wi = -1;
                    for (int j = 0; j < count; j++)
                        if (strcmp(names[j], wname) == 0) wi = j;
                    assert_true(wi >= 0);
                }
                double a, b;
                if (hashed_init_range(names[i], ndims[wi], shapes[wi], &a, &b) != 0) {
                    print_error("no hashed-init rule for %s\n", names[i]);
                    fail();
                }
                checked++;
            }
            if (count) sections++;
            count = 0;
            continue;
        }
        assert_true(count < MAXK);
        char *open = strchr(line, '[');
        assert_non_null(open); /* "name [d0,d1,...]", "[]" for a scalar */
        assert_int_equal(sscanf(line, "%95s", names[count]), 1);
        ndims[count] = 0;
        for (char *p = open + 1; *p && *p != ']';) {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p) break;
            assert_true(ndims[count] < 4);
            shapes[count][ndims[count]++] = v;
            p = *end == ',' ? end + 1 : end;
        }
        count++;
    }
    fclose(f);
    assert_int_equal(sections, 26); /* 21 models at 3x32x32, 5 at 1x28x28 */
    print_message("[ keys    ] %d tensors in %d encoder models covered\n", checked, sections);
}

/* EfficientNet-B0's unused t=1 expansion (layers.0.conv1 / bn1) gets no gradient: its values
 * after the reference train step are still the hashed initial ones, which C must rebuild. */
static void test_rebuilds_untouched_efficientnet_tensors(void **state) {
    mw_safetensors *ref = test_reference("encoder_efficientnet_b0_encoder_memory.safetensors");
    const int64_t wshape[4] = {32, 32, 1, 1}, bnshape[1] = {32};
    struct {
        const char *name;
        int wndim;
        const int64_t *wshape;
        int from_file; /* running stats: (a, b) from init.<key>.ab */
    } t[] = {
        {"layers.0.conv1.weight", 4, wshape, 0},  {"layers.0.bn1.weight", 1, bnshape, 0},
        {"layers.0.bn1.bias", 1, bnshape, 0},     {"layers.0.bn1.running_mean", 0, NULL, 1},
        {"layers.0.bn1.running_var", 0, NULL, 1},
    };
    char key[160];
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        size_t n = t[k].wndim == 4 ? 1024 : 32;
        float v[1024];
        double a, b;
        if (t[k].from_file) {
            snprintf(key, sizeof key, "init.%s.ab", t[k].name);
            double *ab = read_f64(ref, key, 2);
            a = ab[0], b = ab[1];
            free(ab);
        } else {
            assert_int_equal(hashed_init_range(t[k].name, t[k].wndim, t[k].wshape, &a, &b), 0);
        }
        hashed_fill(t[k].name, v, n, a, b);
        snprintf(key, sizeof key, "after.%s.index", t[k].name);
        int32_t *index = test_reference_i32(ref, key, 8);
        snprintf(key, sizeof key, "after.%s.sample", t[k].name);
        double *sample = read_f64(ref, key, 8);
        for (int i = 0; i < 8; i++) {
            if ((double)v[index[i]] != sample[i]) {
                print_error("%s[%d]: C %.17g, PyTorch %.17g\n", t[k].name, index[i],
                            (double)v[index[i]], sample[i]);
                fail();
            }
        }
        double sum = 0, sumsq = 0;
        for (size_t i = 0; i < n; i++)
            sum += v[i], sumsq += (double)v[i] * v[i];
        snprintf(key, sizeof key, "after.%s.sum", t[k].name);
        double *ws = read_f64(ref, key, 1);
        snprintf(key, sizeof key, "after.%s.sumsq", t[k].name);
        double *wq = read_f64(ref, key, 1);
        assert_true(fabs(sum - ws[0]) <= 1e-12 * fmax(1.0, fabs(ws[0])));
        assert_true(fabs(sumsq - wq[0]) <= 1e-12 * fmax(1.0, wq[0]));
        free(index), free(sample), free(ws), free(wq);
    }
    int32_t *nbt = test_reference_i32(ref, "after.layers.0.bn1.num_batches_tracked", 1);
    assert_int_equal(nbt[0], 0); /* never called */
    free(nbt);
    nbt = test_reference_i32(ref, "after.layers.0.bn2.num_batches_tracked", 1);
    assert_int_equal(nbt[0], 2); /* inputs and memory: two train-mode encoder calls */
    free(nbt);
    mw_safetensors_free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a64_known_vectors),
        cmocka_unit_test(test_matches_python),
        cmocka_unit_test(test_stream_is_a_prefix),
        cmocka_unit_test(test_rule_rejects_unknown),
        cmocka_unit_test(test_covers_every_encoder_key),
        cmocka_unit_test(test_rebuilds_untouched_efficientnet_tensors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
