/* Experiment configs: per-dataset defaults, a full round trip through mw_config_to_json,
 * --set overrides of every value type, each class of error (with the key and the file in
 * the message), and every file shipped under configs/. Needs no OpenCL device. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memwrap/config.h"
#include "support.h"

/* configs/ of the source tree, found from the reference-vector directory the build gives. */
#define CONFIGS_DIR MEMWRAP_REFERENCE_DIR "/../../../configs"

/* ---- helpers --------------------------------------------------------------------- */

typedef test_dir_fixture fixture;

static int setup(void **state) {
    return test_dir_setup(state, "mw_test_config_", "cfg.json");
}

static int teardown(void **state) {
    return test_dir_teardown(state);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void assert_ok(mw_status s) {
    if (s != MW_OK) print_error("%s: %s\n", mw_status_name(s), mw_error_message());
    assert_int_equal(s, MW_OK);
}

static void assert_contains(const char *text, const char *part) {
    if (!strstr(text, part)) {
        print_error("expected \"%s\" in: %s\n", part, text);
        fail();
    }
}

/* Loads `json` (written to the fixture's file) with `sets`; asserts status `want` and, on
 * failure, that the message names the file and contains each of the NULL-terminated
 * `parts`. */
static void expect_load(const fixture *fx, const char *json, const char *const *sets, int n_sets,
                        mw_status want, mw_config *c, ...) {
    write_text(fx->path, json);
    mw_error_clear();
    mw_status s = mw_config_load(fx->path, sets, n_sets, c);
    if (s != want) {
        print_error("load of %s: got %s (%s), want %s\n", json, mw_status_name(s),
                    mw_error_message(), mw_status_name(want));
        fail();
    }
    if (want == MW_OK) return;
    assert_contains(mw_error_message(), fx->path);
    va_list ap;
    va_start(ap, c);
    for (const char *part; (part = va_arg(ap, const char *)) != NULL;)
        assert_contains(mw_error_message(), part);
    va_end(ap);
}

/* Every field but path. */
static void assert_same_config(const mw_config *a, const mw_config *b) {
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->run.dataset, b->run.dataset);
    assert_string_equal(a->data_root, b->data_root);
    assert_int_equal(a->n_models, b->n_models);
    for (int i = 0; i < a->n_models; i++)
        assert_string_equal(a->models[i], b->models[i]);
    assert_int_equal(a->n_variants, b->n_variants);
    for (int i = 0; i < a->n_variants; i++)
        assert_int_equal(a->variants[i], b->variants[i]);
    assert_int_equal(a->n_sizes, b->n_sizes);
    for (int i = 0; i < a->n_sizes; i++)
        assert_int_equal(a->train_examples[i], b->train_examples[i]);
    assert_int_equal(a->runs, b->runs);
    assert_int_equal(a->run.epochs, b->run.epochs);
    assert_int_equal(a->run.schedule.kind, b->run.schedule.kind);
    assert_true(a->run.schedule.base_lr == b->run.schedule.base_lr);
    assert_int_equal(a->run.schedule.n_milestones, b->run.schedule.n_milestones);
    for (int i = 0; i < a->run.schedule.n_milestones; i++)
        assert_int_equal(a->run.schedule.milestones[i], b->run.schedule.milestones[i]);
    assert_true(a->run.schedule.gamma == b->run.schedule.gamma);
    assert_int_equal(a->run.schedule.t_max, b->run.schedule.t_max);
    assert_true(a->run.schedule.eta_min == b->run.schedule.eta_min);
    assert_true(a->run.momentum == b->run.momentum);
    assert_true(a->run.weight_decay == b->run.weight_decay);
    assert_int_equal(a->run.nesterov, b->run.nesterov);
    assert_int_equal(a->run.batch_size, b->run.batch_size);
    assert_int_equal(a->run.test_batch_size, b->run.test_batch_size);
    assert_int_equal(a->run.test_examples, b->run.test_examples);
    assert_int_equal(a->run.memory_examples, b->run.memory_examples);
    assert_int_equal(a->run.eval_repeats, b->run.eval_repeats);
    assert_string_equal(a->run.distance, b->run.distance);
    assert_int_equal(a->run.memory_source, b->run.memory_source);
    assert_int_equal(a->run.validation_examples, b->run.validation_examples);
    assert_string_equal(a->device, b->device);
    assert_int_equal(a->explain.images, b->explain.images);
    assert_int_equal(a->explain.metrics, b->explain.metrics);
    assert_int_equal(a->explain.repeats, b->explain.repeats);
    assert_int_equal(a->explain.counterfactuals, b->explain.counterfactuals);
    assert_int_equal(a->explain.cf_inputs, b->explain.cf_inputs);
    assert_int_equal(a->explain.cf_proto_inputs, b->explain.cf_proto_inputs);
    assert_int_equal(a->explain.cf_iterations, b->explain.cf_iterations);
    assert_int_equal(a->explain.ae_epochs, b->explain.ae_epochs);
    assert_int_equal(a->explain.ae_images, b->explain.ae_images);
}

/* ---- defaults -------------------------------------------------------------------- */

static void test_defaults_common(void **state) {
    (void)state;
    mw_config c;
    assert_ok(mw_config_defaults("svhn", &c));
    assert_string_equal(c.name, "");
    assert_string_equal(c.path, "");
    assert_int_equal(c.n_models, 1);
    assert_string_equal(c.models[0], "mobilenetv2");
    assert_int_equal(c.n_variants, 3);
    assert_int_equal(c.variants[0], MW_VARIANT_STD);
    assert_int_equal(c.variants[1], MW_VARIANT_MEMORY);
    assert_int_equal(c.variants[2], MW_VARIANT_ENCODER_MEMORY);
    assert_int_equal(c.n_sizes, 4);
    assert_int_equal(c.train_examples[0], 1000);
    assert_int_equal(c.train_examples[1], 2000);
    assert_int_equal(c.train_examples[2], 5000);
    assert_int_equal(c.train_examples[3], -1);
    assert_int_equal(c.runs, 15);
    assert_true(c.run.schedule.base_lr == 0.1);
    assert_true(c.run.momentum == 0.9f);
    assert_true(c.run.nesterov);
    assert_true(c.run.weight_decay == 5e-4f);
    assert_int_equal(c.run.batch_size, 128);
    assert_int_equal(c.run.test_batch_size, 500);
    assert_int_equal(c.run.test_examples, 0);
    assert_int_equal(c.run.memory_examples, 100);
    assert_int_equal(c.run.eval_repeats, 5);
    assert_string_equal(c.run.distance, "cosine");
    assert_int_equal(c.run.memory_source, MW_MEMORY_FROM_SUBSET);
    assert_string_equal(c.device, "");
    assert_true(c.run.schedule.gamma == 0.1);
    assert_true(c.run.schedule.eta_min == 0.0);
    assert_ok(mw_lr_schedule_validate(&c.run.schedule));
}

