/* `memwrap infer`: runs a model trained anywhere (memwrap or the reference PyTorch code) on
 * any OpenCL device. Weights use the reference's state_dict names; the variant and the
 * classes are read from them, the channels from the input. The encoder is --model's, or,
 * for a checkpoint of `memwrap train`, the one its metadata names (a config-defined encoder
 * included). Inputs and outputs are safetensors files:
 * X holds `input` [N, C, H, W] (normalised), M holds `memory` [M, C, H, W]; Y receives
 * `logits` [N, classes] and, for memory variants, `content_weights` [N, M]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "memwrap/checkpoint_run.h"
#include "memwrap/memwrap.h"

static void usage(FILE *to) {
    fprintf(to,
            "usage: memwrap infer [--model NAME] [--variant std|memory|encoder_memory]\n"
            "                     --weights W.safetensors --input X.safetensors\n"
            "                     [--memory M.safetensors] --output Y.safetensors\n"
            "                     [--distance cosine|l2|dot] [--device SPEC]\n"
            "models: %s; without --model, the one a checkpoint of\n"
            "`memwrap train` names (config-defined encoders included)\n",
            mw_encoder_builtin_names());
}

static int fail(mw_status s, const char *what) {
    fprintf(stderr, "memwrap infer: %s%s%s\n", what, what[0] ? ": " : "", mw_error_message());
    return mw_exit_code(s);
}

/* The variant and classes from the weights' names and shapes. */
static mw_status describe_weights(const mw_safetensors *w, mw_model_options *o,
                                  bool variant_given) {
    char head[MW_NAME_MAX]; /* the std head's weight: linear.weight, WideResNet's classifier.5 */
    snprintf(head, sizeof head, "%sweight", o->encoder->std_head ? o->encoder->std_head : "linear.");
    const mw_st_tensor *linear = mw_safetensors_find(w, head);
    const mw_st_tensor *fc1 = mw_safetensors_find(w, "mw.classifier.fc1.weight");
    const mw_st_tensor *fc2 = mw_safetensors_find(w, "mw.classifier.fc2.weight");
    mw_variant found;
    int d = o->encoder->dim;
    if (linear && linear->ndim == 2) {
        found = MW_VARIANT_STD;
        o->classes = (int)linear->shape[0];
    } else if (fc1 && fc2 && fc1->ndim == 2 && fc2->ndim == 2) {
        found = fc1->shape[1] == 2 * d ? MW_VARIANT_ENCODER_MEMORY : MW_VARIANT_MEMORY;
        o->classes = (int)fc2->shape[0];
    } else {
        return mw_error_set(MW_ERR_FORMAT,
                            "%s: neither %s nor mw.classifier.fc1/fc2.weight: cannot tell the "
                            "variant (a protonet model holds only its encoder; infer does not "
                            "take the labelled support sets it needs: evaluate it with "
                            "`memwrap eval`)",
                            w->path, head);
    }
    if (variant_given && found != o->variant)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s holds a %s model, not %s", w->path,
                            mw_variant_name(found), mw_variant_name(o->variant));
    o->variant = found;
    return MW_OK;
}

/* Reads tensor `name` [N, C, S, S] from `path` as float32; C is *channels' when that is set. */
static mw_status read_images(const char *path, const char *name, int *channels, float **data,
                             int *count, int *size) {
    mw_safetensors *st = NULL;
    MW_TRY(mw_safetensors_load(path, &st));
    const mw_st_tensor *t = mw_safetensors_find(st, name);
    mw_status s = MW_OK;
    if (!t || t->ndim != 4 || t->shape[2] != t->shape[3] || t->shape[1] < 1 ||
        (*channels && t->shape[1] != *channels))
        s = mw_error_set(MW_ERR_FORMAT, "%s: needs tensor '%s' of shape [N, %s, S, S]", path, name,
                         *channels == 1   ? "1"
                         : *channels == 3 ? "3"
                                          : "C");
    if (s == MW_OK && *size && t->shape[2] != *size)
        s = mw_error_set(MW_ERR_FORMAT, "%s: '%s' images are %lldx%lld, the input's %dx%d", path,
                         name, (long long)t->shape[2], (long long)t->shape[3], *size, *size);
    if (s == MW_OK && !(*data = malloc(t->numel * sizeof **data)))
        s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory reading %s", path);
    if (s == MW_OK) s = mw_safetensors_read_f32(st, name, -1, NULL, *data, t->numel);
    if (s == MW_OK) {
        *count = (int)t->shape[0];
        *size = (int)t->shape[2];
        *channels = (int)t->shape[1];
    }
    mw_safetensors_free(st);
    return s;
}

