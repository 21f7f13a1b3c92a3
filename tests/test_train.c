/* `memwrap train` end to end on the smoke grid (configs/smoke/fmnist-tiny.json, the real
 * Fashion-MNIST): results, per-epoch logs, checkpoints and report.html written; a grid killed
 * mid-run and started again ends with exactly the results and training logs of an
 * uninterrupted one; a finished grid is skipped; `memwrap eval` reproduces a run's recorded
 * accuracy. */
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
    while ((e = readdir(d)) && !found) found = strstr(e->d_name, ".resume.safetensors") != NULL;
    closedir(d);
    return found;
}

static void assert_same_results(const mw_results *a, const mw_results *b) {
    assert_int_equal(a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        const mw_result_row *x = &a->rows[i];
        const mw_result_row *y = mw_results_find(b, x->dataset, x->model, x->variant,
                                                 x->train_examples, x->run);
        assert_non_null(y);
        if (x->accuracy != y->accuracy) {
            print_error("%s/%s run %d: %.4f uninterrupted, %.4f after kill and resume\n",
                        x->model, x->variant, x->run, x->accuracy, y->accuracy);
            fail();
        }
        assert_int_equal(x->repeats, y->repeats);
        for (int k = 0; k < x->repeats; k++)
            assert_true(x->repeat_accuracy[k] == y->repeat_accuracy[k]);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_kill_and_resume),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
