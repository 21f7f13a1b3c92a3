/* Memory Wrap heads (memorywrap 1.1.x memory.py: MemoryWrapLayer, BaselineMemory, MLP). */
#include <stdio.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "memwrap/models.h"
#include "memwrap/ops.h"

/* dst = a + b as a parameter name; false (and a graph error) if it would not fit. */
static bool join_name(mw_graph *g, char dst[MW_NAME_MAX], const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb >= MW_NAME_MAX) {
        mw_graph_fail(g, MW_ERR_INVALID_ARG, "parameter name '%s%s' longer than %d characters", a,
                      b, MW_NAME_MAX - 1);
        return false;
    }
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb + 1);
    return true;
}

int mw_linear_layer(mw_graph *g, int x, int out_features, const char *prefix) {
    if (!mw_graph_check_inputs(g, "linear_layer", &x, 1)) return -1;
    int64_t in = mw_tensor_dim(g, x, 1);
    char name[MW_NAME_MAX];
    int64_t wshape[2] = {out_features, in}, bshape[1] = {out_features};
    if (!join_name(g, name, prefix, "weight")) return -1;
    int w = mw_graph_param(g, name, 2, wshape);
    if (!join_name(g, name, prefix, "bias")) return -1;
    int b = mw_graph_param(g, name, 1, bshape);
    /* nn.Linear.reset_parameters: kaiming_uniform(a=√5) for the weight and U(±1/√fan_in) for
     * the bias, which both come to the bound 1/√in. */
    mw_graph_param_init_uniform_fan_in(g, w, in);
    mw_graph_param_init_uniform_fan_in(g, b, in);
    return mw_linear(g, x, w, b);
}

/* The MLP, with its hidden ReLU activations in *h. */
static int mlp(mw_graph *g, int x, int hidden, int out, const char *prefix, int *h) {
    char p1[MW_NAME_MAX], p2[MW_NAME_MAX];
    *h = -1;
    if (!join_name(g, p1, prefix, "fc1.") || !join_name(g, p2, prefix, "fc2.")) return -1;
    *h = mw_relu(g, mw_linear_layer(g, x, hidden, p1));
    return mw_linear_layer(g, *h, out, p2);
}

int mw_mlp(mw_graph *g, int x, int hidden, int out, const char *prefix) {
    int h;
    return mlp(g, x, hidden, out, prefix, &h);
}

mw_status mw_head_build(mw_graph *g, int e, int m, const mw_head_options *opt,
                        mw_head_outputs *out) {
    out->logits = out->content_weights = out->attention_bias = out->hidden = -1;
    int in[2] = {e, m};
    if (!mw_graph_check_inputs(g, "memory_wrap", in, 2)) return mw_graph_status(g);
    if (opt->classes < 1) {
        mw_graph_fail(g, MW_ERR_INVALID_ARG, "memory wrap: %d classes", opt->classes);
        return mw_graph_status(g);
    }
    const char *prefix = opt->prefix ? opt->prefix : "";
    const char *distance = opt->distance ? opt->distance : "cosine";

    /* content weights: sparsemax(−distance); cosine gives sparsemax(cos − 1) as in 1.1.x */
    int scores = mw_affine(g, mw_distance(g, e, m, distance), -1.0f, 0.0f);
    if (opt->attention_bias) {
        int64_t shape[2] = {mw_tensor_dim(g, e, 0), mw_tensor_dim(g, m, 0)};
        out->attention_bias = mw_graph_input(g, "attention_bias", MW_F32, 2, shape);
        scores = mw_add(g, scores, out->attention_bias);
    }
    int weights = mw_sparsemax(g, scores);
    int memory_vector = mw_matmul(g, weights, m, false, false); /* W·m with the raw m */
    int features =
        opt->kind == MW_HEAD_MEMORY_WRAP ? mw_concat_cols(g, e, memory_vector) : memory_vector;
    if (features < 0) return mw_graph_status(g);
    char cprefix[MW_NAME_MAX];
    if (!join_name(g, cprefix, prefix, "classifier.")) return mw_graph_status(g);
    int width = (int)mw_tensor_dim(g, features, 1), hidden = -1;
    int logits = opt->classifier
                     ? opt->classifier(g, features, opt->classes, cprefix, opt->classifier_user)
                     : mlp(g, features, 2 * width, opt->classes, cprefix, &hidden);
    if (logits < 0) {
        if (mw_graph_status(g) == MW_OK)
            mw_graph_fail(g, MW_ERR_INVALID_ARG, "memory wrap: the classifier returned no tensor");
        return mw_graph_status(g);
    }
    if (mw_tensor_ndim(g, logits) != 2 || mw_tensor_dim(g, logits, 1) != opt->classes) {
        mw_graph_fail(g, MW_ERR_INVALID_ARG, "memory wrap: the classifier must return [N, %d]",
                      opt->classes);
        return mw_graph_status(g);
    }
    char name[MW_NAME_MAX];
    if (!join_name(g, name, prefix, "content_weights")) return mw_graph_status(g);
    mw_tensor_set_name(g, weights, name);
    if (opt->return_weights) mw_graph_keep(g, weights);
    if (opt->return_hidden && hidden >= 0) mw_graph_keep(g, hidden);
    out->hidden = hidden;
    out->logits = logits;
    out->content_weights = weights;
    return MW_OK;
}
