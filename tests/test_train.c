/* `memwrap train` end to end on the smoke grid (configs/smoke/fmnist-tiny.json, the real
 * Fashion-MNIST): results, per-epoch logs, checkpoints and report.html written; a grid killed
 * mid-run and started again ends with exactly the results and training logs of an
 * uninterrupted one; a finished grid is skipped; `memwrap eval` reproduces a run's recorded
 * accuracy. And crash safety on a faster grid (the custom-encoder smoke config): the same
 * grid twice gives the same results bit for bit; a second train on a busy output directory is
 * refused; and a grid killed with SIGKILL at 20 random moments (timed kills during steps,
 * evaluation and explanation, and kills in the middle of a file write) and restarted each
 * time never loses or redoes a finished run, always leaves a results.json that parses, and
 * ends with the results of the uninterrupted grid. `memwrap bench` reports where the training
 * activations live (here rather than in test_runtime, which also runs under Oclgrind). */
#define _XOPEN_SOURCE 700 /* mkdtemp, kill */
#include "support.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static char tmpdir[256];
static const char *config = MEMWRAP_REFERENCE_DIR "/../../../configs/smoke/fmnist-tiny.json";

static int setup(void **state) {
    return test_make_tmpdir(tmpdir, sizeof tmpdir, "memwrap-train-") ? 0 : -1;
}

static int teardown(void **state) {
    test_remove_tree(tmpdir);
    return 0;
}

static int run_train(const char *out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s train %s --out %s 2>%s.log >/dev/null", MEMWRAP_CLI_PATH, config,
             out, out);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool has_resume_file(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool found = false;
    while ((e = readdir(d)) && !found)
        found = strstr(e->d_name, ".resume.safetensors") != NULL;
    closedir(d);
    return found;
}

static void assert_same_results(const mw_results *a, const mw_results *b) {
    assert_int_equal(a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        const mw_result_row *x = &a->rows[i];
        const mw_result_row *y =
            mw_results_find(b, x->dataset, x->model, x->variant, x->train_examples, x->run);
        assert_non_null(y);
        if (x->accuracy != y->accuracy) {
            print_error("%s/%s run %d: %.4f uninterrupted, %.4f after kill and resume\n", x->model,
                        x->variant, x->run, x->accuracy, y->accuracy);
            fail();
        }
        assert_int_equal(x->repeats, y->repeats);
        for (int k = 0; k < x->repeats; k++)
            assert_true(x->repeat_accuracy[k] == y->repeat_accuracy[k]);
        /* the majority-vote baselines: memory variants only, reproducible as the accuracy */
        assert_true(x->has_majority == (strcmp(x->variant, "std") != 0));
        assert_true(y->has_majority == x->has_majority);
        if (x->has_majority) {
            assert_true(x->mvo_accuracy >= 0 && x->mvo_accuracy <= 100);
            assert_true(x->mvy_accuracy >= 0 && x->mvy_accuracy <= 100);
            assert_true(x->mvo_accuracy == y->mvo_accuracy && x->mvy_accuracy == y->mvy_accuracy);
        }
        assert_int_equal(x->n_epochs, y->n_epochs);
        for (int e = 0; e < x->n_epochs; e++)
            if (x->epochs[e].epoch != y->epochs[e].epoch ||
                x->epochs[e].loss != y->epochs[e].loss || x->epochs[e].lr != y->epochs[e].lr) {
                print_error("%s/%s run %d, epoch %d: loss %.17g lr %g uninterrupted, loss %.17g "
                            "lr %g after kill and resume\n",
                            x->model, x->variant, x->run, x->epochs[e].epoch, x->epochs[e].loss,
                            x->epochs[e].lr, y->epochs[e].loss, y->epochs[e].lr);
                fail();
            }
    }
}

