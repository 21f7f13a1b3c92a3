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

#ifdef __cplusplus
}
#endif
#endif
