/* Whole models (memory-wrap's paper/utils/utils.py:get_model): an encoder with a linear
 * head (std) or a Memory Wrap head on the encodings of the images and of the memory. */
#include <string.h>

#include "graph/graph_internal.h"
#include "memwrap/models.h"
#include "memwrap/ops.h"
#include "models/encoders.h"

const mw_encoder mw_encoder_mobilenetv2 = {
    .name = "mobilenetv2", .dim = 1280, .build = mw_mobilenetv2_encoder};
const mw_encoder mw_encoder_resnet18 = {
    .name = "resnet18", .dim = 512, .build = mw_resnet18_encoder};
const mw_encoder mw_encoder_efficientnet_b0 = {
    .name = "efficientnet_b0", .dim = 320, .build = mw_efficientnet_b0_encoder};
const mw_encoder mw_encoder_googlenet = {
    .name = "googlenet", .dim = 1024, .build = mw_googlenet_encoder};
const mw_encoder mw_encoder_densenet_cifar = {
    .name = "densenet_cifar", .dim = 384, .build = mw_densenet_cifar_encoder};
const mw_encoder mw_encoder_shufflenetv2 = {
    .name = "shufflenetv2", .dim = 1024, .build = mw_shufflenetv2_encoder};
const mw_encoder mw_encoder_wrn28_10 = {.name = "wrn28_10",
                                        .dim = 640,
                                        .build = mw_wrn28_10_encoder,
                                        .std_head = "classifier.5.",
                                        .zero_head_biases = true};

static const struct {
    const mw_encoder *encoder;
    const char *alias; /* the reference's own spelling */
} builtins[] = {
    {&mw_encoder_mobilenetv2, "mobilenet"},        {&mw_encoder_resnet18, NULL},
    {&mw_encoder_efficientnet_b0, "efficientnet"}, {&mw_encoder_googlenet, NULL},
    {&mw_encoder_densenet_cifar, "densenet"},      {&mw_encoder_shufflenetv2, "shufflenet"},
    {&mw_encoder_wrn28_10, "wide-resnet"},
};

const mw_encoder *mw_encoder_builtin(const char *name) {
    for (size_t i = 0; name && i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(name, builtins[i].encoder->name) == 0 ||
            (builtins[i].alias && strcmp(name, builtins[i].alias) == 0))
            return builtins[i].encoder;
    return NULL;
}

mw_status mw_encoder_from_name(const char *name, const mw_encoder **out) {
    *out = mw_encoder_builtin(name);
    if (*out) return MW_OK;
    return mw_error_set(MW_ERR_INVALID_ARG, "unknown model '%s': valid models are %s",
                        name ? name : "(null)", mw_encoder_builtin_names());
}

const char *mw_encoder_builtin_names(void) {
    return "mobilenetv2 (or mobilenet), resnet18, efficientnet_b0 (or efficientnet), googlenet, "
           "densenet_cifar (or densenet), shufflenetv2 (or shufflenet), wrn28_10 (or "
           "wide-resnet)";
}

static const char *const variant_names[MW_VARIANT_COUNT] = {"std", "memory", "encoder_memory",
                                                             "protonet", "matching"};

mw_status mw_variant_from_name(const char *name, mw_variant *out) {
    for (int i = 0; i < MW_VARIANT_COUNT; i++)
        if (name && strcmp(name, variant_names[i]) == 0) {
            *out = (mw_variant)i;
            return MW_OK;
        }
    return mw_error_set(MW_ERR_INVALID_ARG,
                        "unknown variant '%s': valid variants are std, memory, encoder_memory, "
                        "protonet, matching",
                        name ? name : "(null)");
}

const char *mw_variant_name(mw_variant v) {
    return (unsigned)v < MW_VARIANT_COUNT ? variant_names[v] : "?";
}

bool mw_variant_has_memory(mw_variant v) {
    return v != MW_VARIANT_STD;
}

bool mw_variant_has_attention(mw_variant v) {
    return v == MW_VARIANT_MEMORY || v == MW_VARIANT_ENCODER_MEMORY;
}

bool mw_variant_has_support_labels(mw_variant v) {
    return v == MW_VARIANT_PROTONET || v == MW_VARIANT_MATCHING;
}

mw_status mw_support_average(const int32_t *labels, int memory, int classes, float *average) {
    for (int c = 0; c < classes; c++) {
        int n = 0;
        for (int j = 0; j < memory; j++)
            n += labels[j] == c;
        if (n == 0)
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "protonet: class %d has no sample in the support set of %d, so "
                                "no prototype",
                                c, memory);
        for (int j = 0; j < memory; j++)
            average[(size_t)c * memory + j] = labels[j] == c ? 1.0f / (float)n : 0.0f;
    }
    return MW_OK;
}