static void test_grid_kill_and_resume(void **state) {
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/uninterrupted", tmpdir);
    snprintf(b, sizeof b, "%s/killed", tmpdir);
    assert_int_equal(run_train(a), 0);
    mw_results ra, rb;
    TEST_OK(mw_results_load(a, &ra));
    assert_int_equal(ra.count, 4); /* 2 variants x 2 runs */
    char md[600];
    snprintf(md, sizeof md, "%s/results.md", a);
    assert_int_equal(access(md, F_OK), 0);
    snprintf(md, sizeof md, "%s/report.html", a);
    assert_int_equal(access(md, F_OK), 0);
    for (int i = 0; i < ra.count; i++) {
        const mw_result_row *w = &ra.rows[i];
        char ck[900];
        snprintf(ck, sizeof ck, "%s/%s", a, w->checkpoint);
        assert_int_equal(access(ck, F_OK), 0);
        assert_true(w->accuracy >= 0 && w->accuracy <= 100);
        /* one pass for std, eval_repeats (2) for memory; the log of both epochs, the lr of
         * the schedule (milestone 1, gamma 0.1) */
        assert_int_equal(w->repeats, strcmp(w->variant, "std") == 0 ? 1 : 2);
        assert_true(fabs((w->repeat_accuracy[0] + w->repeat_accuracy[w->repeats - 1]) / 2 -
                         w->accuracy) < 1e-9);
        assert_int_equal(w->n_epochs, 2);
        for (int e = 0; e < 2; e++) {
            assert_int_equal(w->epochs[e].epoch, e + 1);
            assert_true(isfinite(w->epochs[e].loss) && w->epochs[e].loss > 0);
        }
        assert_true(fabs(w->epochs[0].lr - 0.1) < 1e-12 && fabs(w->epochs[1].lr - 0.01) < 1e-12);
    }

    /* Kill the second grid as soon as the first epoch of its first run is saved. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char log[600];
        snprintf(log, sizeof log, "%s.log", b);
        if (!freopen(log, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(127);
        execl(MEMWRAP_CLI_PATH, "memwrap", "train", config, "--out", b, (char *)NULL);
        _exit(127);
    }
    bool killed = false;
    for (int waited = 0; waited < 60000 && !killed; waited += 5) {
        if (has_resume_file(b)) {
            kill(pid, SIGKILL);
            killed = true;
        }
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(killed);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(run_train(b), 0); /* resumes */
    TEST_OK(mw_results_load(b, &rb));
    assert_same_results(&ra, &rb);

    /* Started again on a finished grid: everything is skipped, nothing changes. */
    assert_int_equal(run_train(a), 0);
    mw_results again;
    TEST_OK(mw_results_load(a, &again));
    assert_same_results(&ra, &again);

    /* memwrap eval on a checkpoint gives the recorded accuracy. */
    char cmd[2048], out[600];
    snprintf(out, sizeof out, "%s/eval.json", tmpdir);
    snprintf(cmd, sizeof cmd, "%s eval %s/%s --json > %s 2>/dev/null", MEMWRAP_CLI_PATH, a,
             ra.rows[3].checkpoint, out);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(out, "r");
    char text[4096] = {0};
    assert_true(fread(text, 1, sizeof text - 1, f) > 0);
    fclose(f);
    const char *at = strstr(text, "\"accuracy\":");
    assert_non_null(at);
    double acc = strtod(at + strlen("\"accuracy\":"), NULL);
    assert_true(acc == ra.rows[3].accuracy);
    mw_results_free(&ra);
    mw_results_free(&rb);
    mw_results_free(&again);
}

/* ---- crash safety ------------------------------------------------------------------------ */

static const char *crash_config =
    MEMWRAP_REFERENCE_DIR "/../../../configs/smoke/fmnist-custom-encoder.json";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Starts `memwrap train` on the crash grid (2 runs per variant, one explained image) into
 * out, stderr to log; kill_at_write > 0 sets MEMWRAP_KILL_AT_WRITE (io/atomic_file.h). */
