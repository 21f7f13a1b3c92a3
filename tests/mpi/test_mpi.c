/* `memwrap train` over MPI (README, "Many processes: MPI"): a grid shared by ranks gives
 * the serial grid's results run by run; data-parallel training takes the step a single
 * process takes on the whole batch; a killed rank stops the job and a restart with another
 * number of ranks finishes it with nothing lost. Registered only when memwrap is built with
 * MPI (label `mpi`); mpirun is run oversubscribed, and allowed to run as root where CI does. */
#define _GNU_SOURCE /* setenv, mkdtemp */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define SMOKE MEMWRAP_SOURCE_DIR "/configs/smoke/fmnist-custom-encoder.json"

static char work[64]; /* this test's scratch directory */

/* A memwrap train command, as a shell line, under `ranks` processes (0: no launcher). */
static int train(const char *log, int ranks, const char *config, const char *out,
                 const char *extra) {
    char launcher[512] = "";
    if (ranks > 0) /* a hang (mismatched collectives) fails instead of stalling the suite */
        snprintf(launcher, sizeof launcher, "timeout 300 %s -np %d ", MEMWRAP_MPIEXEC, ranks);
    return test_shell(log, "%s%s train %s --out %s %s", launcher, MEMWRAP_CLI_PATH, config, out,
                      extra);
}

static void show_log(const char *log) {
    size_t n = 0;
    uint8_t *text = test_read_file(log, &n);
    fprintf(stderr, "---- %s ----\n%s\n----\n", log, (const char *)text);
    free(text);
}

static void expect_train(const char *log, int rc) {
    if (rc != 0) show_log(log);
    assert_int_equal(rc, 0);
}

static bool log_contains(const char *log, const char *what) {
    size_t n = 0;
    uint8_t *text = test_read_file(log, &n);
    bool found = strstr((const char *)text, what) != NULL;
    free(text);
    return found;
}

/* Two results.json files with the same runs in the same order, equal accuracies (every
 * evaluation pass), training logs and checkpoint bytes. */
static void expect_same_results(const char *a, const char *b) {
    mw_results ra = {0}, rb = {0};
    TEST_OK(mw_results_load(a, &ra));
    TEST_OK(mw_results_load(b, &rb));
    assert_true(ra.count > 0);
    assert_int_equal(ra.count, rb.count);
    for (int i = 0; i < ra.count; i++) {
        const mw_result_row *x = &ra.rows[i], *y = &rb.rows[i];
        assert_string_equal(x->model, y->model);
        assert_string_equal(x->variant, y->variant);
        assert_int_equal(x->train_examples, y->train_examples);
        assert_int_equal(x->run, y->run);
        if (x->accuracy != y->accuracy)
            fail_msg("%s/%s run %d: accuracy %.4f in %s, %.4f in %s", x->model, x->variant, x->run,
                     x->accuracy, a, y->accuracy, b);
        assert_int_equal(x->repeats, y->repeats);
        for (int r = 0; r < x->repeats; r++)
            assert_true(x->repeat_accuracy[r] == y->repeat_accuracy[r]);
        assert_int_equal(x->n_epochs, y->n_epochs);
        for (int e = 0; e < x->n_epochs; e++)
            assert_true(x->epochs[e].loss == y->epochs[e].loss);
        char pa[512], pb[512];
        snprintf(pa, sizeof pa, "%s/%s", a, x->checkpoint);
        snprintf(pb, sizeof pb, "%s/%s", b, y->checkpoint);
        size_t na = 0, nb = 0;
        uint8_t *fa = test_read_file(pa, &na), *fb = test_read_file(pb, &nb);
        if (na != nb || memcmp(fa, fb, na) != 0) fail_msg("%s and %s differ", pa, pb);
        free(fa), free(fb);
    }
    mw_results_free(&ra);
    mw_results_free(&rb);
}

/* The largest |a - b| over the float tensors of two checkpoints of the same model whose name
 * contains `only` (every one when NULL), and in `moved` the largest |b - base| (how far the
 * training moved them), or the largest |b| without a base. */
