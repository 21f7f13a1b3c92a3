/* Checkpoints: save and load round trips, strict loading with errors that name the tensor,
 * nothing written on failure, the round trip through the reference PyTorch model (when
 * PyTorch is importable here), and `memwrap infer` on saved weights. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state) {
    return test_make_tmpdir(tmpdir, sizeof tmpdir, "memwrap-ckpt-") ? 0 : -1;
}

static int teardown(void **state) {
    test_remove_tree(tmpdir);
    return 0;
}

typedef struct model_exec {
    mw_model m;
    mw_exec *ex;
} model_exec;

static model_exec open_encoder_model(const mw_encoder *e, mw_variant v, int batch, int memory) {
    mw_model_options o = {.encoder = e,
                          .variant = v,
                          .in_channels = 1,
                          .image_size = 28,
                          .classes = 10,
                          .batch = batch,
                          .memory = memory,
                          .dropout = -1};
    model_exec me = {0};
    TEST_OK(mw_model_build(&o, &me.m));
    TEST_OK(mw_exec_create(me.m.g, test_runtime(), &me.ex));
    return me;
}

static model_exec open_model(mw_variant v, int batch, int memory) {
    return open_encoder_model(&mw_encoder_mobilenetv2, v, batch, memory);
}

static void close_model(model_exec *me) {
    mw_exec_free(me->ex);
    mw_model_free(&me->m);
}

/* Every parameter and state tensor of a model, concatenated. */
static float *snapshot(model_exec *me, size_t *count) {
    const mw_graph *g = me->m.g;
    size_t n = 0;
    int np = mw_graph_param_count(g), ns = mw_graph_state_count(g);
    for (int i = 0; i < np + ns; i++)
        n += mw_tensor_numel(g, i < np ? mw_graph_param_at(g, i) : mw_graph_state_at(g, i - np));
    float *all = malloc(n * 4), *at = all;
    for (int i = 0; i < np + ns; i++) {
        int t = i < np ? mw_graph_param_at(g, i) : mw_graph_state_at(g, i - np);
        TEST_OK(mw_exec_read(me->ex, t, at, mw_tensor_numel(g, t) * 4));
        at += mw_tensor_numel(g, t);
    }
    *count = n;
    return all;
}