static void test_defaults_per_dataset(void **state) {
    (void)state;
    static const struct {
        const char *name, *canonical, *root;
        int epochs;
        mw_schedule_kind kind;
        int n_milestones, m0, m1, validation;
    } cases[] = {
        {"fashion-mnist", "fashion-mnist", "/usr/share/datasets/fashion-mnist", 40,
         MW_SCHEDULE_MULTISTEP, 2, 20, 30, 6000},
        {"fmnist", "fashion-mnist", "/usr/share/datasets/fashion-mnist", 40, MW_SCHEDULE_MULTISTEP,
         2, 20, 30, 6000},
        {"fashion_mnist", "fashion-mnist", "/usr/share/datasets/fashion-mnist", 40,
         MW_SCHEDULE_MULTISTEP, 2, 20, 30, 6000},
        {"mnist", "mnist", "", 40, MW_SCHEDULE_MULTISTEP, 2, 20, 30, 6000},
        {"svhn", "svhn", "", 40, MW_SCHEDULE_MULTISTEP, 2, 20, 30, 6000},
        {"cifar10", "cifar10", "", 300, MW_SCHEDULE_MULTISTEP, 2, 150, 225, 6000},
        {"cifar-10", "cifar10", "", 300, MW_SCHEDULE_MULTISTEP, 2, 150, 225, 6000},
        {"cinic10", "cinic10", "", 300, MW_SCHEDULE_COSINE, 0, 0, 0, 10},
        {"cinic-10", "cinic10", "", 300, MW_SCHEDULE_COSINE, 0, 0, 0, 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mw_config c;
        assert_ok(mw_config_defaults(cases[i].name, &c));
        assert_string_equal(c.run.dataset, cases[i].canonical);
        assert_string_equal(c.data_root, cases[i].root);
        assert_int_equal(c.run.epochs, cases[i].epochs);
        assert_int_equal(c.run.schedule.kind, cases[i].kind);
        assert_int_equal(c.run.schedule.n_milestones, cases[i].n_milestones);
        if (cases[i].n_milestones) {
            assert_int_equal(c.run.schedule.milestones[0], cases[i].m0);
            assert_int_equal(c.run.schedule.milestones[1], cases[i].m1);
        }
        if (cases[i].kind == MW_SCHEDULE_COSINE) {
            assert_int_equal(c.run.schedule.t_max, c.run.epochs);
            assert_true(c.run.schedule.eta_min == 0.0);
        }
        assert_int_equal(c.run.validation_examples, cases[i].validation);
        assert_string_not_equal(mw_config_dataset_source(cases[i].name), "");
    }
    mw_config c;
    assert_int_equal(mw_config_defaults("imagenet", &c), MW_ERR_INVALID_ARG);
    assert_contains(mw_error_message(), "imagenet");
    assert_contains(mw_error_message(), "fashion-mnist");
    assert_contains(mw_error_message(), "cinic10");
    assert_int_equal(mw_config_defaults(NULL, &c), MW_ERR_INVALID_ARG);
}

/* A file with only dataset.name gives the defaults, named after the file. */
static void test_minimal_file(void **state) {
    fixture *fx = *state;
    mw_config c, d;
    expect_load(fx, "{\"dataset\": {\"name\": \"cinic-10\"}}", NULL, 0, MW_OK, &c, NULL);
    assert_ok(mw_config_defaults("cinic10", &d));
    snprintf(d.name, sizeof d.name, "cfg");
    assert_same_config(&c, &d);
    assert_string_equal(c.path, fx->path);
    assert_string_equal(c.run.dataset, "cinic10");
}

/* ---- round trip ------------------------------------------------------------------ */

static const char full_config[] =
    "{\n"
    "  \"name\": \"everything\",\n"
    "  \"dataset\": {\"name\": \"fmnist\", \"root\": \"/data/fm\", \"validation_examples\": 500,\n"
    "              \"memory_source\": \"full\"},\n"
    "  \"models\": [\"resnet18\", \"efficientnet\", \"mobilenetv2\"],\n"
    "  \"variants\": [\"encoder_memory\", \"std\"],\n"
    "  \"train_examples\": [300, \"full\", 7000],\n"
    "  \"runs\": 4,\n"
    "  \"epochs\": 12,\n"
    "  \"schedule\": {\"kind\": \"multistep\", \"milestones\": [3, 6, 11], \"gamma\": 0.25,\n"
    "               \"eta_min\": 0.001},\n"
    "  \"optimizer\": {\"lr\": 0.05, \"momentum\": 0.8, \"nesterov\": false,\n"
    "                \"weight_decay\": 1e-4},\n"
    "  \"batch_size\": 64,\n"
    "  \"test_batch_size\": 250,\n"
    "  \"test_examples\": 1000,\n"
    "  \"memory_examples\": 50,\n"
    "  \"eval_repeats\": 3,\n"
    "  \"distance\": \"l2\",\n"
    "  \"device\": \"gpu\",\n"
    "  \"explain\": {\"images\": 3, \"metrics\": true, \"repeats\": 4,\n"
    "              \"counterfactuals\": true, \"cf_inputs\": 128, \"cf_proto_inputs\": 0,\n"
    "              \"cf_iterations\": 500, \"ae_epochs\": 2, \"ae_images\": 1000}\n"
    "}\n";

static void test_round_trip(void **state) {
    fixture *fx = *state;
    mw_config a, b;
    expect_load(fx, full_config, NULL, 0, MW_OK, &a, NULL);
    /* Every key landed where it belongs. */
    assert_string_equal(a.name, "everything");
    assert_string_equal(a.run.dataset, "fashion-mnist");
    assert_string_equal(a.data_root, "/data/fm");
    assert_int_equal(a.run.validation_examples, 500);
    assert_int_equal(a.run.memory_source, MW_MEMORY_FROM_FULL_TRAIN);
    assert_int_equal(a.n_models, 3);
    assert_string_equal(a.models[0], "resnet18");
    assert_string_equal(a.models[1], "efficientnet_b0");
    assert_string_equal(a.models[2], "mobilenetv2");
    assert_int_equal(a.n_variants, 2);
    assert_int_equal(a.variants[0], MW_VARIANT_ENCODER_MEMORY);
    assert_int_equal(a.variants[1], MW_VARIANT_STD);
    assert_int_equal(a.n_sizes, 3);
    assert_int_equal(a.train_examples[0], 300);
    assert_int_equal(a.train_examples[1], -1);
    assert_int_equal(a.train_examples[2], 7000);
    assert_int_equal(a.runs, 4);
    assert_int_equal(a.run.epochs, 12);
    assert_int_equal(a.run.schedule.kind, MW_SCHEDULE_MULTISTEP);
    assert_int_equal(a.run.schedule.n_milestones, 3);
    assert_int_equal(a.run.schedule.milestones[2], 11);
    assert_true(a.run.schedule.gamma == 0.25);
    assert_true(a.run.schedule.eta_min == 0.001);
    assert_int_equal(a.run.schedule.t_max, 12);
    assert_true(a.run.schedule.base_lr == 0.05);
    assert_true(a.run.momentum == 0.8f);
    assert_false(a.run.nesterov);
    assert_true(a.run.weight_decay == 1e-4f);
    assert_int_equal(a.run.batch_size, 64);
    assert_int_equal(a.run.test_batch_size, 250);
    assert_int_equal(a.run.test_examples, 1000);
    assert_int_equal(a.run.memory_examples, 50);
    assert_int_equal(a.run.eval_repeats, 3);
    assert_string_equal(a.run.distance, "l2");
    assert_string_equal(a.device, "gpu");
    assert_int_equal(a.explain.images, 3);
    assert_true(a.explain.metrics);
    assert_int_equal(a.explain.repeats, 4);
    assert_true(a.explain.counterfactuals);
    assert_int_equal(a.explain.cf_inputs, 128);
    assert_int_equal(a.explain.cf_proto_inputs, 0);
    assert_int_equal(a.explain.cf_iterations, 500);
    assert_int_equal(a.explain.ae_epochs, 2);
    assert_int_equal(a.explain.ae_images, 1000);

    char *json = mw_config_to_json(&a);
    assert_non_null(json);
    /* Floats print as written, not as their double expansions; names canonical. */
    assert_contains(json, "0.0001");
    assert_contains(json, "0.8");
    assert_null(strstr(json, "0.80000001"));
    assert_contains(json, "\"efficientnet_b0\"");
    assert_contains(json, "\"full\"");
    char other[160];
    snprintf(other, sizeof other, "%s/again.json", fx->dir);
    write_text(other, json);
    assert_ok(mw_config_load(other, NULL, 0, &b));
    assert_same_config(&a, &b);
    assert_string_equal(b.path, other);
    /* And the text is a fixed point. */
    char *json2 = mw_config_to_json(&b);
    assert_non_null(json2);
    assert_string_equal(json, json2);
    free(json);
    free(json2);
}

/* The defaults of every dataset survive the trip too (cosine, empty milestones). */
static void test_round_trip_defaults(void **state) {
    fixture *fx = *state;
    static const char *const names[] = {"fashion-mnist", "mnist", "svhn", "cifar10", "cinic10"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mw_config a, b;
        assert_ok(mw_config_defaults(names[i], &a));
        char *json = mw_config_to_json(&a);
        assert_non_null(json);
        write_text(fx->path, json);
        free(json);
        assert_ok(mw_config_load(fx->path, NULL, 0, &b));
        assert_same_config(&a, &b);
    }
}

/* A batch_size above a training-set size loads (the reference trains such a run with
 * batches of train_examples) but says so; the paper's settings say nothing. */
static void test_batch_size_warning(void **state) {
    fixture *fx = *state;
    mw_config c;
    write_text(fx->path, "{\"dataset\": {\"name\": \"fashion-mnist\"}, \"batch_size\": "
                         "2000000000, \"train_examples\": [1000, 64], \"variants\": [\"std\"]}");
    assert_ok(mw_config_load(fx->path, NULL, 0, &c));
    assert_non_null(strstr(c.warning, "batch_size 2000000000 is larger than train_examples 1000"));
    assert_non_null(strstr(c.warning, "batches of 1000"));
    write_text(fx->path, "{\"dataset\": {\"name\": \"fashion-mnist\"}, "
                         "\"train_examples\": [1000, \"full\"]}");
    assert_ok(mw_config_load(fx->path, NULL, 0, &c));
    assert_string_equal(c.warning, "");
}

/* ---- errors ---------------------------------------------------------------------- */

static void test_unknown_keys(void **state) {
    fixture *fx = *state;
    mw_config c;
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"foo\": 1}", NULL, 0, MW_ERR_INVALID_ARG,
                &c, "unknown key 'foo'", "runs", "optimizer", NULL);
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"optimizer\": {\"bar\": 1}}", NULL, 0,
                MW_ERR_INVALID_ARG, &c, "unknown key 'optimizer.bar'", "momentum", "weight_decay",
                NULL);
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\", \"rot\": \"/x\"}}", NULL, 0,
                MW_ERR_INVALID_ARG, &c, "unknown key 'dataset.rot'", "root", NULL);
    /* The reference's yaml spelling is not ours: the message lists ours. */
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"batch_size_train\": 128}", NULL, 0,
                MW_ERR_INVALID_ARG, &c, "'batch_size_train'", "batch_size", NULL);
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"runs\": 2, \"runs\": 3}", NULL, 0,
                MW_ERR_INVALID_ARG, &c, "'runs' appears twice", NULL);
    expect_load(fx, "{\"runs\": 2}", NULL, 0, MW_ERR_INVALID_ARG, &c, "dataset.name", NULL);
}

