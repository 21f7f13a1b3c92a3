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
    const char *prefix;          /* parameter name prefix, e.g. "mw." (NULL: none) */
    mw_classifier_fn classifier; /* NULL: memorywrap's default MLP */
    void *classifier_user;
    bool return_weights; /* keep the content weights readable after a run */
    bool return_hidden;  /* keep the default MLP's hidden ReLU activations readable */
    /* Adds an input "attention_bias" [N, M] to the scores before sparsemax. An entry of
     * MW_ATTENTION_MASKED keeps memory sample j out of row i's attention exactly (sparsemax
     * gives weight 0 to any score more than 1 below the row's largest): one run can then
     * give each row a memory set of its own, blocks of one shared memory input. */
    bool attention_bias;
} mw_head_options;

/* Far below any score of the three distances' cosine and bounded range. */
#define MW_ATTENTION_MASKED (-1.0e4f)

typedef struct mw_head_outputs {
    int logits;          /* [N, classes] */
    int content_weights; /* [N, M]: sparsemax(−distance(e, m)), rows sum to 1 */
    int attention_bias;  /* the input of mw_head_options.attention_bias, or -1 */
    int hidden; /* [N, hidden]: the default MLP's ReLU(fc1(·)) (-1 with a user classifier) */
} mw_head_outputs;

/* Appends the head on input encodings e [N, d] and memory encodings m [M, d]. The memory
 * encodings are not detached: gradients flow into both e and m. */
mw_status mw_head_build(mw_graph *g, int e, int m, const mw_head_options *opt,
                        mw_head_outputs *out);

/* ---- whole models: encoder x variant, as the reference's get_model ------------------- */

typedef enum mw_variant {
    MW_VARIANT_STD = 0,        /* encoder + linear head ("linear.*") */
    MW_VARIANT_MEMORY,         /* encoder + BaselineMemory ("mw.*"), "Only Memory" */
    MW_VARIANT_ENCODER_MEMORY, /* encoder + MemoryWrapLayer ("mw.*"), "Memory Wrap" */
    /* Prototypical Networks, the paper's memory-based baseline (reference-spec 6.7,
     * memory-wrap's paper/scripts/run_protonet.py): the encoder alone (the std net with an
     * identity for its linear layer, so no head parameters), logits −distance(e, prototype_c)
     * with prototype_c the mean encoding of the labelled support samples of class c. */
    MW_VARIANT_PROTONET,
    /* Matching Networks with full-context embeddings, the paper's other memory-based baseline
     * (reference-spec 6.7, memory-wrap's paper/scripts/run_matching.py): the encoder alone;
     * the support encodings through a bidirectional LSTM (g), the inputs' through an
     * attention LSTM over them (f, two steps); predictions softmax(−cosine distance)·one-hot
     * of the support labels, logits their clamped log. */
    MW_VARIANT_MATCHING,
    MW_VARIANT_COUNT
} mw_variant;

/* Names as the CLI and configs spell them: std, memory, encoder_memory, protonet, matching.
 * An unknown name is MW_ERR_INVALID_ARG with the valid ones in the message. */
mw_status mw_variant_from_name(const char *name, mw_variant *out);
const char *mw_variant_name(mw_variant v);

/* Whether the variant's model takes a memory (support) set beside its images: every variant
 * but std. */
bool mw_variant_has_memory(mw_variant v);
/* Whether its head attends over the memory with content weights (sparsemax), the variants
 * that explanations and the majority-vote baselines work on: memory and encoder_memory. */
bool mw_variant_has_attention(mw_variant v);
/* Whether the model also takes the memory's labels (the `support` input): the memory-based
 * baselines, protonet and matching. */
bool mw_variant_has_support_labels(mw_variant v);

/* Settings a model passes to its encoder's builder. */
typedef struct mw_encoder_settings {
    float dropout;      /* the encoder's dropout, where it has one (EfficientNet's after pooling,
                           WideResNet's in its blocks and after pooling); < 0: the encoder's own
                           default (the reference's 0.2 and 0.3) */
    mw_variant variant; /* the head that follows (WideResNet's final dropout depends on it) */
} mw_encoder_settings;

