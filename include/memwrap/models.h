/* Model builders: the Memory Wrap heads (memorywrap's MemoryWrapLayer and BaselineMemory)
 * and the MLP they classify with. Parameter names follow the reference's state_dict keys,
 * under a caller-chosen prefix ("mw." inside the paper's models). */
#ifndef MEMWRAP_MODELS_H
#define MEMWRAP_MODELS_H

#include "memwrap/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Linear layer with PyTorch's default init recorded on its parameters:
 * <prefix>weight [out, in], <prefix>bias [out]. */
int mw_linear_layer(mw_graph *g, int x, int out_features, const char *prefix);

/* memorywrap's MLP: fc1 (in -> hidden), ReLU, fc2 (hidden -> out), under <prefix>. */
int mw_mlp(mw_graph *g, int x, int hidden, int out, const char *prefix);

typedef enum mw_head_kind {
    MW_HEAD_MEMORY_WRAP = 0, /* MemoryWrapLayer: classifier on [e, W·m], MLP 2d -> 4d -> C */
    MW_HEAD_BASELINE_MEMORY, /* BaselineMemory ("Only Memory"): classifier on W·m, d -> 2d -> C */
} mw_head_kind;

/* A user-supplied classifier: builds logits [N, classes] from `features` [N, width]. It may
 * create parameters (names under `prefix`) and must return a tensor id or -1. */
typedef int (*mw_classifier_fn)(mw_graph *g, int features, int classes, const char *prefix,
                                void *user);

typedef struct mw_head_options {
    mw_head_kind kind;
    const char *distance; /* "cosine" (default when NULL), "l2", "dot" */
    int classes;
    const char *prefix;   /* parameter name prefix, e.g. "mw." (NULL: none) */
    mw_classifier_fn classifier; /* NULL: memorywrap's default MLP */
    void *classifier_user;
    bool return_weights;  /* keep the content weights readable after a run */
} mw_head_options;

typedef struct mw_head_outputs {
    int logits;          /* [N, classes] */
    int content_weights; /* [N, M]: sparsemax(−distance(e, m)), rows sum to 1 */
} mw_head_outputs;

/* Appends the head on input encodings e [N, d] and memory encodings m [M, d]. The memory
 * encodings are not detached: gradients flow into both e and m. */
mw_status mw_head_build(mw_graph *g, int e, int m, const mw_head_options *opt,
                        mw_head_outputs *out);

/* ---- whole models: encoder x variant, as the reference's get_model ------------------- */

typedef enum mw_encoder_kind {
    MW_ENCODER_MOBILENETV2 = 0, /* d = 1280 */
    MW_ENCODER_RESNET18,        /* d = 512 */
    MW_ENCODER_EFFICIENTNET_B0, /* d = 320 */
    MW_ENCODER_COUNT
} mw_encoder_kind;

typedef enum mw_variant {
    MW_VARIANT_STD = 0,        /* encoder + linear head ("linear.*") */
    MW_VARIANT_MEMORY,         /* encoder + BaselineMemory ("mw.*"), "Only Memory" */
    MW_VARIANT_ENCODER_MEMORY, /* encoder + MemoryWrapLayer ("mw.*"), "Memory Wrap" */
    MW_VARIANT_COUNT
} mw_variant;

/* Names as the CLI and configs spell them: mobilenetv2 (alias mobilenet), resnet18,
 * efficientnet_b0 (alias efficientnet); std, memory, encoder_memory. Unknown names are
 * MW_ERR_INVALID_ARG with the valid ones in the message. */
mw_status mw_encoder_from_name(const char *name, mw_encoder_kind *out);
mw_status mw_variant_from_name(const char *name, mw_variant *out);
const char *mw_encoder_name(mw_encoder_kind e);
const char *mw_variant_name(mw_variant v);
int mw_encoder_dim(mw_encoder_kind e);

typedef struct mw_model_options {
    mw_encoder_kind encoder;
    mw_variant variant;
    int in_channels; /* 3 (CIFAR-10, SVHN, CINIC-10) or 1 (Fashion-MNIST) */
    int image_size;  /* 32 or 28 */
    int classes;
    int batch;       /* input images per run */
    int memory;      /* memory images per run (memory variants) */
    const char *distance; /* NULL: cosine */
    float dropout;   /* EfficientNet encoder dropout; < 0: the reference's 0.2 */
    bool training;   /* add labels, the loss and the backward pass */
    bool overlap_branches; /* memory branch on queue 1, overlapping the input branch */
} mw_model_options;

typedef struct mw_model {
    mw_graph *g;
    int images;          /* input [batch, C, H, W] */
    int memory;          /* input [memory, C, H, W], or -1 (std) */
    int labels;          /* int32 [batch], or -1 without training */
    int logits;          /* [batch, classes] (kept) */
    int content_weights; /* [batch, memory] (kept), or -1 (std) */
    int loss;            /* [1] (kept), or -1 without training */
} mw_model;

/* Builds the graph: for memory variants the encoder runs twice with shared weights, once
 * on the images and once on the memory, each with its own batch-norm statistics (running
 * statistics updated twice per training step, images first). */
mw_status mw_model_build(const mw_model_options *opt, mw_model *out);
void mw_model_free(mw_model *m);

#ifdef __cplusplus
}
#endif
#endif