static double checkpoint_distance(const char *a, const char *b, const char *base, const char *only,
                                  double *moved) {
    mw_safetensors *sa = NULL, *sb = NULL, *s0 = NULL;
    TEST_OK(mw_safetensors_load(a, &sa));
    TEST_OK(mw_safetensors_load(b, &sb));
    if (base) TEST_OK(mw_safetensors_load(base, &s0));
    assert_int_equal(sa->count, sb->count);
    double worst = 0, far = 0;
    for (int i = 0; i < sa->count; i++) {
        const mw_st_tensor *x = &sa->tensors[i], *y = mw_safetensors_find(sb, x->name);
        assert_non_null(y);
        assert_int_equal(x->numel, y->numel);
        if (x->dtype != MW_ST_F32 || (only && !strstr(x->name, only))) continue;
        const mw_st_tensor *z = s0 ? mw_safetensors_find(s0, x->name) : NULL;
        for (size_t k = 0; k < x->numel; k++) {
            float u, v;
            memcpy(&u, x->data + 4 * k, 4);
            memcpy(&v, y->data + 4 * k, 4);
            worst = fmax(worst, fabs((double)u - v));
            float w = 0;
            if (z) memcpy(&w, z->data + 4 * k, 4);
            far = fmax(far, fabs((double)v - w));
        }
    }
    mw_safetensors_free(sa);
    mw_safetensors_free(sb);
    if (s0) mw_safetensors_free(s0);
    if (moved) *moved = far;
    return worst;
}

/* The accuracy `memwrap eval` gives a checkpoint, alone (one process encodes the whole test
 * set). */
static double eval_alone(const char *checkpoint) {
    char json[320];
    snprintf(json, sizeof json, "%s/eval.json", work);
    int rc = test_shell(json, "%s eval %s --json", MEMWRAP_CLI_PATH, checkpoint);
    size_t n = 0;
    char *text = (char *)test_read_file(json, &n);
    if (rc != 0) fprintf(stderr, "%s\n", text);
    assert_int_equal(rc, 0);
    const char *at = strstr(text, "\"accuracy\":");
    assert_non_null(at);
    double acc = strtod(at + strlen("\"accuracy\":"), NULL);
    free(text);
    return acc;
}

/* ---- a grid shared by ranks --------------------------------------------------------- */

static char serial[256]; /* the smoke grid with 2 runs per cell, trained by one process */