static void test_wrong_types(void **state) {
    fixture *fx = *state;
    static const struct {
        const char *json, *key, *expected;
    } cases[] = {
        {"\"runs\": \"3\"", "'runs'", "an integer"},
        {"\"runs\": 2.5", "'runs'", "an integer"},
        {"\"epochs\": true", "'epochs'", "an integer"},
        {"\"name\": 3", "'name'", "a string"},
        {"\"optimizer\": {\"lr\": \"fast\"}", "'optimizer.lr'", "a finite number"},
        {"\"optimizer\": {\"momentum\": 1e39}", "'optimizer.momentum'", "a finite number"},
        {"\"optimizer\": {\"nesterov\": 1}", "'optimizer.nesterov'", "true or false"},
        {"\"optimizer\": 0.1", "'optimizer'", "an object"},
        {"\"models\": \"resnet18\"", "'models'", "an array"},
        {"\"models\": [18]", "'models'[0]", "a string"},
        {"\"train_examples\": [1000, \"all\"]", "'train_examples'[1]", "\"full\""},
        {"\"schedule\": {\"milestones\": [20, \"30\"]}", "'schedule.milestones'[1]", "an integer"},
        {"\"schedule\": {\"kind\": 2}", "'schedule.kind'", "a string"},
        {"\"distance\": null", "'distance'", "a string"},
        {"\"device\": [\"gpu\"]", "'device'", "a string"},
        {"\"explain\": {\"images\": \"six\"}", "'explain.images'", "an integer"},
        {"\"explain\": {\"metrics\": \"yes\"}", "'explain.metrics'", "true or false"},
        {"\"explain\": true", "'explain'", "an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"dataset\": {\"name\": \"svhn\"}, %s}", cases[i].json);
        mw_config c;
        expect_load(fx, json, NULL, 0, MW_ERR_INVALID_ARG, &c, cases[i].key, cases[i].expected,
                    NULL);
    }
    mw_config c;
    expect_load(fx, "{\"dataset\": \"svhn\"}", NULL, 0, MW_ERR_INVALID_ARG, &c, "'dataset'",
                "an object", NULL);
    expect_load(fx, "[1, 2]", NULL, 0, MW_ERR_FORMAT, &c, "object", NULL);
}

