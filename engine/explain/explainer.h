/* A trained model loaded as parts (encoder, head for test batches, head for memory samples as
 * inputs), with encodings of training images cached by dataset index: what the evaluation of
 * the protocol (engine/train/trainer.c) and mw_explain_run run on, since in eval mode an
 * image's encoding depends on nothing else. Integrated Gradients through both encoder
 * branches for the explanations. */
#ifndef MEMWRAP_EXPLAIN_EXPLAINER_H
#define MEMWRAP_EXPLAIN_EXPLAINER_H

#include "memwrap/explain.h"
#include "memwrap/graph.h"
#include "memwrap/models.h"
#include "memwrap/protocol.h"

/* A head part of fixed shape on its own exec. */
typedef struct explain_head {
    mw_model m;
    mw_exec *ex;
    int batch, memory;
    unsigned long last_use; /* for the attribution heads' small cache */
} explain_head;

enum { EXPLAIN_ATTRIBUTION_HEADS = 4 };

typedef struct mw_explainer {
    const mw_trainer *t;
    mw_run_spec spec;
    const char *checkpoint;
    mw_transform tf;
    int d, classes, memory;
    size_t image_floats; /* channels * height * width */

    /* Encoder part with input gradients, `enc_batch` images per run (eval mode: every image
     * is encoded on its own, so padding a chunk changes nothing). */
    mw_model enc;
    mw_exec *enc_ex;
    int enc_batch;
    float *enc_images, *enc_rows; /* host staging for one chunk */
    /* A second, smaller encoder part (explainer_small_encoder) for the many runs on a few
     * images of CF-Proto's search: explainer_encode takes it for n <= small_batch. */
    mw_model small;
    mw_exec *small_ex;
    int small_batch;

    explain_head test_head;   /* batch: the test batch size, memory: memory_examples */
    explain_head memory_head; /* batch and memory: memory_examples (memory predictions) */
    /* heads with input gradients for Integrated Gradients, one per (steps, support size) */
    explain_head attribution[EXPLAIN_ATTRIBUTION_HEADS];
    unsigned long uses;

    /* encodings of training images: slot_of[mirrored * count + index] -> row of cache */
    int32_t *slot_of;
    float *cache;
    int cached, cache_rows;
} mw_explainer;

/* `gradients`: the encoder part also computes input gradients (Integrated Gradients). A
 * std model gets a test head only. */
mw_status explainer_init(mw_explainer *x, const mw_trainer *t, const mw_run_spec *spec,
                         const char *checkpoint, bool gradients);
void explainer_free(mw_explainer *x);

/* Builds the small encoder part for runs of at most `batch` images (forward only). */
mw_status explainer_small_encoder(mw_explainer *x, int batch);

/* Encodes n normalised images [n, C, H, W] into rows [n, d]. */
mw_status explainer_encode(mw_explainer *x, const float *images, int n, float *rows);

/* Encodings [n, d] of training images idx[0..n), mirrored where flips[i] is set (flips may be
 * NULL), each (image, mirroring) encoded once per explainer. */
mw_status explainer_train_encodings(mw_explainer *x, const int32_t *idx, const uint8_t *flips,
                                    int n, float *rows);

/* Runs a head on n <= head->batch input encodings [n, d] against memory encodings
 * [head->memory, d]: logits [n, classes] and, when weights is not NULL, content weights
 * [n, head->memory]. */
mw_status explainer_head_run(mw_explainer *x, explain_head *h, const float *rows, int n,
                             const float *memory_rows, float *logits, float *weights);

/* ProtoNet and Matching Networks: the head's support set for its next runs, the training
 * images midx[0..h->memory) (their labels make the prototypes or the predictions). */
mw_status explainer_head_support(mw_explainer *x, explain_head *h, const int32_t *midx);

/* The width of the hidden layer of a plain head's MLP (0 for a std head or a user
 * classifier), and its activations [n, width] from the head's last run. */
int explainer_hidden_width(const explain_head *h);
mw_status explainer_head_hidden(explain_head *h, int n, float *hidden);

/* Parameter `name` of the head ("mw.classifier.fc2.weight"), count values. */
mw_status explainer_head_param(explain_head *h, const char *name, float *out, size_t count);

/* The head with input gradients for `rows` inputs, each with a memory block of its own of k
 * samples (memory rows * k, the attention_bias input masking the other blocks), built on
 * first use; the last few are kept. */
mw_status explainer_attribution_head(mw_explainer *x, int rows, int k, explain_head **out);

/* The predicted class of each of n rows of logits [n, classes] (argmax, ties to the first). */
void explainer_argmax(const float *logits, int n, int classes, int32_t *out);

/* Integrated Gradients of logit `target` of the model on one input image x [C, H, W] and k
 * memory images [k, C, H, W], both moved together along the straight path from the baseline
 * (every value 1 in normalised space, as the reference) with `steps` Gauss-Legendre nodes
 * (captum's default): attributions of the input [C, H, W] and of each memory image
 * [k, C, H, W], with f at the input and at the baseline for the completeness check. */
typedef struct explain_attribution {
    float *input;                      /* [C, H, W] */
    float *memory;                     /* [k, C, H, W] */
    double f_input, f_baseline, total; /* total: the sum of every attribution */
    /* Σ over the steps of |w_s ∇f(γ(α_s))·(x − baseline)|: how far f moves along the path in
     * all, ups and downs. The completeness error is well conditioned against it even where f
     * barely differs between the ends (a flat model), where it is not against f(x) − f(b). */
    double path_variation;
} explain_attribution;
mw_status explainer_integrated_gradients(mw_explainer *x, const float *image, const float *memory,
                                         int k, int target, int steps, explain_attribution *out);
void explain_attribution_free(explain_attribution *a);

/* The counterfactual-quality analysis (engine/explain/counterfactual_run.c) of the
 * explainer's model: memory sets drawn from pool[0..pool_count) (scratch: the protocol's draw
 * scratch), with the resolved options. Progress by phase: "autoencoders" (item: which of
 * items; step: training steps of all of them), "prototypes" (step: batch), "search" (item:
 * test batch; step: iteration) and "counterfactuals" (step: test batch); the ETA is of the
 * phase's steps. */
typedef struct explain_cf_context {
    const mw_explain_options *opt;
    const int32_t *pool;
    int pool_count;
    int32_t *scratch;
    void (*report)(void *user, const char *phase, int item, int items, int step, int steps);
    void *report_user;
} explain_cf_context;
mw_status explain_counterfactuals(mw_explainer *x, const explain_cf_context *c,
                                  mw_cf_summary *out);

#endif