static pid_t start_crash_grid(const char *out, const char *log, int kill_at_write) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    char n[32];
    snprintf(n, sizeof n, "%d", kill_at_write);
    if (kill_at_write > 0) setenv("MEMWRAP_KILL_AT_WRITE", n, 1);
    if (!freopen(log, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(127);
    execl(MEMWRAP_CLI_PATH, "memwrap", "train", crash_config, "--out", out, "--set", "runs=2",
          "--set", "explain.images=1", (char *)NULL);
    _exit(127);
}

/* The whole of a text file, or NULL when it does not exist (yet). */
static char *read_text(const char *path) {
    if (access(path, F_OK) != 0) return NULL;
    size_t n = 0;
    char *text = (char *)test_read_file(path, &n);
    if (text) text[n] = '\0';
    return text;
}

/* Waits for pid, killing it with SIGKILL after `seconds` (< 0: no time limit) or as soon as
 * its log shows `trigger` (NULL: none); true if it was killed. */
static bool wait_or_kill(pid_t pid, double seconds, const char *log, const char *trigger,
                         int *status) {
    double t0 = now_s();
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return WIFSIGNALED(*status);
        bool due = seconds >= 0 && now_s() - t0 >= seconds;
        if (!due && trigger) {
            char *text = read_text(log);
            due = text && strstr(text, trigger);
            free(text);
        }
        if (due) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return true;
        }
        struct timespec ts = {0, 2 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* What the grid was doing when it was killed, from the last progress line of its log. */
static const char *moment_of(const char *log) {
    char *text = read_text(log);
    if (!text) return "start-up";
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '\n')
        text[--n] = '\0';
    const char *last = strrchr(text, '\n');
    last = last ? last + 1 : text;
    /* progress lines come at the end of an epoch or an evaluation pass */
    const char *m = strstr(last, ": epoch ")     ? "training"
                    : strstr(last, "evaluating") ? "evaluation"
                    : strstr(last, "explain")    ? "explanation"
                    : strstr(last, "accuracy")   ? "between runs"
                    : strstr(last, "output in")  ? "first epoch"
                                                 : "start-up";
    free(text);
    return m;
}

/* Files a killed write left behind, or resume files of a finished grid: none may remain. */
static int count_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.") || strstr(e->d_name, ".resume.")) n++;
    closedir(d);
    return n;
}