typedef struct mw_encoder mw_encoder;

/* Builds the encoder on feature maps [C, N, H, W] (the images after mw_images_to_maps) and
 * returns its rows [N, e->dim], or -1 after recording an error (mw_graph_fail). A memory
 * variant's graph calls it twice, on the images and on the memory: layers made with
 * memwrap/layers.h are found again by name on the second call, so the two branches share
 * every weight and running statistic. */
typedef int (*mw_encoder_fn)(mw_graph *g, int maps, const mw_encoder *e,
                             const mw_encoder_settings *s);

/* An encoder: the paper's three are built in; a C user writes one with the layers of
 * memwrap/layers.h, a config can describe one (configs/README.md, "encoders"). Every
 * model, trainer, evaluation, explanation and checkpoint takes either alike. */
struct mw_encoder {
    const char *name; /* in configs, results and checkpoints' metadata */
    int dim;          /* the width d of the rows it returns */
    mw_encoder_fn build;
    const void *user; /* for the builder: yours, or a config-defined encoder's layers */
    /* Where the reference's model differs from the usual head (both zero for most): the std
     * head's state_dict prefix (NULL: "linear."), and whether every linear bias of the head
     * starts at zero (WideResNet's init loop zeroes all nn.Linear biases, its memory heads'
     * MLPs included) rather than PyTorch's U(±1/√fan_in). */
    const char *std_head;
    bool zero_head_biases;
};

/* The paper's encoders (reference-spec 5 and the reference's paper/architectures): CIFAR
 * variants, for 1 or 3 channels. Those that end in a fixed pooling window (GoogLeNet's and
 * WideResNet's 8x8, DenseNet's 4x4) pool globally, which is the reference at 32x32 and lets
 * 28x28 images (Fashion-MNIST) through, where the reference's window does not fit. */
extern const mw_encoder mw_encoder_mobilenetv2;     /* d 1280 */
extern const mw_encoder mw_encoder_resnet18;        /* d 512 */
extern const mw_encoder mw_encoder_efficientnet_b0; /* d 320 */
extern const mw_encoder mw_encoder_googlenet;       /* d 1024 */
extern const mw_encoder mw_encoder_densenet_cifar;  /* d 384: growth 12, blocks 6-12-24-16 */
extern const mw_encoder mw_encoder_shufflenetv2;    /* d 1024: the 0.5x network */
extern const mw_encoder mw_encoder_wrn28_10;        /* d 640: WideResNet-28-10 */

/* A built-in encoder by name: mobilenetv2 (alias mobilenet), resnet18, efficientnet_b0
 * (alias efficientnet), googlenet, densenet_cifar (alias densenet), shufflenetv2 (alias
 * shufflenet), wrn28_10 (alias wide-resnet); NULL for another name. mw_encoder_from_name: the same,
 * with MW_ERR_INVALID_ARG listing the valid names for another name. */
const mw_encoder *mw_encoder_builtin(const char *name);
mw_status mw_encoder_from_name(const char *name, const mw_encoder **out);
/* The names mw_encoder_builtin knows, for messages: "mobilenetv2 (or mobilenet), ...". */
const char *mw_encoder_builtin_names(void);

/* Which part of the model a graph holds. The parts share the whole model's parameter names,
 * so each loads from its checkpoint (mw_checkpoint_load_part). In eval mode an image's
 * encoding depends on nothing else, so encodings computed once by an ENCODER graph can feed
 * a HEAD graph many times (every memory draw of an evaluation or an explanation). */
typedef enum mw_model_part {
    MW_MODEL_WHOLE = 0, /* images (and memory images) -> logits */
    MW_MODEL_ENCODER,   /* images -> encodings [batch, d] */
    MW_MODEL_HEAD,      /* encodings [batch, d] (and memory encodings [memory, d]) -> logits */
} mw_model_part;