/* Both models hold bit-identical weights and statistics; then both are closed. */
static void assert_same_weights_and_close(model_exec *a, model_exec *b) {
    size_t na, nb;
    float *sa = snapshot(a, &na), *sb = snapshot(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(sa, sb, na * 4);
    free(sa), free(sb);
    close_model(a);
    close_model(b);
}

static void path_of(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void test_save_load_round_trip(void **state) {
    char path[512];
    path_of(path, sizeof path, "w.safetensors");
    model_exec a = open_model(MW_VARIANT_ENCODER_MEMORY, 2, 3);
    TEST_OK(mw_exec_init_params(a.ex, 11));
    TEST_OK(mw_checkpoint_save(a.ex, path, "{\"note\":\"test\"}"));
    model_exec b = open_model(MW_VARIANT_ENCODER_MEMORY, 5, 7); /* other batch sizes */
    TEST_OK(mw_exec_init_params(b.ex, 12));
    TEST_OK(mw_checkpoint_load(b.ex, path));
    assert_same_weights_and_close(&a, &b);
}

/* Strict loading: each broken file is refused with the file and tensor named, and the
 * model keeps its weights. */
static void test_strict_loading_errors(void **state) {
    char good[512], bad[512];
    path_of(good, sizeof good, "good.safetensors");
    path_of(bad, sizeof bad, "bad.safetensors");
    model_exec std = open_model(MW_VARIANT_STD, 2, 0);
    TEST_OK(mw_exec_init_params(std.ex, 3));
    TEST_OK(mw_checkpoint_save(std.ex, good, NULL));
    size_t n;
    float *before = snapshot(&std, &n);

    /* a Memory Wrap checkpoint into a std model: missing linear.*, unexpected mw.* */
    model_exec mwm = open_model(MW_VARIANT_ENCODER_MEMORY, 2, 3);
    TEST_OK(mw_exec_init_params(mwm.ex, 4));
    TEST_OK(mw_checkpoint_save(mwm.ex, bad, NULL));
    assert_int_equal(mw_checkpoint_load(std.ex, bad), MW_ERR_FORMAT);
    assert_non_null(strstr(mw_error_message(), "linear.weight"));
    assert_non_null(strstr(mw_error_message(), bad));
    assert_int_equal(mw_checkpoint_load(mwm.ex, good), MW_ERR_FORMAT);
    assert_non_null(strstr(mw_error_message(), "mw.classifier"));

    /* truncated: every cut is refused */
    FILE *f = fopen(good, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *blob = malloc((size_t)size);
    assert_int_equal(fread(blob, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    long cuts[] = {4, 100, size / 2, size - 1};
    for (int c = 0; c < 4; c++) {
        f = fopen(bad, "wb");
        fwrite(blob, 1, (size_t)cuts[c], f);
        fclose(f);
        assert_int_not_equal(mw_checkpoint_load(std.ex, bad), MW_OK);
        assert_non_null(strstr(mw_error_message(), bad));
    }
    free(blob);
    float *after = snapshot(&std, &n);
    assert_memory_equal(before, after, n * 4); /* nothing was written */
    free(before), free(after);
    close_model(&std);
    close_model(&mwm);

    /* other input channels: conv1.weight has the wrong shape */
    mw_model_options o = {.encoder = &mw_encoder_mobilenetv2,
                          .variant = MW_VARIANT_STD,
                          .in_channels = 3,
                          .image_size = 32,
                          .classes = 10,
                          .batch = 2,
                          .dropout = -1};
    mw_model m3;
    mw_exec *ex3 = NULL;
    TEST_OK(mw_model_build(&o, &m3));
    TEST_OK(mw_exec_create(m3.g, test_runtime(), &ex3));
    assert_int_equal(mw_checkpoint_load(ex3, good), MW_ERR_FORMAT);
    assert_non_null(strstr(mw_error_message(), "conv1.weight"));
    mw_exec_free(ex3);
    mw_model_free(&m3);
}

/* memwrap -> PyTorch load_state_dict(strict=True) -> PyTorch state_dict -> memwrap. */
static void test_round_trip_through_pytorch(void **state) {
    if (system("/usr/bin/python3 -c 'import torch, memorywrap' >/dev/null 2>&1") != 0) {
        print_message("[ skipped ] PyTorch with memorywrap is not installed here\n");
        skip();
    }
    const mw_encoder *encoders[] = {&mw_encoder_mobilenetv2, &mw_encoder_googlenet,
                                    &mw_encoder_densenet_cifar, &mw_encoder_shufflenetv2,
                                    &mw_encoder_wrn28_10};
    const char *variants[] = {"std", "memory", "encoder_memory"};
    for (size_t e = 0; e < sizeof encoders / sizeof *encoders; e++)
        for (int k = 0; k < 3; k++) {
            if (e == 0 && k == 1) continue; /* MobileNetV2: std and Memory Wrap suffice */
            mw_variant v;
            TEST_OK(mw_variant_from_name(variants[k], &v));
            char out[512], back[512], cmd[2048];
            path_of(out, sizeof out, "memwrap.safetensors");
            path_of(back, sizeof back, "pytorch.safetensors");
            model_exec a = open_encoder_model(encoders[e], v, 2, 3);
            TEST_OK(mw_exec_init_params(a.ex, 21 + (uint64_t)k));
            TEST_OK(mw_checkpoint_save(a.ex, out, NULL));
            snprintf(cmd, sizeof cmd,
                     "/usr/bin/python3 %s/../roundtrip_checkpoint.py %s %s --model %s "
                     "--variant %s --in-channels 1 >/dev/null",
                     MEMWRAP_REFERENCE_DIR, out, back, encoders[e]->name, variants[k]);
            assert_int_equal(system(cmd), 0);
            model_exec b = open_encoder_model(encoders[e], v, 2, 3);
            TEST_OK(mw_checkpoint_load(b.ex, back));
            assert_same_weights_and_close(&a, &b);
        }
}

/* `memwrap infer` gives the logits and content weights of a direct forward run. */
static void test_infer_cli(void **state) {
    char weights[512], input[512], memory[512], output[512], cmd[3000];
    path_of(weights, sizeof weights, "infer-w.safetensors");
    path_of(input, sizeof input, "infer-x.safetensors");
    path_of(memory, sizeof memory, "infer-m.safetensors");
    path_of(output, sizeof output, "infer-y.safetensors");
    enum { N = 3, MEM = 4, IMG = 28 * 28 };
    model_exec a = open_model(MW_VARIANT_ENCODER_MEMORY, N, MEM);
    TEST_OK(mw_exec_init_params(a.ex, 5));
    TEST_OK(mw_checkpoint_save(a.ex, weights, NULL));
    test_rng r;
    test_rng_seed(&r, 77);
    float x[N * IMG], m[MEM * IMG], logits[N * 10], cw[N * MEM];
    test_fill_normal(&r, x, N * IMG, 1.0f);
    test_fill_normal(&r, m, MEM * IMG, 1.0f);
    int64_t xs[4] = {N, 1, 28, 28}, ms[4] = {MEM, 1, 28, 28};
    mw_st_write_item xi = {"input", MW_ST_F32, 4, xs, x}, mi = {"memory", MW_ST_F32, 4, ms, m};
    TEST_OK(mw_safetensors_write(input, &xi, 1, NULL));
    TEST_OK(mw_safetensors_write(memory, &mi, 1, NULL));
    TEST_OK(mw_exec_write(a.ex, a.m.images, x, sizeof x));
    TEST_OK(mw_exec_write(a.ex, a.m.memory, m, sizeof m));
    TEST_OK(mw_exec_run(a.ex, MW_RUN_FORWARD));
    TEST_OK(mw_exec_read(a.ex, a.m.logits, logits, sizeof logits));
    TEST_OK(mw_exec_read(a.ex, a.m.content_weights, cw, sizeof cw));
    close_model(&a);

    snprintf(cmd, sizeof cmd,
             "%s infer --model mobilenet --weights %s --input %s --memory %s "
             "--output %s 2>/dev/null",
             MEMWRAP_CLI_PATH, weights, input, memory, output);
    assert_int_equal(system(cmd), 0);
    mw_safetensors *y = NULL;
    TEST_OK(mw_safetensors_load(output, &y));
    float got[N * 10], got_w[N * MEM];
    int64_t ls[2] = {N, 10}, ws[2] = {N, MEM};
    TEST_OK(mw_safetensors_read_f32(y, "logits", 2, ls, got, N * 10));
    TEST_OK(mw_safetensors_read_f32(y, "content_weights", 2, ws, got_w, N * MEM));
    mw_safetensors_free(y);
    test_assert_close("infer logits", got, logits, N * 10, 1e-6);
    test_assert_close("infer content weights", got_w, cw, N * MEM, 1e-6);

    /* a Memory Wrap model without --memory, and a variant that contradicts the weights */
    snprintf(cmd, sizeof cmd,
             "%s infer --model mobilenetv2 --weights %s --input %s --output %s "
             "2>/dev/null",
             MEMWRAP_CLI_PATH, weights, input, output);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd,
             "%s infer --model mobilenetv2 --variant std --weights %s --input %s "
             "--memory %s --output %s 2>/dev/null",
             MEMWRAP_CLI_PATH, weights, input, memory, output);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_strict_loading_errors),
        cmocka_unit_test(test_round_trip_through_pytorch),
        cmocka_unit_test(test_infer_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