static void test_grid_crash_safety(void **state) {
    char ref[512], again[512], log[600];
    snprintf(ref, sizeof ref, "%s/crash-reference", tmpdir);
    snprintf(again, sizeof again, "%s/crash-again", tmpdir);

    /* The uninterrupted grid, timed; while it runs, a second train on its directory. */
    snprintf(log, sizeof log, "%s.log", ref);
    double t0 = now_s();
    pid_t first = start_crash_grid(ref, log, 0);
    char *text = NULL;
    for (int waited = 0; waited < 60000; waited += 5) { /* until it holds the lock */
        free(text);
        text = read_text(log);
        if (text && strstr(text, "output in")) break;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    assert_non_null(text);
    free(text);
    char second_log[600], expect[128];
    snprintf(second_log, sizeof second_log, "%s/second.log", tmpdir);
    assert_int_not_equal(test_cli(second_log, "train %s --out %s", crash_config, ref), 0);
    text = read_text(second_log);
    snprintf(expect, sizeof expect, "is in use by another process (pid %ld: memwrap train)",
             (long)first);
    if (!strstr(text, expect)) {
        print_error("the second train said:\n%s\nexpected: %s\n", text, expect);
        fail();
    }
    free(text);
    int status;
    assert_false(wait_or_kill(first, -1, NULL, NULL, &status));
    assert_int_equal(WEXITSTATUS(status), 0);
    double grid_s = now_s() - t0;
    mw_results reference, repeated;
    TEST_OK(mw_results_load(ref, &reference));
    assert_int_equal(reference.count, 4);

    /* Determinism: the same config, seed and device give the same results bit for bit. */
    snprintf(log, sizeof log, "%s.log", again);
    assert_false(wait_or_kill(start_crash_grid(again, log, 0), -1, NULL, NULL, &status));
    assert_int_equal(WEXITSTATUS(status), 0);
    TEST_OK(mw_results_load(again, &repeated));
    assert_same_results(&reference, &repeated);
    mw_results_free(&repeated);

    /* 20 kills, in turn: at a random moment, in the middle of a random file write, and
     * during an evaluation (its first pass ended: the second is running).
     * MEMWRAP_TEST_KILLS sets fewer: the sanitizer suite takes 6, the same code paths at a
     * quarter of the cost of ~30 ASan-instrumented process starts. */
    const char *env_kills = getenv("MEMWRAP_TEST_KILLS");
    const int want_kills = env_kills ? atoi(env_kills) : 20;
    assert_true(want_kills >= 1 && want_kills <= 20);
    const char *env_seed = getenv("MEMWRAP_TEST_SEED");
    unsigned seed = env_seed ? (unsigned)strtoul(env_seed, NULL, 10) : (unsigned)time(NULL);
    srand(seed);
    print_message("kill moments drawn with seed %u (MEMWRAP_TEST_SEED=%u repeats them); the "
                  "uninterrupted grid took %.1f s\n",
                  seed, seed, grid_s);
    const char *moments[20];
    int kills = 0, rounds = 0;
    while (kills < want_kills) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/crash-%d", tmpdir, rounds++);
        mw_results before = {0};
        for (int attempt = 0;; attempt++) {
            assert_true(attempt < 200); /* every restart makes progress */
            snprintf(log, sizeof log, "%s.%d.log", dir, attempt);
            int kind = kills < want_kills ? kills % 3 : -1; /* -1: run the grid to its end */
            double delay = kind == 0 ? grid_s * rand() / RAND_MAX : -1;
            int at_write = kind == 1 ? 1 + rand() % 12 : 0;
            const char *trigger = kind == 2 ? "evaluating: pass 1/" : NULL;
            pid_t pid = start_crash_grid(dir, log, at_write);
            bool killed = wait_or_kill(pid, delay, log, trigger, &status);
            if (!killed) assert_int_equal(WEXITSTATUS(status), 0);
            /* results.json always parses; nothing finished is lost or changed */
            mw_results now;
            TEST_OK(mw_results_load(dir, &now));
            for (int i = 0; i < before.count; i++) {
                const mw_result_row *x = &before.rows[i];
                const mw_result_row *y = mw_results_find(&now, x->dataset, x->model, x->variant,
                                                         x->train_examples, x->run);
                if (!y || y->accuracy != x->accuracy) {
                    print_error("%s: %s/%s run %d was lost or changed by attempt %d\n", dir,
                                x->model, x->variant, x->run, attempt);
                    fail();
                }
                /* ... and never trained again */
                char trained[256];
                snprintf(trained, sizeof trained, "%s/%s n=%ld run %d: epoch", x->model, x->variant,
                         x->train_examples, x->run);
                char *attempt_log = read_text(log);
                if (attempt_log && strstr(attempt_log, trained)) {
                    print_error("%s: attempt %d trained the finished run %s/%s run %d again\n", dir,
                                attempt, x->model, x->variant, x->run);
                    fail();
                }
                free(attempt_log);
            }
            mw_results_free(&before);
            before = now;
            if (killed) {
                moments[kills++] = at_write ? "in a write" : moment_of(log);
                if (kind == 2) assert_string_equal(moments[kills - 1], "evaluation");
                continue;
            }
            /* finished: the uninterrupted grid's results, no torn or stale file left */
            assert_same_results(&reference, &now);
            assert_int_equal(count_leftovers(dir), 0);
            for (int i = 0; i < now.count; i++) {
                if (strcmp(now.rows[i].variant, "std") == 0) continue;
                char page[1400];
                snprintf(page, sizeof page, "%s/explain/%.*s/index.html", dir,
                         (int)(strlen(now.rows[i].checkpoint) - strlen(".safetensors")),
                         now.rows[i].checkpoint);
                assert_int_equal(access(page, F_OK), 0);
            }
            break;
        }
        mw_results_free(&before);
    }
    const char *names[] = {"start-up",    "first epoch",  "training",  "evaluation",
                           "explanation", "between runs", "in a write"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        int n = 0;
        for (int i = 0; i < kills; i++)
            n += strcmp(moments[i], names[k]) == 0;
        print_message("  killed %-12s %d time%s\n", names[k], n, n == 1 ? "" : "s");
    }
    print_message("  in %d grid%s, each finished with the uninterrupted results\n", rounds,
                  rounds == 1 ? "" : "s");
    mw_results_free(&reference);
}

/* The paper's memory-based baselines on the smoke grid (the custom-encoder config): ProtoNet
 * and Matching Networks train with labelled support sets, evaluate in one pass as the
 * reference, land in results.md and the report beside Std, `memwrap eval` reproduces them;
 * explanations and a ProtoNet support set smaller than the classes are refused with errors
 * that say why. */