typedef struct mw_model_options {
    const mw_encoder *encoder;
    mw_variant variant;
    int in_channels; /* 3 (CIFAR-10, SVHN, CINIC-10) or 1 (Fashion-MNIST) */
    int image_size;  /* 32 or 28 */
    int classes;
    int batch;             /* input images per run */
    int memory;            /* memory images per run (memory variants, protonet's support) */
    const char *distance;  /* NULL: cosine */
    float dropout;         /* the encoder's dropout (mw_encoder_settings); < 0: its default */
    bool training;         /* add labels, the loss and the backward pass */
    bool overlap_branches; /* memory branch on queue 1, overlapping the input branch */
    mw_model_part part;    /* the whole model by default */
    /* Gradients of the part's output with respect to its inputs, for a given output gradient
     * (vector-Jacobian products, run with MW_RUN_EVAL_BACKWARD): the host writes
     * output_grad and reads input_grad and memory_grad. Not with `training`. */
    bool input_gradients;
    bool attention_bias; /* memory variants: the head's attention_bias input (see above) */
    bool return_hidden;  /* memory variants: keep the head MLP's hidden activations (hidden) */
} mw_model_options;

/* Tensor ids of a built model; -1 where the part or the options have no such tensor. */
typedef struct mw_model {
    mw_graph *g;
    int images;           /* input [batch, C, H, W] (WHOLE, ENCODER) */
    int memory;           /* input [memory, C, H, W] (WHOLE, memory variants) */
    int encodings;        /* ENCODER: output [batch, d] (kept); HEAD: input [batch, d] */
    int memory_encodings; /* HEAD input [memory, d] (memory variants) */
    int labels;           /* int32 [batch], with training */
    int logits;           /* [batch, classes] (kept; WHOLE, HEAD) */
    int content_weights;  /* [batch, memory] (kept; memory variants) */
    int loss;             /* [1] (kept), with training */
    int output_grad;      /* input_gradients: input, the gradient of the output (logits or
                             encodings) */
    int input_grad;       /* input_gradients: [batch, ...] gradient of images or encodings (kept) */
    int memory_grad;    /* input_gradients, memory variants: gradient of the memory input (kept) */
    int attention_bias; /* input [batch, memory] with mw_model_options.attention_bias */
    int hidden;         /* memory variants: the head MLP's ReLU(fc1(·)) [batch, 2 or 4 d] */
    /* The memory's labels as a matrix (WHOLE, HEAD of protonet and matching; mw_support_fill):
     * protonet's "support_average" [classes, memory], row c the averaging weights of the
     * prototype of class c (1/n_c on its n_c support samples, 0 elsewhere), so that the
     * prototypes are one product with the memory encodings; matching's "support_onehot"
     * [memory, classes]. */
    int support;
} mw_model;

/* Fills average [classes, memory] for protonet's support input from the support samples'
 * labels [memory]. A class without a support sample has no prototype (the reference's mean
 * of none is NaN): MW_ERR_INVALID_ARG naming the class. */
mw_status mw_support_average(const int32_t *labels, int memory, int classes, float *average);
/* Fills the support input of variant v (classes x memory values, see mw_model.support). */
mw_status mw_support_fill(mw_variant v, const int32_t *labels, int memory, int classes,
                          float *out);

/* Builds the graph: for memory variants the encoder runs twice with shared weights, once
 * on the images and once on the memory, each with its own batch-norm statistics (running
 * statistics updated twice per training step, images first). With `part`, only the encoder
 * or only the head. */
mw_status mw_model_build(const mw_model_options *opt, mw_model *out);
void mw_model_free(mw_model *m);

/* The reference's autoencoder for counterfactual quality (memory-wrap
 * paper/architectures/autoencoder.py; reference-spec 6.6) on maps [channels, N, H, W], H and
 * W even: encoder conv 3x3 channels -> 16, ReLU, 16 -> 16, ReLU, 2x2 max-pool, 16 -> 1;
 * decoder conv 1 -> 16, ReLU, 16 -> 16, ReLU, nearest 2x upsampling, 16 -> channels; every
 * conv 3x3 'same' with bias and PyTorch's default init, named as the reference's state_dict
 * (encoder.conv1.weight ... decoder.conv3.bias). Returns the reconstruction [channels, N, H,
 * W] and sets *code to the encoding [1, N, H/2, W/2]. */
int mw_autoencoder(mw_graph *g, int maps, int *code);

#ifdef __cplusplus
}
#endif
#endif