static void test_bad_values(void **state) {
    fixture *fx = *state;
    static const struct {
        const char *json, *key;
    } cases[] = {
        {"\"runs\": 0", "'runs' must be >= 1"},
        {"\"epochs\": 0", "'epochs'"},
        {"\"optimizer\": {\"lr\": 0}", "'optimizer.lr' must be > 0"},
        {"\"optimizer\": {\"lr\": -0.1}", "'optimizer.lr'"},
        {"\"optimizer\": {\"momentum\": -0.5}", "'optimizer.momentum'"},
        {"\"optimizer\": {\"weight_decay\": -1e-4}", "'optimizer.weight_decay'"},
        {"\"batch_size\": 0", "'batch_size'"},
        {"\"test_batch_size\": -5", "'test_batch_size'"},
        {"\"test_examples\": -1", "'test_examples'"},
        {"\"eval_repeats\": 0", "'eval_repeats'"},
        {"\"eval_repeats\": 17", "'eval_repeats' is 17, at most 16"},
        {"\"explain\": {\"images\": -1}", "'explain.images'"},
        {"\"explain\": {\"repeats\": 0}", "'explain.repeats'"},
        {"\"explain\": {\"repeats\": 17}", "'explain.repeats' is 17, at most 16"},
        {"\"explain\": {\"cf_inputs\": 0}", "'explain.cf_inputs'"},
        {"\"explain\": {\"cf_proto_inputs\": -1}", "'explain.cf_proto_inputs'"},
        {"\"explain\": {\"cf_iterations\": 100001}", "'explain.cf_iterations' is 100001"},
        {"\"explain\": {\"ae_epochs\": 1001}", "'explain.ae_epochs' is 1001, at most 1000"},
        {"\"explain\": {\"ae_images\": -3}", "'explain.ae_images'"},
        {"\"memory_examples\": 0", "'memory_examples'"},
        {"\"dataset\": {\"name\": \"svhn\", \"validation_examples\": -1}",
         "'dataset.validation_examples'"},
        {"\"schedule\": {\"milestones\": [30, 20]}", "milestones"},
        {"\"schedule\": {\"milestones\": [20, 20]}", "milestones"},
        {"\"schedule\": {\"milestones\": [0, 20]}", "milestone"},
        {"\"schedule\": {\"milestones\": [20, 40]}", "'schedule.milestones'[1]"},
        {"\"schedule\": {\"gamma\": 1.5}", "gamma"},
        {"\"schedule\": {\"gamma\": 0}", "gamma"},
        {"\"schedule\": {\"kind\": \"cosine\", \"eta_min\": -1}", "eta_min"},
        {"\"schedule\": {\"kind\": \"linear\"}", "'schedule.kind'"},
        {"\"schedule\": {\"milestones\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}",
         "'schedule.milestones'"},
        {"\"models\": []", "'models'"},
        {"\"variants\": []", "'variants'"},
        {"\"train_examples\": []", "'train_examples'"},
        {"\"train_examples\": [1,2,3,4,5,6,7,8,9]", "'train_examples'"},
        {"\"train_examples\": [0]", "'train_examples'[0]"},
        {"\"train_examples\": [-1]", "'train_examples'[0]"},
        {"\"train_examples\": [1000, 1000]", "'train_examples': entry 1 repeats entry 0"},
        {"\"variants\": [\"std\", \"std\"]", "'variants'"},
        {"\"models\": [\"mobilenet\", \"mobilenetv2\"]", "'models'"},
        /* The memory is drawn from the training subset: it must hold that many. */
        {"\"train_examples\": [50], \"memory_examples\": 100", "'train_examples'[0]"},
        {"\"dataset\": {\"name\": \"svhn\", \"memory_source\": \"all\"}",
         "'dataset.memory_source'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        /* Cases about dataset keys carry the whole dataset object. */
        if (strncmp(cases[i].json, "\"dataset\"", 9) == 0)
            snprintf(json, sizeof json, "{%s}", cases[i].json);
        else
            snprintf(json, sizeof json, "{\"dataset\": {\"name\": \"svhn\"}, %s}", cases[i].json);
        mw_config c;
        expect_load(fx, json, NULL, 0, MW_ERR_INVALID_ARG, &c, cases[i].key, NULL);
    }
    /* Allowed: memory_examples 0 without a memory variant, a training size below the batch
     * (trained with batch = size, as the reference), empty milestones (constant LR), and
     * milestones past the end under a cosine schedule (ignored, as the reference's CINIC). */
    static const char *const fine[] = {
        "\"variants\": [\"std\"], \"memory_examples\": 0",
        "\"train_examples\": [100], \"batch_size\": 128",
        "\"schedule\": {\"milestones\": []}",
        "\"schedule\": {\"kind\": \"cosine\", \"milestones\": [500]}",
        "\"schedule\": {\"gamma\": 1}",
        ("\"dataset\": {\"name\": \"svhn\", \"memory_source\": \"full\"}, "
         "\"train_examples\": [50]"),
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        char json[512];
        if (strncmp(fine[i], "\"dataset\"", 9) == 0)
            snprintf(json, sizeof json, "{%s}", fine[i]);
        else
            snprintf(json, sizeof json, "{\"dataset\": {\"name\": \"svhn\"}, %s}", fine[i]);
        mw_config c;
        expect_load(fx, json, NULL, 0, MW_OK, &c, NULL);
    }
}

static void test_unknown_names(void **state) {
    fixture *fx = *state;
    mw_config c;
    expect_load(fx, "{\"dataset\": {\"name\": \"imagenet\"}}", NULL, 0, MW_ERR_INVALID_ARG, &c,
                "'dataset.name'", "imagenet", "cifar10", NULL);
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"models\": [\"vgg16\"]}", NULL, 0,
                MW_ERR_INVALID_ARG, &c, "'models'[0]", "vgg16", "resnet18", NULL);
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"variants\": [\"std\", \"mem\"]}", NULL,
                0, MW_ERR_INVALID_ARG, &c, "'variants'[1]", "mem", "encoder_memory", NULL);
    expect_load(fx,
                "{\"dataset\": {\"name\": \"svhn\"}, \"variants\": [\"protonet\"], "
                "\"memory_examples\": 9}",
                NULL, 0, MW_ERR_INVALID_ARG, &c, "'memory_examples'", "protonet", "10 classes",
                NULL);
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"distance\": \"manhattan\"}", NULL, 0,
                MW_ERR_INVALID_ARG, &c, "'distance'", "manhattan", "cosine, l2, dot", NULL);
}