static void test_memory_baselines(void **state) {
    char out[512], log[600];
    snprintf(out, sizeof out, "%s/baselines", tmpdir);
    snprintf(log, sizeof log, "%s.log", out);
    assert_int_equal(
        test_cli(log, "train %s --out %s --set 'variants=[\"std\",\"protonet\",\"matching\"]'",
                 crash_config, out),
        0);
    mw_results r;
    TEST_OK(mw_results_load(out, &r));
    assert_int_equal(r.count, 3);
    const mw_result_row *std = mw_results_find(&r, "fashion-mnist", "tiny_cnn", "std", 256, 0);
    assert_non_null(std);
    const char *names[2] = {"protonet", "matching"};
    /* they learn: three epochs on 256 images put them well above chance (10%) */
    const double above[2] = {25.0, 15.0};
    char path[700], cmd[2048], json[700];
    snprintf(path, sizeof path, "%s/results.md", out);
    char *md = (char *)test_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/report.html", out);
    char *html = (char *)test_read_file(path, NULL);
    for (int k = 0; k < 2; k++) {
        const mw_result_row *w = mw_results_find(&r, "fashion-mnist", "tiny_cnn", names[k], 256, 0);
        assert_non_null(w);
        assert_int_equal(w->repeats, 1);
        assert_false(w->has_majority);
        assert_int_equal(w->n_epochs, 3);
        for (int e = 0; e < 3; e++)
            assert_true(isfinite(w->epochs[e].loss) && w->epochs[e].loss > 0);
        print_message("%s %.2f%%, std %.2f%%\n", names[k], w->accuracy, std->accuracy);
        assert_true(w->accuracy > above[k]);
        char row[64];
        snprintf(row, sizeof row, "| %s |", names[k]);
        assert_non_null(strstr(md, row));

        snprintf(json, sizeof json, "%s/eval.json", tmpdir);
        snprintf(cmd, sizeof cmd, "%s eval %s/%s --json > %s 2>/dev/null", MEMWRAP_CLI_PATH, out,
                 w->checkpoint, json);
        assert_int_equal(system(cmd), 0);
        char *text = (char *)test_read_file(json, NULL);
        const char *at = strstr(text, "\"accuracy\":");
        assert_non_null(at);
        assert_true(strtod(at + strlen("\"accuracy\":"), NULL) == w->accuracy);
        free(text);

        snprintf(log, sizeof log, "%s/explain.log", tmpdir);
        assert_int_equal(test_cli(log, "explain %s/%s --out %s/ex", out, w->checkpoint, tmpdir), 2);
        text = (char *)test_read_file(log, NULL);
        char said[96];
        snprintf(said, sizeof said, "a %s model has no content weights", names[k]);
        assert_non_null(strstr(text, said));
        free(text);
    }
    assert_non_null(strstr(html, "ProtoNet"));
    assert_non_null(strstr(html, "MatchingNet"));
    /* no run can be explained, so no card asks for explanations */
    assert_null(strstr(html, "No explanations yet"));
    free(md), free(html);
    char *text;
    snprintf(log, sizeof log, "%s/small.log", tmpdir);
    assert_int_equal(test_cli(log,
                              "train %s --out %s/small --set 'variants=[\"protonet\"]' --set "
                              "memory_examples=8",
                              crash_config, tmpdir),
                     2);
    text = (char *)test_read_file(log, NULL);
    assert_non_null(strstr(text, "memory_examples"));
    assert_non_null(strstr(text, "each of the 10 classes"));
    free(text);
    mw_results_free(&r);
}

static void test_bad_inputs(void **state) {
    char cmd[1024];
    /* a config key that does not exist, a dataset directory that does not exist */
    snprintf(cmd, sizeof cmd, "%s train %s --set nonsense=1 --out %s/x 2>/dev/null",
             MEMWRAP_CLI_PATH, config, tmpdir);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s train %s --set dataset.root=/nonexistent --out %s/y 2>/dev/null",
             MEMWRAP_CLI_PATH, config, tmpdir);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s eval /nonexistent.safetensors 2>/dev/null", MEMWRAP_CLI_PATH);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

/* `memwrap bench --json` reports the training activations and their placement: pooled
 * (the default here) or each in a buffer of its own (MEMWRAP_ACTIVATION_POOL=off, the
 * default on NVIDIA's platform), the same activations either way. */
