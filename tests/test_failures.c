/* How `memwrap train` fails, end to end on the custom-encoder smoke grid: each failure gives a
 * message naming the file, key, op or device, a non-zero exit, and loses nothing already
 * written. A loss that becomes NaN (the op named, the last completed epoch kept), a device too
 * small for the batch (MEMWRAP_GLOBAL_MEM_SIZE simulates one), a full disk (a file size
 * limit), a read-only output directory, and a dataset file truncated or missing. The
 * interrupted write is test_train's (MEMWRAP_KILL_AT_WRITE); a kernel that fails to build is
 * test_runtime's. And, in a build without MPI, a process an MPI launcher started as one of
 * several (test_mpi has the build with MPI). */
#define _XOPEN_SOURCE 700 /* mkdtemp, symlink */
#include "support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];
static const char *config =
    MEMWRAP_REFERENCE_DIR "/../../../configs/smoke/fmnist-custom-encoder.json";
static const char *fmnist = "/usr/share/datasets/fashion-mnist";

static int setup(void **state) {
    return test_make_tmpdir(tmpdir, sizeof tmpdir, "memwrap-failures-") ? 0 : -1;
}

static int teardown(void **state) {
    test_remove_tree(tmpdir);
    return 0;
}

/* Fails unless the file `log` contains every string of the NULL-terminated list. */
static void expect_log(const char *log, ...) {
    size_t n = 0;
    char *text = (char *)test_read_file(log, &n);
    text[n] = '\0';
    va_list ap;
    va_start(ap, log);
    for (const char *want; (want = va_arg(ap, const char *));) {
        if (!strstr(text, want)) {
            print_error("%s does not say \"%s\"; it says:\n%s\n", log, want, text);
            fail();
        }
    }
    va_end(ap);
    free(text);
}