static void test_malformed_json(void **state) {
    fixture *fx = *state;
    mw_config c;
    expect_load(fx, "{\n  \"dataset\": {\"name\": \"svhn\"},\n  runs: 3\n}\n", NULL, 0,
                MW_ERR_FORMAT, &c, ":3:", "malformed JSON", NULL);
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}} trailing", NULL, 0, MW_ERR_FORMAT, &c,
                ":1:", NULL);
    expect_load(fx, "", NULL, 0, MW_ERR_FORMAT, &c, "malformed JSON", NULL);
}

static void test_missing_file(void **state) {
    fixture *fx = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/nope.json", fx->dir);
    mw_config c;
    assert_int_equal(mw_config_load(path, NULL, 0, &c), MW_ERR_NOT_FOUND);
    assert_contains(mw_error_message(), path);
    /* A directory opens but cannot be read as a file. */
    mw_status s = mw_config_load(fx->dir, NULL, 0, &c);
    assert_true(s == MW_ERR_IO || s == MW_ERR_FORMAT);
    assert_contains(mw_error_message(), fx->dir);
}

/* A failed load leaves the caller's struct as it was. */
static void test_failed_load_keeps_output(void **state) {
    fixture *fx = *state;
    mw_config c, before;
    assert_ok(mw_config_defaults("svhn", &c));
    c.runs = 77;
    memcpy(&before, &c, sizeof c);
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"runs\": 0}", NULL, 0, MW_ERR_INVALID_ARG,
                &c, "'runs'", NULL);
    assert_memory_equal(&c, &before, sizeof c);
}

/* ---- overrides ------------------------------------------------------------------- */

static const char base_config[] =
    "{\"dataset\": {\"name\": \"svhn\", \"root\": \"/file/root\"}, \"runs\": 5, \"epochs\": 40,"
    " \"schedule\": {\"kind\": \"multistep\", \"milestones\": [20, 30]}}";

static void test_overrides_each_type(void **state) {
    fixture *fx = *state;
    const char *sets[] = {
        "runs=3",                         /* integer */
        "optimizer.lr=0.05",              /* number */
        "optimizer.nesterov=false",       /* boolean */
        "dataset.root=/data/svhn",        /* bare string (not JSON) */
        "device=\"0:1\"",                 /* quoted JSON string */
        "name=2024",                      /* string key: the text as written */
        "train_examples=[1000,\"full\"]", /* array */
        "models=resnet18",                /* one entry for a one-entry list */
        "schedule={\"gamma\":0.5}",       /* object, merged into the file's */
        "distance=dot",
        "dataset.memory_source=full",
        "test_examples=300",
    };
    mw_config c;
    expect_load(fx, base_config, sets, (int)(sizeof sets / sizeof sets[0]), MW_OK, &c, NULL);
    assert_int_equal(c.runs, 3);
    assert_true(c.run.schedule.base_lr == 0.05);
    assert_false(c.run.nesterov);
    assert_string_equal(c.data_root, "/data/svhn");
    assert_string_equal(c.device, "0:1");
    assert_string_equal(c.name, "2024");
    assert_int_equal(c.n_sizes, 2);
    assert_int_equal(c.train_examples[0], 1000);
    assert_int_equal(c.train_examples[1], -1);
    assert_int_equal(c.n_models, 1);
    assert_string_equal(c.models[0], "resnet18");
    assert_true(c.run.schedule.gamma == 0.5);
    assert_int_equal(c.run.schedule.n_milestones, 2); /* kept from the file */
    assert_int_equal(c.run.schedule.milestones[1], 30);
    assert_string_equal(c.run.distance, "dot");
    assert_int_equal(c.run.memory_source, MW_MEMORY_FROM_FULL_TRAIN);
    assert_int_equal(c.run.test_examples, 300);
}