static void test_cli_bench_activations(void **state) {
    (void)state;
    bool nvidia = strstr(mw_runtime_device(test_runtime())->platform_name, "NVIDIA") != NULL;
    double bytes[2] = {0, 0};
    for (int off = nvidia ? 1 : 0; off < 2; off++) {
        char *out = NULL;
        setenv("MEMWRAP_ACTIVATION_POOL", off ? "off" : "on", 1);
        assert_int_equal(
            test_cli_output("bench --model mobilenetv2 --variant std --batch 2 --memory 2 "
                            "--test-batch 2 --steps 1 --warmup 1 --no-profile --json",
                            &out),
            0);
        unsetenv("MEMWRAP_ACTIVATION_POOL");
        cJSON *root = cJSON_Parse(out);
        assert_non_null(root);
        cJSON *pooled = cJSON_GetObjectItem(root, "activations_pooled");
        assert_true(cJSON_IsBool(pooled));
        assert_int_equal(cJSON_IsTrue(pooled), !off);
        bytes[off] = cJSON_GetObjectItem(root, "activation_bytes")->valuedouble;
        double pool = cJSON_GetObjectItem(root, "activation_pool_bytes")->valuedouble;
        assert_true(bytes[off] > 0);
        if (off)
            assert_true(pool == 0);
        else
            assert_true(pool > 0 && pool < bytes[off]);
        cJSON_Delete(root);
        free(out);
    }
    if (!nvidia) assert_true(bytes[0] == bytes[1]);
}

/* `memwrap bench --profile-nodes N --json` lists the N slowest nodes of each phase, slowest
 * first, each convolution named by its weight with its shapes and its FLOP count (2 x the
 * multiply-adds of its output, checked from the shapes it prints); the list needs the
 * profile that --no-profile turns off. */
static void test_cli_bench_profile_nodes(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(test_cli_output("bench --model mobilenetv2 --variant std --batch 2 "
                                     "--memory 2 --test-batch 2 --steps 1 --warmup 1 "
                                     "--profile-nodes 40 --json",
                                     &out),
                     0);
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    const char *phases[2] = {"train", "inference"};
    for (int p = 0; p < 2; p++) {
        cJSON *nodes = cJSON_GetObjectItem(cJSON_GetObjectItem(root, phases[p]), "nodes");
        assert_int_equal(cJSON_GetArraySize(nodes), 40);
        double last = 1e300;
        int convs = 0;
        for (int i = 0; i < 40; i++) {
            cJSON *n = cJSON_GetArrayItem(nodes, i);
            double ms = cJSON_GetObjectItem(n, "ms_per_run")->valuedouble;
            assert_true(ms <= last && ms >= 0);
            last = ms;
            assert_true(cJSON_GetObjectItem(n, "bytes")->valuedouble > 0);
            const char *op = cJSON_GetObjectItem(n, "op")->valuestring;
            const char *what = cJSON_GetObjectItem(n, "what")->valuestring;
            if (strcmp(op, "conv2d") != 0) continue;
            long long in[4], w[4], o[4];
            char name[128];
            assert_int_equal(sscanf(what, "%127s in %lldx%lldx%lldx%lld w %lldx%lldx%lldx%lld out "
                                          "%lldx%lldx%lldx%lld",
                                    name, &in[0], &in[1], &in[2], &in[3], &w[0], &w[1], &w[2],
                                    &w[3], &o[0], &o[1], &o[2], &o[3]),
                             13);
            assert_non_null(strstr(name, "weight"));
            double flops = 2.0 * (double)(o[0] * o[1] * o[2] * o[3]) * (double)(w[1] * w[2] * w[3]);
            assert_true(cJSON_GetObjectItem(n, "flops")->valuedouble == flops);
            convs++;
        }
        assert_true(convs > 0);
    }
    cJSON_Delete(root);
    free(out);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s bench --profile-nodes 3 --no-profile 2>/dev/null", MEMWRAP_CLI_PATH);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_kill_and_resume),  cmocka_unit_test(test_grid_crash_safety),
        cmocka_unit_test(test_memory_baselines),      cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_cli_bench_activations), cmocka_unit_test(test_cli_bench_profile_nodes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
