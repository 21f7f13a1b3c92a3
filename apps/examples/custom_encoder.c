/* Wrapping an encoder of your own with Memory Wrap, through the public API only.
 *
 * A small residual CNN is described as an mw_encoder: a name, its output width and a
 * function that builds it with the layers of memwrap/layers.h. Memory Wrap then replaces its
 * last layer: the encoder runs on the images and on a memory set of training images, with
 * shared weights, and a sparse attention over the memory feeds the classifier. The paper's
 * protocol trains it on a Fashion-MNIST subset (a fresh memory set at every step) and
 * evaluates it on the test set; then memwrap explains a few of its predictions with the
 * memory samples behind them (OUT/explain/<run>/index.html). Evaluation and explanation take
 * your encoder as they take a built-in one: give it in the run's spec. (The `memwrap` command
 * line knows the built-in encoders and those a config defines, not the ones compiled here.)
 *
 *     custom_encoder [--train N] [--epochs E] [--test N] [--out DIR] [--device SPEC]
 *                    [--data DIR] [--min-accuracy PERCENT]
 *
 * Exit status: 0 ok, 1 a library or device failure (the message says which), 2 bad usage,
 * 3 the test accuracy is below --min-accuracy (a check for CI).
 *
 * apps/examples/README.md walks through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memwrap/memwrap.h>

/* ---- the encoder -------------------------------------------------------------------------- */

/* conv -> batch norm (+ ReLU) -> conv -> batch norm, plus the input: a basic residual block.
 * Names are how weights are found again when the builder runs a second time (the memory
 * branch), and how they appear in the checkpoint: "block1.conv1.weight", ... */
static int residual_block(mw_graph *g, int x, const char *name, int channels) {
    char layer[MW_NAME_MAX];
    mw_layer_name(g, layer, "%s.conv1", name);
    int h = mw_layer_conv(g, x, layer, channels, 3, 1, 1, 1, false, MW_CONV_INIT_DEFAULT);
    mw_layer_name(g, layer, "%s.bn1", name);
    h = mw_layer_bn(g, h, layer, MW_ACT_RELU);
    mw_layer_name(g, layer, "%s.conv2", name);
    h = mw_layer_conv(g, h, layer, channels, 3, 1, 1, 1, false, MW_CONV_INIT_DEFAULT);
    mw_layer_name(g, layer, "%s.bn2", name);
    h = mw_layer_bn(g, h, layer, MW_ACT_NONE);
    return mw_relu(g, mw_add(g, h, x));
}

/* The builder: feature maps [C, N, H, W] in, rows [N, 64] out. Any -1 along the way has
 * recorded its error in the graph; a check of our own reports through mw_graph_fail. */
static int small_cnn(mw_graph *g, int maps, const mw_encoder *e, const mw_encoder_settings *s) {
    (void)s;
    if (mw_tensor_dim(g, maps, 2) % 4)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: images must be a multiple of 4 wide",
                             e->name);
    int x = mw_layer_conv(g, maps, "stem.conv", 32, 3, 1, 1, 1, false, MW_CONV_INIT_DEFAULT);
    x = mw_layer_bn(g, x, "stem.bn", MW_ACT_RELU);
    x = residual_block(g, x, "block1", 32);
    x = mw_layer_conv(g, x, "down.conv", 64, 3, 2, 1, 1, false, MW_CONV_INIT_DEFAULT);
    x = mw_layer_bn(g, x, "down.bn", MW_ACT_RELU);
    x = residual_block(g, x, "block2", 64);
    x = mw_layer_squeeze_excite(g, x, "se", 16);
    return mw_layer_pool_rows(g, x, (int)mw_tensor_dim(g, x, 2)); /* global average pool */
}

static const mw_encoder small_cnn_encoder = {
    .name = "small_cnn", .dim = 64, .build = small_cnn, .user = NULL};

/* ---- training it with the paper's protocol ------------------------------------------------ */

static void on_progress(const mw_progress *p, void *user) {
    (void)user;
    if (p->step == p->steps && strcmp(p->phase, "train") == 0)
        fprintf(stderr, "epoch %d/%d: loss %.4f, %.0f images/s\n", p->epoch, p->epochs,
                (double)p->loss, p->images_per_s);
}