static void test_overrides_order(void **state) {
    fixture *fx = *state;
    mw_config c;
    /* After the file; later overrides win. */
    const char *twice[] = {"runs=2", "runs=9"};
    expect_load(fx, base_config, twice, 2, MW_OK, &c, NULL);
    assert_int_equal(c.runs, 9);
    /* A key the file lacks. */
    const char *lr[] = {"schedule.gamma=0.2"};
    expect_load(fx, "{\"dataset\": {\"name\": \"cifar10\"}}", lr, 1, MW_OK, &c, NULL);
    assert_true(c.run.schedule.gamma == 0.2);
    assert_int_equal(c.run.epochs, 300);
    /* The dataset override picks that dataset's defaults; the file's keys still apply. */
    const char *ds[] = {"dataset.name=cinic-10", "schedule.milestones=[]"};
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"runs\": 4}", ds, 2, MW_OK, &c, NULL);
    assert_string_equal(c.run.dataset, "cinic10");
    assert_int_equal(c.run.schedule.kind, MW_SCHEDULE_COSINE);
    assert_int_equal(c.run.epochs, 300);
    assert_int_equal(c.run.validation_examples, 10);
    assert_int_equal(c.runs, 4);
    /* Fewer epochs than the file's milestones allow: the milestones must follow. */
    const char *short_run[] = {"epochs=10"};
    expect_load(fx, base_config, short_run, 1, MW_ERR_INVALID_ARG, &c, "schedule.milestones", NULL);
    const char *short_ok[] = {"epochs=10", "schedule.milestones=[5,8]"};
    expect_load(fx, base_config, short_ok, 2, MW_OK, &c, NULL);
    assert_int_equal(c.run.schedule.milestones[1], 8);
}

static void test_override_errors(void **state) {
    fixture *fx = *state;
    mw_config c;
    const char *unknown[] = {"optimizer.beta=0.9"};
    expect_load(fx, base_config, unknown, 1, MW_ERR_INVALID_ARG, &c, "'optimizer.beta'", "momentum",
                NULL);
    const char *unknown_top[] = {"seed=3"};
    expect_load(fx, base_config, unknown_top, 1, MW_ERR_INVALID_ARG, &c, "'seed'", "runs", NULL);
    /* Under a level that does not exist, or under a key that is not a level: the top
     * level's keys are listed. */
    const char *unknown_level[] = {"solver.lr=3"};
    expect_load(fx, base_config, unknown_level, 1, MW_ERR_INVALID_ARG, &c, "'solver.lr'",
                "valid keys: name, dataset", NULL);
    const char *under_leaf[] = {"runs.count=3"};
    expect_load(fx, base_config, under_leaf, 1, MW_ERR_INVALID_ARG, &c, "'runs.count'",
                "valid keys: name, dataset", NULL);
    const char *no_eq[] = {"runs"};
    expect_load(fx, base_config, no_eq, 1, MW_ERR_INVALID_ARG, &c, "KEY=VALUE", NULL);
    const char *no_key[] = {"=3"};
    expect_load(fx, base_config, no_key, 1, MW_ERR_INVALID_ARG, &c, "KEY=VALUE", NULL);
    /* Wrong types and bad values name the override that brought them. */
    const char *bad_type[] = {"runs=abc"};
    expect_load(fx, base_config, bad_type, 1, MW_ERR_INVALID_ARG, &c, "'runs'", "an integer",
                "--set runs=abc", NULL);
    const char *bad_value[] = {"optimizer.lr=0"};
    expect_load(fx, base_config, bad_value, 1, MW_ERR_INVALID_ARG, &c, "'optimizer.lr'",
                "--set optimizer.lr=0", NULL);
    /* Checks across keys name the override of either key. */
    const char *bad_gamma[] = {"schedule.gamma=2"};
    expect_load(fx, base_config, bad_gamma, 1, MW_ERR_INVALID_ARG, &c, "gamma",
                "--set schedule.gamma=2", NULL);
    const char *few_epochs[] = {"epochs=25"};
    expect_load(fx, base_config, few_epochs, 1, MW_ERR_INVALID_ARG, &c, "'schedule.milestones'[1]",
                "--set epochs=25", NULL);
    const char *big_memory[] = {"memory_examples=2000"};
    expect_load(fx, base_config, big_memory, 1, MW_ERR_INVALID_ARG, &c, "'train_examples'[0]",
                "--set memory_examples=2000", NULL);
    const char *bad_member[] = {"optimizer={\"lr\":0.1,\"beta\":1}"};
    expect_load(fx, base_config, bad_member, 1, MW_ERR_INVALID_ARG, &c, "'optimizer.beta'",
                "--set optimizer=", NULL);
    const char *bad_model[] = {"models=[\"vgg\"]"};
    expect_load(fx, base_config, bad_model, 1, MW_ERR_INVALID_ARG, &c, "'models'[0]", "vgg",
                "--set models=", NULL);
    /* A key under something the file made a non-object. */
    const char *under_scalar[] = {"optimizer.lr=0.1"};
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"optimizer\": 3}", under_scalar, 1,
                MW_ERR_INVALID_ARG, &c, "'optimizer'", NULL);
    /* The file's own errors are not blamed on an override. */
    const char *unrelated[] = {"runs=3"};
    expect_load(fx, "{\"dataset\": {\"name\": \"svhn\"}, \"epochs\": 0}", unrelated, 1,
                MW_ERR_INVALID_ARG, &c, "'epochs'", NULL);
    assert_null(strstr(mw_error_message(), "--set"));
}

/* ---- shipped configs ------------------------------------------------------------- */

static int load_tree(const char *dir, int *count) {
    DIR *d = opendir(dir);
    if (!d) {
        print_error("cannot open %s\n", dir);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        size_t n = strlen(e->d_name);
        if (S_ISDIR(st.st_mode)) {
            if (load_tree(path, count) != 0) {
                closedir(d);
                return -1;
            }
        } else if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) {
            mw_config c;
            mw_status s = mw_config_load(path, NULL, 0, &c);
            if (s != MW_OK) {
                print_error("%s: %s\n", path, mw_error_message());
                closedir(d);
                return -1;
            }
            char *json = mw_config_to_json(&c);
            if (!json) {
                closedir(d);
                return -1;
            }
            free(json);
            (*count)++;
        }
    }
    closedir(d);
    return 0;
}

/* ---- encoders the config defines ----------------------------------------------------- */