static bool same_bytes(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    uint8_t *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    bool same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static void copy_file(const char *from, const char *to) {
    size_t n = 0;
    uint8_t *data = test_read_file(from, &n);
    test_write_file(to, data, n);
    free(data);
}

/* Files a failed write left behind in dir ("<name>.tmp.<pid>.<n>"). */
static int count_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* The std runs of the grid (faster), `runs` of them, into dir; extra shell text before. */
#define TRAIN "%s '%s' train '%s' --out '%s' --set 'variants=[\"std\"]'"

static void test_nan_loss_keeps_last_epoch(void **state) {
    char dir[512], log[600], resume[900], saved[900];
    snprintf(dir, sizeof dir, "%s/nan", tmpdir);
    snprintf(log, sizeof log, "%s.log", dir);
    /* Killed in its second write (the resume file after epoch 2): epoch 1's is on disk. */
    assert_int_equal(
        test_shell(log, TRAIN, "MEMWRAP_KILL_AT_WRITE=2", MEMWRAP_CLI_PATH, config, dir), 128 + 9);
    snprintf(resume, sizeof resume, "%s/fashion-mnist-tiny_cnn-std-256-run0.resume.safetensors",
             dir);
    snprintf(saved, sizeof saved, "%s/epoch1.safetensors", tmpdir);
    copy_file(resume, saved);
    /* Resumed with a learning rate that blows the weights up in epoch 2's first step. */
    assert_int_equal(
        test_shell(log, TRAIN " --set optimizer.lr=1e30", "", MEMWRAP_CLI_PATH, config, dir), 1);
    expect_log(log, "tiny_cnn-std-256-run0: the loss became", "at epoch 2, step 2 (lr 1e+30)",
               "first non-finite value: forward node", "from finite inputs",
               "Nothing was applied; the last completed epoch is kept in", resume, NULL);
    assert_true(same_bytes(resume, saved)); /* the last good state, untouched */
    assert_int_equal(count_temporaries(dir), 0);
    /* And from scratch: no epoch completed, nothing to keep. */
    snprintf(dir, sizeof dir, "%s/nan-first", tmpdir);
    assert_int_equal(
        test_shell(log, TRAIN " --set optimizer.lr=1e30", "", MEMWRAP_CLI_PATH, config, dir), 1);
    expect_log(log, "at epoch 1, step 2", "no epoch had completed", NULL);
}

static void test_device_too_small_for_the_batch(void **state) {
    char dir[512], log[600];
    snprintf(dir, sizeof dir, "%s/oom", tmpdir);
    snprintf(log, sizeof log, "%s.log", dir);
    /* 8 MB of device memory: the batch of 32 needs about 10 MiB. */
    assert_int_equal(
        test_shell(log, TRAIN, "MEMWRAP_GLOBAL_MEM_SIZE=8000000", MEMWRAP_CLI_PATH, config, dir),
        1);
    expect_log(log, "tiny_cnn-std-256-run0: a batch of 32 (batch_size) does not fit on the device",
               "MiB of device memory", "activations", "Try batch_size=16", NULL);
    char results[600];
    snprintf(results, sizeof results, "%s/results.json", dir);
    assert_int_not_equal(access(results, F_OK), 0);
    /* and the suggestion works */
    assert_int_equal(
        test_shell(log,
                   TRAIN
                   " --set batch_size=16 --set test_batch_size=25 --set epochs=1 --set 'schedule="
                   "{\"kind\":\"multistep\",\"milestones\":[]}'",
                   "MEMWRAP_GLOBAL_MEM_SIZE=8000000", MEMWRAP_CLI_PATH, config, dir),
        0);
}

/* A directory for a grid, its log, and results.json with a copy saved outside it. */
typedef struct grid_paths {
    char dir[512], log[600], results[600], saved[600];
} grid_paths;

/* The paths of grid `name`, and one finished run in it (with the --set options `sets`),
 * its results.json copied to saved. */
static void finish_one_run(const char *name, const char *sets, grid_paths *p) {
    snprintf(p->dir, sizeof p->dir, "%s/%s", tmpdir, name);
    snprintf(p->log, sizeof p->log, "%s.log", p->dir);
    snprintf(p->results, sizeof p->results, "%s/results.json", p->dir);
    snprintf(p->saved, sizeof p->saved, "%s/%s-results.json", tmpdir, name);
    assert_int_equal(
        test_shell(p->log, TRAIN " --set runs=1 %s", "", MEMWRAP_CLI_PATH, config, p->dir, sets),
        0);
    copy_file(p->results, p->saved);
}

/* An encoder of a million parameters (a 4 MB checkpoint, an 8 MB resume file) that trains
 * in a second. */
static const char *wide_encoder =
    "--set 'encoders={\"wide\": [{\"type\": \"conv\", \"out\": 8, \"stride\": 2}, "
    "{\"type\": \"batch_norm\", \"activation\": \"relu\"}, {\"type\": \"global_pool\"}, "
    "{\"type\": \"linear\", \"out\": 1024}, {\"type\": \"activation\", \"function\": "
    "\"relu\"}, {\"type\": \"linear\", \"out\": 1024}]}' --set 'models=[\"wide\"]'";

static void test_full_disk(void **state) {
    grid_paths p;
    finish_one_run("full", wide_encoder, &p);
    /* The second run cannot write its resume file: files are limited to 4 MB, which PoCL's
     * temporaries (it writes each program's preprocessed source, ~1 MB) still fit in, and
     * SIGXFSZ is ignored so that writes fail with EFBIG as they fail with ENOSPC on a full
     * disk. */
    int rc = test_shell(p.log, "trap '' XFSZ; " TRAIN " --set runs=2 %s", "prlimit --fsize=4000000",
                        MEMWRAP_CLI_PATH, config, p.dir, wide_encoder);
    assert_int_not_equal(rc, 0);
    expect_log(p.log, "wide-std-256-run1.resume.safetensors", "File too large", NULL);
    assert_true(same_bytes(p.results, p.saved)); /* the finished run's result, untouched */
    assert_int_equal(count_temporaries(p.dir), 0);
}

static void test_read_only_output(void **state) {
    grid_paths p;
    finish_one_run("read-only", "", &p);
    assert_int_equal(chmod(p.dir, 0555), 0);
    /* root writes anywhere: it runs without the capabilities that override permissions */
    const char *as = geteuid() == 0 ? "setpriv --bounding-set=-dac_override,-dac_read_search" : "";
    if (geteuid() == 0 && test_shell(p.log, "%s true", as) != 0) {
        chmod(p.dir, 0755);
        print_message("setpriv cannot drop root's capabilities here: skipped\n");
        skip();
    }
    int rc = test_shell(p.log, TRAIN " --set runs=2", as, MEMWRAP_CLI_PATH, config, p.dir);
    assert_int_equal(chmod(p.dir, 0755), 0);
    assert_int_not_equal(rc, 0);
    expect_log(p.log, "tiny_cnn-std-256-run1.resume.safetensors", "Permission denied", NULL);
    assert_true(same_bytes(p.results, p.saved));
    assert_int_equal(count_temporaries(p.dir), 0);
}

static void test_dataset_file_truncated_or_missing(void **state) {
    char data[512], log[600], from[900], to[900], dir[600];
    snprintf(data, sizeof data, "%s/fashion-mnist", tmpdir);
    snprintf(dir, sizeof dir, "%s/data-out", tmpdir);
    snprintf(log, sizeof log, "%s/data.log", tmpdir);
    assert_int_equal(mkdir(data, 0755), 0);
    const char *files[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                           "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    for (int i = 0; i < 4; i++) {
        snprintf(from, sizeof from, "%s/%s", fmnist, files[i]);
        snprintf(to, sizeof to, "%s/%s", data, files[i]);
        if (i < 3)
            assert_int_equal(symlink(from, to), 0);
        else
            copy_file(from, to);
    }
    /* the test labels cut in half */
    snprintf(to, sizeof to, "%s/%s", data, files[3]);
    size_t n = 0;
    uint8_t *labels = test_read_file(to, &n);
    test_write_file(to, labels, n / 2);
    free(labels);
    assert_int_equal(
        test_shell(log, TRAIN " --set dataset.root='%s'", "", MEMWRAP_CLI_PATH, config, dir, data),
        2);
    expect_log(log, "t10k-labels-idx1-ubyte.gz", NULL);
    /* and gone */
    assert_int_equal(unlink(to), 0);
    assert_int_equal(
        test_shell(log, TRAIN " --set dataset.root='%s'", "", MEMWRAP_CLI_PATH, config, dir, data),
        2);
    expect_log(log, "t10k-labels-idx1-ubyte", NULL);
}

#if !MEMWRAP_CLI_HAS_MPI
/* One of several processes of mpirun or srun, in a build without MPI: it says so and stops
 * before it reads the config or writes anything, rather than training the grid K times. */
static void test_launched_by_mpi_without_mpi(void **state) {
    char log[600], dir[600];
    snprintf(dir, sizeof dir, "%s/launched", tmpdir);
    snprintf(log, sizeof log, "%s/launched.log", tmpdir);
    assert_int_equal(
        test_shell(log, TRAIN, "OMPI_COMM_WORLD_SIZE=2", MEMWRAP_CLI_PATH, config, dir), 2);
    expect_log(log, "one of 2 processes", "built without MPI", NULL);
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(
        test_shell(log, TRAIN, "SLURM_STEP_NUM_TASKS=4", MEMWRAP_CLI_PATH, config, dir), 2);
    expect_log(log, "one of 4 processes", NULL);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
#if !MEMWRAP_CLI_HAS_MPI
        cmocka_unit_test(test_launched_by_mpi_without_mpi),
#endif
        cmocka_unit_test(test_nan_loss_keeps_last_epoch),
        cmocka_unit_test(test_device_too_small_for_the_batch),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_read_only_output),
        cmocka_unit_test(test_dataset_file_truncated_or_missing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