static void grid_over_ranks_equals_serial(void **state) {
    (void)state;
    char log[320], out[256];
    snprintf(log, sizeof log, "%s/ranks.log", work);
    snprintf(out, sizeof out, "%s/ranks", work);
    expect_train(log, train(log, 2, SMOKE, out, "--set runs=2"));
    assert_true(log_contains(log, "rank 1 of 2"));
    expect_same_results(serial, out);
    /* the summary tables are the same text: rows are kept in grid order */
    char ma[320], mb[320];
    snprintf(ma, sizeof ma, "%s/results.md", serial);
    snprintf(mb, sizeof mb, "%s/results.md", out);
    size_t na = 0, nb = 0;
    uint8_t *fa = test_read_file(ma, &na), *fb = test_read_file(mb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(fa, fb, na);
    free(fa), free(fb);
}

/* The pid of the process with OMPI_COMM_WORLD_RANK=<rank> among memwrap processes, or -1. */
static pid_t find_rank(int rank) {
    char cmd[256], line[64];
    snprintf(cmd, sizeof cmd,
             "for p in $(pgrep -f '%s train'); do tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null "
             "| grep -qx OMPI_COMM_WORLD_RANK=%d && echo $p; done",
             MEMWRAP_CLI_PATH, rank);
    FILE *f = popen(cmd, "r");
    pid_t pid = -1;
    if (f && fgets(line, sizeof line, f)) pid = (pid_t)atol(line);
    if (f) pclose(f);
    return pid;
}

/* Rank 1 killed while it trains: the job stops with MPI's message naming it and rank 0's
 * saying why it stops; the runs finished before stay as they were; a restart with 3 ranks
 * finishes the grid, redoing no finished run, with the serial grid's results. */
static void killed_rank_restart_loses_nothing(void **state) {
    (void)state;
    char log[320], out[256];
    snprintf(log, sizeof log, "%s/killed.log", work);
    snprintf(out, sizeof out, "%s/killed", work);
    pid_t job = fork();
    assert_true(job >= 0);
    if (job == 0) {
        char line[1024];
        snprintf(line, sizeof line, "%s -np 2 %s train %s --out %s --set runs=2 > %s 2>&1",
                 MEMWRAP_MPIEXEC, MEMWRAP_CLI_PATH, SMOKE, out, log);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    /* kill rank 1 once a run is finished and rank 1 reports progress on another */
    pid_t victim = -1;
    for (int tries = 0; tries < 1200 && victim < 0; tries++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        size_t n = 0;
        uint8_t *text = test_read_file(log, &n);
        const char *done = strstr((const char *)text, "accuracy");
        bool busy = done && strstr(done, "rank 1: [");
        free(text);
        if (busy) victim = find_rank(1);
    }
    if (victim < 0) show_log(log);
    assert_true(victim > 0);
    kill(victim, SIGKILL);
    int status = 0;
    waitpid(job, &status, 0);
    mw_results before = {0};
    TEST_OK(mw_results_load(out, &before));
    assert_true(before.count > 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 0) show_log(log);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    if (!log_contains(log, "exited on signal 9")) show_log(log);
    assert_true(log_contains(log, "exited on signal 9"));
    fprintf(stderr, "killed rank 1 (pid %d) with %d run(s) recorded\n", (int)victim, before.count);

    char again[320];
    snprintf(again, sizeof again, "%s/restart.log", work);
    expect_train(again, train(again, 3, SMOKE, out, "--set runs=2"));
    mw_results after = {0};
    TEST_OK(mw_results_load(out, &after));
    for (int i = 0; i < before.count; i++) { /* kept, and not trained again */
        const mw_result_row *w = &before.rows[i];
        const mw_result_row *v =
            mw_results_find(&after, w->dataset, w->model, w->variant, w->train_examples, w->run);
        assert_non_null(v);
        assert_true(v->seconds == w->seconds);
    }
    size_t n = 0;
    uint8_t *text = test_read_file(again, &n);
    int trained = 0;
    for (const char *p = (const char *)text; (p = strstr(p, "% (")); p++)
        trained++;
    free(text);
    assert_int_equal(trained, after.count - before.count);
    mw_results_free(&before);
    mw_results_free(&after);
    expect_same_results(serial, out);
}

/* Rank 1 fails (its device too small for the batch: MEMWRAP_GLOBAL_MEM_SIZE, given to it
 * alone through mpirun's MPMD form): rank 0 hands out nothing more, finishes and records its
 * own run, and every rank exits non-zero, rank 0 naming rank 1 and its error. */
static void failed_rank_stops_the_grid(void **state) {
    (void)state;
    char log[320], out[256];
    snprintf(log, sizeof log, "%s/failed.log", work);
    snprintf(out, sizeof out, "%s/failed", work);
    int rc =
        test_shell(log,
                   "%s -np 1 %s train %s --out %s --set runs=2 : -np 1 env "
                   "MEMWRAP_GLOBAL_MEM_SIZE=8000000 %s train %s --out %s --set runs=2",
                   MEMWRAP_MPIEXEC, MEMWRAP_CLI_PATH, SMOKE, out, MEMWRAP_CLI_PATH, SMOKE, out);
    if (rc == 0 || !log_contains(log, "rank 1 failed") || !log_contains(log, "batch_size"))
        show_log(log);
    assert_int_not_equal(rc, 0);
    assert_true(log_contains(log, "rank 1 failed"));
    assert_true(log_contains(log, "batch_size")); /* rank 1's own message, with the key */
    mw_results r = {0};
    TEST_OK(mw_results_load(out, &r));
    assert_true(r.count >= 1); /* rank 0's run is recorded */
    assert_true(r.count < 4);  /* and the rest was not handed out */
    mw_results_free(&r);
}

/* ---- data-parallel training ---------------------------------------------------------- */

/* A config of one step: a small CNN `encoder` whose two convolutions are each followed by
 * `after` (a layer, as JSON), trained on 32 images in one batch of 32 for one epoch. Its
 * encoding of 256 makes Memory Wrap's gradient 0.6 M floats, Std's 0.01 M: the MPI
 * implementation sums each its own way (apps/world/mpi.c). */
static void write_one_step_config(const char *path, const char *encoder, const char *after,
                                  const char *variants) {
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "{\"name\": \"dp-%s\",\n"
                     " \"dataset\": {\"name\": \"fashion-mnist\", \"root\": "
                     "\"/usr/share/datasets/fashion-mnist\"},\n"
                     " \"encoders\": {\"%s\": [\n"
                     "   {\"type\": \"conv\", \"out\": 8, \"kernel\": 3, \"stride\": 2}, %s,\n"
                     "   {\"type\": \"conv\", \"out\": 16, \"kernel\": 3, \"stride\": 2}, %s,\n"
                     "   {\"type\": \"global_pool\"},\n"
                     "   {\"type\": \"linear\", \"out\": 256}]},\n"
                     " \"models\": [\"%s\"], \"variants\": %s,\n"
                     " \"train_examples\": [32], \"runs\": 1, \"epochs\": 1,\n"
                     " \"schedule\": {\"kind\": \"constant\"},\n"
                     " \"optimizer\": {\"lr\": 0.05, \"momentum\": 0.9, \"nesterov\": true, "
                     "\"weight_decay\": 5e-4},\n"
                     " \"batch_size\": 32, \"test_batch_size\": 100, \"test_examples\": 200,\n"
                     " \"memory_examples\": 16, \"eval_repeats\": 1, \"distance\": \"cosine\"}\n",
                     encoder, encoder, after, after, encoder, variants);
    assert_true(n > 0 && (size_t)n < sizeof text);
    test_write_file(path, text, (size_t)n);
}

/* The one-step config of `encoder` in <work>/<encoder>.json (`config`, 320 bytes), trained
 * by one process into <work>/<encoder>-alone (`alone`, 256 bytes). */
static void one_step_alone(const char *encoder, const char *after, const char *variants,
                           char *config, char *alone) {
    char log[320];
    snprintf(config, 320, "%s/%s.json", work, encoder);
    write_one_step_config(config, encoder, after, variants);
    snprintf(log, sizeof log, "%s/%s-alone.log", work, encoder);
    snprintf(alone, 256, "%s/%s-alone", work, encoder);
    expect_train(log, train(log, 0, config, alone, ""));
}

/* An encoder without batch norm or dropout: one step over any split of the batch is the
 * whole batch's step, up to rounding. */
static void data_parallel_step_equals_whole_batch(void **state) {
    (void)state;
    char config[320], log[320], alone[256];
    one_step_alone("plain_cnn", "{\"type\": \"activation\", \"function\": \"relu\"}",
                   "[\"std\", \"encoder_memory\"]", config, alone);
    const char *variants[] = {"std", "encoder_memory"};
    for (int ranks = 2; ranks <= 3; ranks++) { /* 16 + 16, and 10 + 11 + 11 images */
        char out[256];
        snprintf(log, sizeof log, "%s/plain-%d.log", work, ranks);
        snprintf(out, sizeof out, "%s/plain-%d", work, ranks);
        expect_train(log, train(log, ranks, config, out, "--data-parallel"));
        if (ranks == 2) { /* started again: every run skipped together, nothing changed */
            char again[400], results[400];
            snprintf(again, sizeof again, "%s/plain-2-again.log", work);
            snprintf(results, sizeof results, "%s/results.json", out);
            size_t nb = 0, na = 0;
            uint8_t *before = test_read_file(results, &nb);
            expect_train(again, train(again, ranks, config, out, "--data-parallel"));
            assert_true(log_contains(again, "done earlier, skipped"));
            uint8_t *after = test_read_file(results, &na);
            assert_int_equal(na, nb);
            assert_memory_equal(before, after, na);
            free(before), free(after);
        }
        for (int v = 0; v < 2; v++) {
            char a[400], b[400];
            snprintf(a, sizeof a, "%s/fashion-mnist-plain_cnn-%s-32-run0.safetensors", alone,
                     variants[v]);
            snprintf(b, sizeof b, "%s/fashion-mnist-plain_cnn-%s-32-run0.safetensors", out,
                     variants[v]);
            double d = checkpoint_distance(a, b, NULL, NULL, NULL);
            fprintf(stderr, "%d ranks, %s: parameters within %.3g of one process's\n", ranks,
                    variants[v], d);
            assert_true(d <= 1e-5);
        }
        /* the ranks shared the evaluation's encoding: the accuracy is one process's */
        mw_results r = {0};
        TEST_OK(mw_results_load(out, &r));
        assert_int_equal(r.count, 2);
        for (int i = 0; i < r.count; i++) {
            char ckpt[600];
            snprintf(ckpt, sizeof ckpt, "%s/%s", out, r.rows[i].checkpoint);
            double alone_acc = eval_alone(ckpt);
            if (alone_acc != r.rows[i].accuracy)
                fail_msg("%s: %.4f%% over %d ranks, %.4f%% by memwrap eval", ckpt,
                         r.rows[i].accuracy, ranks, alone_acc);
        }
        mw_results_free(&r);
    }
}

/* With batch norm each rank normalises its part of the batch with its part's statistics, as
 * PyTorch's DistributedDataParallel does: the step differs from the whole batch's. The
 * README's tolerance: after one step the parameters differ from one process's by at most a
 * quarter of how far that step moved them. */
static void data_parallel_step_with_batch_norm(void **state) {
    (void)state;
    char config[320], log[320], alone[256], start[256], out[256];
    one_step_alone("bn_cnn", "{\"type\": \"batch_norm\", \"activation\": \"relu\"}",
                   "[\"encoder_memory\"]", config, alone);
    snprintf(log, sizeof log, "%s/bn-start.log", work);
    snprintf(start, sizeof start, "%s/bn-start", work);
    /* the initial weights: a step of 1e-30 leaves every float as it was */
    expect_train(log, train(log, 0, config, start, "--set optimizer.lr=1e-30"));
    snprintf(log, sizeof log, "%s/bn-2.log", work);
    snprintf(out, sizeof out, "%s/bn-2", work);
    expect_train(log, train(log, 2, config, out, "--data-parallel"));
    const char *file = "fashion-mnist-bn_cnn-encoder_memory-32-run0.safetensors";
    char a[400], b[400], z[400];
    snprintf(a, sizeof a, "%s/%s", out, file);
    snprintf(b, sizeof b, "%s/%s", alone, file);
    snprintf(z, sizeof z, "%s/%s", start, file);
    const char *parts[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        bool running = strstr(parts[i], "running") != NULL;
        /* parameters against how far the step moved them; running statistics (which the
         * step's forward pass updates, whatever the learning rate) against their size */
        double moved = 0, d = checkpoint_distance(a, b, running ? NULL : z, parts[i], &moved);
        fprintf(stderr, "batch norm, 2 ranks: %s within %.3g of one process's (%s %.3g)\n",
                parts[i], d, running ? "largest value" : "the step moved them by up to", moved);
        assert_true(moved > 0);
        assert_true(d <= (running ? 0.05 : 0.25) * moved);
    }
}

/* Ranks whose parameters drift apart (MEMWRAP_TEST_DIVERGE_RANK nudges rank 1's, as a sum
 * that differed between ranks would) are caught by the parameter hash (checked every step
 * here) after the first step: every rank stops, naming rank 1. */
static void diverging_ranks_are_caught(void **state) {
    (void)state;
    char config[320], log[320], out[256];
    snprintf(config, sizeof config, "%s/diverge.json", work);
    write_one_step_config(config, "plain_cnn", "{\"type\": \"activation\", \"function\": \"relu\"}",
                          "[\"std\"]");
    snprintf(log, sizeof log, "%s/diverge.log", work);
    snprintf(out, sizeof out, "%s/diverge", work);
    int rc = test_shell(log,
                        "MEMWRAP_TEST_DIVERGE_RANK=1 timeout 300 %s -np 2 %s train %s --out %s "
                        "--data-parallel",
                        MEMWRAP_MPIEXEC, MEMWRAP_CLI_PATH, config, out);
    if (rc == 0 || !log_contains(log, "parameters of process 1 differ")) show_log(log);
    assert_int_not_equal(rc, 0);
    assert_true(log_contains(log, "parameters of process 1 differ"));
}

/* Ranks started with different settings (mpirun's MPMD form, rank 1 with another weight
 * decay) stop before training, naming the rank. */
static void ranks_with_other_settings_are_refused(void **state) {
    (void)state;
    char log[320], out[256];
    snprintf(log, sizeof log, "%s/settings.log", work);
    snprintf(out, sizeof out, "%s/settings", work);
    for (int dp = 0; dp < 2; dp++) {
        const char *mode = dp ? "--data-parallel" : "";
        int rc = test_shell(log,
                            "timeout 300 %s -np 1 %s train %s --out %s %s : -np 1 %s train %s "
                            "--out %s %s --set optimizer.weight_decay=0.01",
                            MEMWRAP_MPIEXEC, MEMWRAP_CLI_PATH, SMOKE, out, mode, MEMWRAP_CLI_PATH,
                            SMOKE, out, mode);
        if (rc == 0 || !log_contains(log, "rank 1 runs another config")) show_log(log);
        assert_int_not_equal(rc, 0);
        assert_true(log_contains(log, "rank 1 runs another config"));
        assert_int_equal(access(out, F_OK) == 0 ? test_count_dir_entries(out) <= 1 : 1, 1);
    }
}

static int setup(void **state) {
    (void)state;
    if (!test_make_tmpdir(work, sizeof work, "memwrap-mpi-")) return -1;
    /* mpirun as root (CI), more ranks than cores; every data-parallel step checks that the
     * ranks' parameters agree */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    setenv("MEMWRAP_DP_CHECK_EVERY", "1", 1);
    char log[320];
    snprintf(log, sizeof log, "%s/serial.log", work);
    snprintf(serial, sizeof serial, "%s/serial", work);
    int rc = train(log, 0, SMOKE, serial, "--set runs=2");
    if (rc != 0) show_log(log);
    return rc == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    test_remove_tree(work);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grid_over_ranks_equals_serial),
        cmocka_unit_test(killed_rank_restart_loses_nothing),
        cmocka_unit_test(failed_rank_stops_the_grid),
        cmocka_unit_test(data_parallel_step_equals_whole_batch),
        cmocka_unit_test(data_parallel_step_with_batch_norm),
        cmocka_unit_test(diverging_ranks_are_caught),
        cmocka_unit_test(ranks_with_other_settings_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