static const char encoder_config[] =
    "{\"dataset\": {\"name\": \"cifar10\"},\n"
    " \"encoders\": {\"small\": [\n"
    "   {\"type\": \"conv\", \"out\": 8},\n"
    "   {\"type\": \"batch_norm\", \"activation\": \"relu\"},\n"
    "   {\"type\": \"residual\", \"body\": [{\"type\": \"conv\", \"out\": 16, \"stride\": 2},\n"
    "                                     {\"type\": \"batch_norm\"}],\n"
    "                          \"shortcut\": [{\"type\": \"conv\", \"out\": 16, \"kernel\": 1,\n"
    "                                        \"stride\": 2}]},\n"
    "   {\"type\": \"activation\", \"function\": \"swish\"},\n"
    "   {\"type\": \"squeeze_excite\", \"squeezed\": 4},\n"
    "   {\"type\": \"avg_pool\", \"kernel\": 2},\n"
    "   {\"type\": \"global_pool\"},\n"
    "   {\"type\": \"dropout\", \"p\": 0.25},\n"
    "   {\"type\": \"linear\", \"out\": 24, \"bias\": false}]},\n"
    " \"models\": [\"small\", \"resnet18\"]}";

static void test_defined_encoders(void **state) {
    fixture *fx = *state;
    mw_config a, b;
    expect_load(fx, encoder_config, NULL, 0, MW_OK, &a, NULL);
    assert_int_equal(a.n_encoders, 1);
    const mw_layer_list *l = &a.encoders[0];
    assert_string_equal(l->name, "small");
    assert_int_equal(l->n, 12); /* the residual's three branch layers inline */
    assert_int_equal(l->dim, 24);
    assert_int_equal(l->layers[0].kind, MW_LAYER_CONV);
    assert_int_equal(l->layers[0].kernel, 3); /* defaults: 3x3, stride 1, same padding */
    assert_int_equal(l->layers[0].padding, 1);
    assert_false(l->layers[0].bias);
    assert_int_equal(l->layers[2].kind, MW_LAYER_RESIDUAL);
    assert_int_equal(l->layers[2].body, 2);
    assert_int_equal(l->layers[2].shortcut, 1);
    assert_int_equal(l->layers[5].padding, 0); /* the 1x1 shortcut */
    assert_true(l->layers[10].p == 0.25f);
    assert_false(l->layers[11].bias);
    assert_string_equal(a.models[0], "small");
    assert_string_equal(a.models[1], "resnet18");
    /* resolved through the config: a layer-list encoder named and sized as defined */
    mw_encoder e;
    assert_ok(mw_config_encoder(&a, "small", &e));
    assert_string_equal(e.name, "small");
    assert_int_equal(e.dim, 24);
    assert_ptr_equal(e.user, l);
    assert_ok(mw_config_encoder(&a, "efficientnet", &e));
    assert_string_equal(e.name, "efficientnet_b0");
    assert_int_equal(mw_config_encoder(&a, "tiny", &e), MW_ERR_INVALID_ARG);
    assert_contains(mw_error_message(), "small"); /* the defined ones are listed too */
    /* the written config reads back the same, layer for layer */
    char *json = mw_config_to_json(&a);
    char other[160];
    snprintf(other, sizeof other, "%s/again.json", fx->dir);
    write_text(other, json);
    assert_ok(mw_config_load(other, NULL, 0, &b));
    assert_int_equal(b.n_encoders, 1);
    assert_int_equal(b.encoders[0].n, l->n);
    assert_int_equal(b.encoders[0].dim, l->dim);
    assert_memory_equal(b.encoders[0].layers, l->layers, (size_t)l->n * sizeof l->layers[0]);
    char *json2 = mw_config_to_json(&b);
    assert_string_equal(json, json2);
    free(json);
    free(json2);
}

/* A run's settings go back into a grid of that run alone (what a checkpoint records), which
 * loads again to the same settings and names the encoder when a config can. */
static void test_config_for_run(void **state) {
    fixture *fx = *state;
    mw_config a, back;
    expect_load(fx, encoder_config, NULL, 0, MW_OK, &a, NULL);
    a.run.epochs = 250;         /* CIFAR-10's milestones 150, 225 still within */
    a.run.schedule.t_max = 250; /* the loader derives it from the epochs */
    mw_run_spec spec = {.variant = MW_VARIANT_MEMORY, .train_examples = 300, .run = 2};
    const char *names[3] = {"small", "resnet18", NULL};
    for (int k = 0; k < 3; k++) {
        static const mw_encoder compiled = {.name = "compiled_cnn", .dim = 8, .build = NULL};
        if (names[k])
            assert_ok(mw_config_encoder(&a, names[k], &spec.model));
        else
            spec.model = compiled; /* a C encoder: no config can name it */
        mw_config one;
        assert_ok(mw_config_for_run(&a.run, &spec, &one));
        char *json = mw_config_to_json(&one);
        assert_ok(mw_config_load_text("recorded", json, NULL, 0, &back));
        free(json);
        assert_memory_equal(&back.run, &a.run, sizeof a.run);
        assert_int_equal(back.n_variants, 1);
        assert_int_equal(back.variants[0], MW_VARIANT_MEMORY);
        assert_int_equal(back.train_examples[0], 300);
        assert_int_equal(back.runs, 3);
        assert_string_equal(back.models[0], names[k] ? names[k] : "mobilenetv2");
        assert_int_equal(back.n_encoders, k == 0);
        if (k == 0) assert_memory_equal(&back.encoders[0], &a.encoders[0], sizeof a.encoders[0]);
    }
    mw_run_options defaults;
    assert_ok(mw_run_options_defaults("svhn", &defaults));
    assert_int_equal(defaults.epochs, 40);
    assert_int_equal(defaults.validation_examples, 6000);
    assert_int_equal(mw_run_options_defaults("imagenet", &defaults), MW_ERR_INVALID_ARG);
}