mw_status mw_support_fill(mw_variant v, const int32_t *labels, int memory, int classes,
                          float *out) {
    if (v == MW_VARIANT_PROTONET) return mw_support_average(labels, memory, classes, out);
    if (v != MW_VARIANT_MATCHING)
        return mw_error_set(MW_ERR_INVALID_ARG, "a %s model takes no support labels",
                            mw_variant_name(v));
    for (int j = 0; j < memory; j++) {
        if (labels[j] < 0 || labels[j] >= classes)
            return mw_error_set(MW_ERR_INVALID_ARG, "support label %d outside [0, %d)",
                                labels[j], classes);
        for (int c = 0; c < classes; c++)
            out[(size_t)j * classes + c] = labels[j] == c ? 1.0f : 0.0f;
    }
    return MW_OK;
}

/* Prototypical Networks' head (memory-wrap's paper/scripts/run_protonet.py): the prototypes
 * are the support encodings averaged per class, the logits −distance(e, prototypes); the
 * loss (log_softmax then NLL) is the softmax cross-entropy of those logits. */
static int protonet_head(mw_graph *g, const mw_model_options *opt, int e, int m, mw_model *out) {
    int64_t shape[2] = {opt->classes, opt->memory};
    out->support = mw_graph_input(g, "support_average", MW_F32, 2, shape);
    int prototypes = mw_matmul(g, out->support, m, false, false);
    return mw_affine(g, mw_distance(g, e, prototypes, opt->distance ? opt->distance : "cosine"),
                     -1.0f, 0.0f);
}

/* The encoder on images [N, C, H, W]: its rows [N, d], checked against its declared d. */
static int encode(mw_graph *g, const mw_model_options *opt, int images) {
    const mw_encoder *e = opt->encoder;
    mw_encoder_settings s = {opt->dropout, opt->variant};
    int rows = e->build(g, mw_images_to_maps(g, images), e, &s);
    if (rows < 0) {
        if (mw_graph_status(g) == MW_OK)
            mw_graph_fail(g, MW_ERR_INVALID_ARG, "encoder %s returned no tensor", e->name);
        return -1;
    }
    if (mw_tensor_ndim(g, rows) != 2 || mw_tensor_dim(g, rows, 0) != mw_tensor_dim(g, images, 0) ||
        mw_tensor_dim(g, rows, 1) != e->dim)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "encoder %s must return rows [%lld, %d] (its dim), not a %d-d "
                             "tensor of %lld x %lld",
                             e->name, (long long)mw_tensor_dim(g, images, 0), e->dim,
                             mw_tensor_ndim(g, rows), (long long)mw_tensor_dim(g, rows, 0),
                             (long long)mw_tensor_dim(g, rows, 1));
    return rows;
}

/* WideResNet's init loop: every linear bias of the head (the std head's, or the MLP's of a
 * memory head) starts at zero. */
static void zero_head_biases(mw_graph *g, const char *prefix) {
    size_t lp = strlen(prefix);
    for (int i = 0; i < mw_graph_param_count(g); i++) {
        int t = mw_graph_param_at(g, i);
        const char *name = mw_tensor_name(g, t);
        size_t n = strlen(name);
        if (strncmp(name, prefix, lp) == 0 && n >= 5 && strcmp(name + n - 5, ".bias") == 0)
            mw_graph_set_init(g, t, (mw_init){MW_INIT_ZERO, 0.0f});
    }
}

/* Appends the backward pass of the model's output for a given output gradient (an input
 * named "output_grad"), with gradients for `wrt` (images or encodings, then memory). */
static void add_input_gradients(mw_graph *g, int output, const int wrt[2], mw_model *out) {
    int64_t shape[MW_MAX_DIMS];
    int ndim = mw_tensor_ndim(g, output);
    for (int i = 0; i < ndim; i++)
        shape[i] = mw_tensor_dim(g, output, i);
    out->output_grad = mw_graph_input(g, "output_grad", MW_F32, ndim, shape);
    int n_wrt = wrt[1] >= 0 ? 2 : 1;
    if (mw_graph_status(g) != MW_OK) return;
    if (mw_graph_backward_inputs(g, output, out->output_grad, wrt, n_wrt) != MW_OK) {
        mw_graph_fail(g, MW_ERR_INVALID_ARG, "input gradients: %s", mw_error_message());
        return;
    }
    out->input_grad = mw_graph_grad(g, wrt[0]);
    out->memory_grad = n_wrt == 2 ? mw_graph_grad(g, wrt[1]) : -1;
    if (out->input_grad >= 0) mw_graph_keep(g, out->input_grad);
    if (out->memory_grad >= 0) mw_graph_keep(g, out->memory_grad);
}