int mw_cmd_infer(int argc, char **argv) {
    const char *model = NULL, *variant = NULL, *weights = NULL, *input = NULL, *memory = NULL;
    const char *output = NULL, *device = NULL, *distance = NULL;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(a, "--model") == 0      ? &model
                            : strcmp(a, "--variant") == 0  ? &variant
                            : strcmp(a, "--weights") == 0  ? &weights
                            : strcmp(a, "--input") == 0    ? &input
                            : strcmp(a, "--memory") == 0   ? &memory
                            : strcmp(a, "--output") == 0   ? &output
                            : strcmp(a, "--device") == 0   ? &device
                            : strcmp(a, "--distance") == 0 ? &distance
                                                           : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return MW_EXIT_OK;
        }
        if (!slot || !v) {
            fprintf(stderr, "memwrap infer: bad argument '%s'\n", a);
            usage(stderr);
            return MW_EXIT_USAGE;
        }
        *slot = v;
    }
    if (!weights || !input || !output) {
        fprintf(stderr, "memwrap infer: --weights, --input and --output are required\n");
        usage(stderr);
        return MW_EXIT_USAGE;
    }
    mw_model_options o = {.dropout = -1, .distance = distance};
    /* the encoder: --model's, else the checkpoint's own (through its config) */
    mw_config cfg;
    mw_run_spec spec;
    mw_status s = model ? mw_encoder_from_name(model, &o.encoder)
                        : mw_checkpoint_read_run(weights, NULL, &cfg, &spec);
    if (s != MW_OK) return fail(s, model ? "" : "no --model, and the weights do not name one");
    if (!model) o.encoder = &spec.model;
    if (variant && (s = mw_variant_from_name(variant, &o.variant)) != MW_OK) return fail(s, "");
    if (variant && mw_variant_has_support_labels(o.variant)) {
        fprintf(stderr, "memwrap infer: a %s model classifies against labelled support "
                        "sets, which infer does not take; evaluate it with `memwrap eval "
                        "CHECKPOINT`\n", mw_variant_name(o.variant));
        return MW_EXIT_USAGE;
    }
    mw_safetensors *w = NULL;
    if ((s = mw_safetensors_load(weights, &w)) != MW_OK) return fail(s, "");
    s = describe_weights(w, &o, variant != NULL);
    mw_safetensors_free(w);
    if (s != MW_OK) return fail(s, "");
    bool with_memory = o.variant != MW_VARIANT_STD;
    if (with_memory && !memory) {
        fprintf(stderr, "memwrap infer: a %s model needs --memory\n", mw_variant_name(o.variant));
        return MW_EXIT_USAGE;
    }

    float *x = NULL, *m = NULL, *logits = NULL, *cw = NULL;
    int n = 0, n_mem = 0, size = 0;
    mw_runtime *rt = NULL;
    mw_exec *ex = NULL;
    mw_model md = {0};
    const char *stage = "";
    if ((s = read_images(input, "input", &o.in_channels, &x, &n, &size)) != MW_OK) goto done;
    if (with_memory &&
        (s = read_images(memory, "memory", &o.in_channels, &m, &n_mem, &size)) != MW_OK)
        goto done;
    o.batch = n;
    o.memory = n_mem;
    o.image_size = size;
    stage = "building the model";
    if ((s = mw_model_build(&o, &md)) != MW_OK) goto done;
    mw_runtime_options ro = {.device_spec = device};
    stage = "opening the device";
    if ((s = mw_runtime_create(&ro, &rt)) != MW_OK) goto done;
    stage = "planning";
    if ((s = mw_exec_create(md.g, rt, &ex)) != MW_OK) goto done;
    stage = "loading weights";
    if ((s = mw_checkpoint_load(ex, weights)) != MW_OK) goto done;
    stage = "running";
    size_t ilen = (size_t)n * o.in_channels * size * size * 4;
    if ((s = mw_exec_write(ex, md.images, x, ilen)) != MW_OK) goto done;
    if (with_memory &&
        (s = mw_exec_write(ex, md.memory, m, (size_t)n_mem * o.in_channels * size * size * 4)) !=
            MW_OK)
        goto done;
    if ((s = mw_exec_run(ex, MW_RUN_FORWARD)) != MW_OK) goto done;
    logits = malloc((size_t)n * o.classes * 4);
    cw = with_memory ? malloc((size_t)n * n_mem * 4) : NULL;
    if (!logits || (with_memory && !cw)) {
        s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    if ((s = mw_exec_read(ex, md.logits, logits, (size_t)n * o.classes * 4)) != MW_OK) goto done;
    if (with_memory &&
        (s = mw_exec_read(ex, md.content_weights, cw, (size_t)n * n_mem * 4)) != MW_OK)
        goto done;
    int64_t lshape[2] = {n, o.classes}, wshape[2] = {n, n_mem};
    mw_st_write_item items[2] = {{"logits", MW_ST_F32, 2, lshape, logits},
                                 {"content_weights", MW_ST_F32, 2, wshape, cw}};
    stage = "writing the output";
    s = mw_safetensors_write(output, items, with_memory ? 2 : 1, NULL);
    if (s == MW_OK)
        fprintf(stderr, "memwrap infer: %s/%s, %d image%s%s -> %s on %s\n", o.encoder->name,
                mw_variant_name(o.variant), n, n == 1 ? "" : "s", with_memory ? " with memory" : "",
                output, mw_runtime_device(rt)->name);
done:;
    int rc = s == MW_OK ? MW_EXIT_OK : fail(s, stage);
    mw_exec_free(ex);
    mw_model_free(&md);
    mw_runtime_free(rt);
    free(x), free(m), free(logits), free(cw);
    return rc;
}