static void test_defined_encoder_errors(void **state) {
    fixture *fx = *state;
    static const struct {
        const char *encoders, *parts[2];
    } cases[] = {
        {"{\"e\": [{\"type\": \"convolution\", \"out\": 8}]}", {"'encoders.e'", "[0]: \"type\""}},
        {"{\"e\": [{\"type\": \"conv\"}]}", {"[0]", "needs \"out\""}},
        {"{\"e\": [{\"type\": \"conv\", \"out\": 8, \"size\": 3}]}",
         {"unknown key \"size\"", "valid: out, kernel"}},
        {"{\"e\": [{\"type\": \"conv\", \"out\": 0}]}", {"[0]", "\"out\" must be an integer >= 1"}},
        {"{\"e\": [{\"type\": \"batch_norm\", \"activation\": \"tanh\"}]}",
         {"[0]", "relu, swish, sigmoid"}},
        {"{\"e\": [{\"type\": \"dropout\", \"p\": 1}]}", {"[0]", "[0, 1)"}},
        {"{\"e\": [{\"type\": \"conv\", \"out\": 8}]}", {"'encoders.e'", "global_pool"}},
        {"{\"e\": [{\"type\": \"linear\", \"out\": 8}]}", {"layers.0", "needs rows"}},
        {"{\"e\": [{\"type\": \"global_pool\"}, {\"type\": \"conv\", \"out\": 8}]}",
         {"layers.1", "needs feature maps"}},
        {"{\"e\": [{\"type\": \"avg_pool\", \"kernel\": 5}, {\"type\": \"global_pool\"}]}",
         {"layers.0", "does not divide"}},
        {"{\"e\": [{\"type\": \"residual\", \"body\": [{\"type\": \"conv\", \"out\": 8}]},"
         " {\"type\": \"global_pool\"}]}",
         {"layers.0", "shortcut that matches"}},
        {"{\"e\": [{\"type\": \"residual\", \"body\": []}]}", {"[0]", "non-empty"}},
        {"{\"e\": []}", {"'encoders.e'", "at least one layer"}},
        {"{\"resnet18\": [{\"type\": \"global_pool\"}]}", {"'encoders.resnet18'", "built-in"}},
        {"{\"my net\": [{\"type\": \"global_pool\"}]}", {"'encoders.my net'", "letters, digits"}},
        {"[{\"type\": \"global_pool\"}]", {"'encoders'", "an object"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json, "{\"dataset\": {\"name\": \"svhn\"}, \"encoders\": %s}",
                 cases[i].encoders);
        mw_config c;
        expect_load(fx, json, NULL, 0, MW_ERR_INVALID_ARG, &c, cases[i].parts[0], cases[i].parts[1],
                    NULL);
    }
    /* a model that names no encoder lists the defined ones among the valid names */
    mw_config c;
    expect_load(fx,
                "{\"dataset\": {\"name\": \"svhn\"}, \"encoders\": {\"mine\": [{\"type\": "
                "\"global_pool\"}]}, \"models\": [\"yours\"]}",
                NULL, 0, MW_ERR_INVALID_ARG, &c, "'models'[0]", "mine", NULL);
    /* checked on the dataset's own images: a pool that divides 28 but not 32 */
    const char *pool7 = "\"encoders\": {\"p\": [{\"type\": \"avg_pool\", \"kernel\": 7}, "
                        "{\"type\": \"global_pool\"}]}";
    char json[512];
    snprintf(json, sizeof json, "{\"dataset\": {\"name\": \"fashion-mnist\"}, %s}", pool7);
    expect_load(fx, json, NULL, 0, MW_OK, &c, NULL);
    snprintf(json, sizeof json, "{\"dataset\": {\"name\": \"cifar10\"}, %s}", pool7);
    expect_load(fx, json, NULL, 0, MW_ERR_INVALID_ARG, &c, "3x32x32", "does not divide", NULL);
}

static void test_shipped_configs_load(void **state) {
    (void)state;
    int count = 0;
    assert_int_equal(load_tree(CONFIGS_DIR, &count), 0);
    assert_true(count >= 6);
}

static void test_shipped_configs_values(void **state) {
    (void)state;
    mw_config c;
    assert_ok(mw_config_load(CONFIGS_DIR "/smoke/fmnist-tiny.json", NULL, 0, &c));
    assert_string_equal(c.run.dataset, "fashion-mnist");
    assert_int_equal(c.n_variants, 2);
    assert_int_equal(c.train_examples[0], 64);
    assert_int_equal(c.runs, 2);
    assert_int_equal(c.run.epochs, 2);
    assert_int_equal(c.run.batch_size, 16);
    assert_int_equal(c.run.test_batch_size, 100);
    assert_int_equal(c.run.test_examples, 200);
    assert_int_equal(c.run.memory_examples, 8);
    assert_int_equal(c.run.eval_repeats, 2);
    assert_int_equal(c.run.schedule.n_milestones, 1);
    assert_ok(mw_config_check_root(&c));

    assert_ok(mw_config_load(CONFIGS_DIR "/fmnist/mobilenetv2.json", NULL, 0, &c));
    assert_int_equal(c.runs, 15);
    assert_int_equal(c.run.epochs, 40);
    assert_int_equal(c.n_sizes, 4);
    assert_int_equal(c.train_examples[3], -1);

    assert_ok(mw_config_load(CONFIGS_DIR "/paper/cinic10.json", NULL, 0, &c));
    assert_int_equal(c.n_models, 3);
    assert_int_equal(c.run.schedule.kind, MW_SCHEDULE_COSINE);
    assert_int_equal(c.run.schedule.t_max, 300);
    assert_int_equal(c.run.validation_examples, 10);
    /* The paper configs load without a root; the trainer's check says where to get it. */
    assert_string_equal(c.data_root, "");
    assert_int_equal(mw_config_check_root(&c), MW_ERR_INVALID_ARG);
    assert_contains(mw_error_message(), "cinic10.json");
    assert_contains(mw_error_message(), "datashare.ed.ac.uk");
    assert_contains(mw_error_message(), "--set dataset.root=");

    const char *root[] = {"dataset.root=/data/cifar"};
    assert_ok(mw_config_load(CONFIGS_DIR "/paper/cifar10.json", root, 1, &c));
    assert_int_equal(c.run.epochs, 300);
    assert_int_equal(c.run.schedule.milestones[1], 225);
    assert_string_equal(c.data_root, "/data/cifar");
    assert_ok(mw_config_check_root(&c));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_common),
        cmocka_unit_test(test_defaults_per_dataset),
        cmocka_unit_test_setup_teardown(test_minimal_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defined_encoders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defined_encoder_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_for_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_load_keeps_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overrides_each_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overrides_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_size_warning, setup, teardown),
        cmocka_unit_test(test_shipped_configs_load),
        cmocka_unit_test(test_shipped_configs_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