static int fail(const char *what) {
    fprintf(stderr, "custom_encoder: %s: %s\n", what, mw_error_message());
    return 1;
}

int main(int argc, char **argv) {
    long train_examples = 1000, epochs = 10, test_examples = 0;
    const char *out = "runs/custom-encoder", *device = NULL;
    const char *data = "/usr/share/datasets/fashion-mnist";
    double expect = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--train") == 0)
            train_examples = strtol(v, NULL, 10);
        else if (strcmp(a, "--epochs") == 0)
            epochs = strtol(v, NULL, 10);
        else if (strcmp(a, "--test") == 0)
            test_examples = strtol(v, NULL, 10);
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--device") == 0)
            device = v;
        else if (strcmp(a, "--data") == 0)
            data = v;
        else if (strcmp(a, "--min-accuracy") == 0)
            expect = strtod(v, NULL);
        else {
            fprintf(stderr, "custom_encoder: unknown option %s\n", a);
            return 2;
        }
    }
    if (argc % 2 == 0 || train_examples < 100 || epochs < 1 || test_examples < 0) {
        fprintf(stderr, "usage: custom_encoder [--train N >= 100] [--epochs E] [--test N] "
                        "[--out DIR] [--device SPEC] [--data DIR] [--min-accuracy PERCENT]\n");
        return 2;
    }

    /* The run's settings: the paper's for Fashion-MNIST (SGD with momentum 0.9 and Nesterov,
     * lr 0.1, weight decay 5e-4, batch 128, a memory of 100), with a shorter schedule. */
    mw_run_options run;
    if (mw_run_options_defaults("fashion-mnist", &run) != MW_OK) return fail("settings");
    run.epochs = (int)epochs;
    run.schedule.n_milestones = 1; /* lr x 0.1 for the last quarter */
    run.schedule.milestones[0] = epochs * 3 / 4 > 0 ? (int)(epochs * 3 / 4) : 1;
    run.test_examples = (int)test_examples;
    run.eval_repeats = 2;

    mw_dataset *train = NULL, *test = NULL;
    mw_runtime *rt = NULL;
    if (mw_dataset_load(run.dataset, data, MW_SPLIT_TRAIN, &train) != MW_OK ||
        mw_dataset_load(run.dataset, data, MW_SPLIT_TEST, &test) != MW_OK)
        return fail("loading Fashion-MNIST");
    mw_runtime_options ro = {.device_spec = device};
    if (mw_runtime_create(&ro, &rt) != MW_OK) return fail("opening the device");

    /* One run: our encoder with the Memory Wrap head, on a random subset of the training set. */
    mw_trainer t = {.rt = rt,
                    .run = &run,
                    .train = train,
                    .test = test,
                    .out_dir = out,
                    .progress = on_progress};
    mw_run_spec spec = {.model = small_cnn_encoder,
                        .variant = MW_VARIANT_ENCODER_MEMORY,
                        .train_examples = train_examples,
                        .run = 0};
    mw_run_result res;
    mw_status s = mw_train_run(&t, &spec, &res);
    int rc = 0;
    if (s != MW_OK) {
        rc = fail("training");
    } else {
        printf("%s with Memory Wrap, %d training images: test accuracy %.2f%% (mean of %d "
               "passes); checkpoint %s\n",
               small_cnn_encoder.name, res.train_count, res.accuracy, res.repeats, res.checkpoint);
        if (expect >= 0 && res.accuracy < expect) {
            fprintf(stderr, "custom_encoder: accuracy %.2f%% is below the expected %.2f%%\n",
                    res.accuracy, expect);
            rc = 3;
        }
        /* Which training images drove a few predictions, as pictures and a page. */
        char dir[2048];
        mw_explain_default_dir(res.checkpoint, dir, sizeof dir);
        mw_explain_options eo = {.out_dir = dir, .images = 3};
        mw_explain_summary sum;
        if (mw_explain_run(&t, &spec, res.checkpoint, &eo, &sum) != MW_OK)
            rc = fail("explaining");
        else
            printf("explanations of %d test images: %s/index.html\n", sum.images, dir);
        mw_run_result_free(&res);
    }
    mw_runtime_free(rt);
    mw_dataset_free(train);
    mw_dataset_free(test);
    return rc;
}