mw_status mw_model_build(const mw_model_options *opt, mw_model *out) {
    memset(out, 0, sizeof *out);
    out->images = out->memory = out->encodings = out->memory_encodings = out->labels = -1;
    out->logits = out->content_weights = out->loss = -1;
    out->output_grad = out->input_grad = out->memory_grad = out->attention_bias = -1;
    out->hidden = out->support = -1;
    if (!opt->encoder || !opt->encoder->build || !opt->encoder->name || opt->encoder->dim < 1 ||
        (unsigned)opt->variant >= MW_VARIANT_COUNT || (unsigned)opt->part > MW_MODEL_HEAD)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "model: no encoder (with a name, a builder and a dim >= 1), or an "
                            "unknown variant or part");
    bool memory = mw_variant_has_memory(opt->variant);
    bool needs_memory = memory && opt->part != MW_MODEL_ENCODER;
    if (opt->in_channels < 1 || opt->image_size < 4 || opt->classes < 1 || opt->batch < 1 ||
        (needs_memory && opt->memory < 1))
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "model: need channels, image size, classes, batch%s >= 1",
                            needs_memory ? " and memory" : "");
    if (opt->training && (opt->part != MW_MODEL_WHOLE || opt->input_gradients))
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "model: training builds the whole model, without input gradients");
    mw_graph *g = mw_graph_create();
    if (!g) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    out->g = g;
    int d = opt->encoder->dim;
    int e, m = -1;
    if (opt->part == MW_MODEL_HEAD) {
        int64_t eshape[2] = {opt->batch, d};
        e = out->encodings = mw_graph_input(g, "encodings", MW_F32, 2, eshape);
    } else {
        int64_t ishape[4] = {opt->batch, opt->in_channels, opt->image_size, opt->image_size};
        out->images = mw_graph_input(g, "input", MW_F32, 4, ishape);
        e = encode(g, opt, out->images);
    }
    int output = -1;
    if (opt->part == MW_MODEL_ENCODER) {
        output = out->encodings = e;
        if (e >= 0) mw_tensor_set_name(g, e, "encodings");
    } else if (!memory) {
        const char *head = opt->encoder->std_head ? opt->encoder->std_head : "linear.";
        output = out->logits = mw_linear_layer(g, e, opt->classes, head);
        if (opt->encoder->zero_head_biases) zero_head_biases(g, head);
    } else {
        if (opt->part == MW_MODEL_HEAD) {
            int64_t mshape[2] = {opt->memory, d};
            m = out->memory_encodings = mw_graph_input(g, "memory_encodings", MW_F32, 2, mshape);
        } else {
            int64_t mshape[4] = {opt->memory, opt->in_channels, opt->image_size, opt->image_size};
            out->memory = mw_graph_input(g, "memory", MW_F32, 4, mshape);
            if (opt->overlap_branches) mw_graph_set_queue(g, 1);
            m = encode(g, opt, out->memory);
            mw_graph_set_queue(g, 0);
        }
        if (opt->variant == MW_VARIANT_PROTONET) {
            output = out->logits = protonet_head(g, opt, e, m, out);
        } else if (opt->variant == MW_VARIANT_MATCHING) {
            int64_t shape[2] = {opt->memory, opt->classes};
            out->support = mw_graph_input(g, "support_onehot", MW_F32, 2, shape);
            output = out->logits =
                mw_matching_head(g, e, m, out->support, opt->distance, opt->encoder->dim);
        } else {
            mw_head_options ho = {.kind = opt->variant == MW_VARIANT_ENCODER_MEMORY
                                              ? MW_HEAD_MEMORY_WRAP
                                              : MW_HEAD_BASELINE_MEMORY,
                                  .distance = opt->distance,
                                  .classes = opt->classes,
                                  .prefix = "mw.",
                                  .return_weights = true,
                                  .return_hidden = opt->return_hidden,
                                  .attention_bias = opt->attention_bias};
            mw_head_outputs hout;
            if (mw_head_build(g, e, m, &ho, &hout) == MW_OK) {
                out->logits = hout.logits;
                out->content_weights = hout.content_weights;
                out->attention_bias = hout.attention_bias;
                out->hidden = hout.hidden;
                if (opt->encoder->zero_head_biases) zero_head_biases(g, "mw.");
            }
            output = out->logits;
        }
    }
    if (output >= 0) mw_graph_keep(g, output);
    if (opt->training && mw_graph_status(g) == MW_OK) {
        int64_t lshape[1] = {opt->batch};
        out->labels = mw_graph_input(g, "labels", MW_I32, 1, lshape);
        out->loss = mw_softmax_cross_entropy(g, out->logits, out->labels);
        mw_graph_keep(g, out->loss);
        if (mw_graph_status(g) == MW_OK) {
            mw_status s = mw_graph_backward(g, out->loss, NULL, 0);
            if (s != MW_OK) {
                mw_model_free(out);
                return s;
            }
        }
    }
    if (opt->input_gradients && mw_graph_status(g) == MW_OK) {
        int wrt[2] = {opt->part == MW_MODEL_HEAD ? out->encodings : out->images,
                      opt->part == MW_MODEL_HEAD ? out->memory_encodings : out->memory};
        add_input_gradients(g, output, wrt, out);
    }
    mw_status s = mw_graph_status(g);
    if (s != MW_OK) {
        mw_error_set(s, "building %s/%s: %s", opt->encoder->name, mw_variant_name(opt->variant),
                     mw_graph_error(g));
        mw_model_free(out);
        return s;
    }
    return MW_OK;
}

void mw_model_free(mw_model *m) {
    mw_graph_free(m->g);
    m->g = NULL;
}
