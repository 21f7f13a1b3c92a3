/* Explanations of a trained Memory Wrap model (reference-spec 6.1-6.4): for test inputs, the
 * memory samples that drove each prediction (every sample with non-zero content weight,
 * sorted by weight), the explanation by example and the counterfactual among them, Integrated
 * Gradients heatmaps of the input and of the memory images, and the explanation metrics over
 * the whole test set. `memwrap explain` is a thin command over mw_explain_run.
 *
 * A memory sample's predicted class is the model's prediction for it as an input, with a
 * second random memory set (as the reference does); labels of memory samples are never used. */
#ifndef MEMWRAP_EXPLAIN_H
#define MEMWRAP_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "memwrap/config.h"
#include "memwrap/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MW_EXPLAIN_MAX_REPEATS = MW_RESULT_MAX_REPEATS, MW_CF_MAX_CLASSES = 64 };

/* ---- the pieces, as pure functions -------------------------------------------------- */

/* Reference-spec 6.2. Among the memory samples with weight > 0, the highest-weight one whose
 * predicted class equals `prediction` (*example) and the highest-weight one whose predicted
 * class differs (*counterfactual); -1 when there is none. Ties go to the lower index. */
void mw_explain_select(const float *weights, const int32_t *memory_predictions, int memory,
                       int prediction, int *example, int *counterfactual);

/* The memory samples with weight > 0, by weight descending (ties: lower index first); returns
 * how many were written to order[] (which must hold `memory` entries). */
int mw_explain_support(const float *weights, int memory, int32_t *order);

/* Counts behind the explanation metrics (reference-spec 6.4, memory-wrap
 * paper/explanation_accuracy.py): per input, `top` is the memory sample of highest weight
 * (argmax, ties to the first); the input counts as explained when its prediction equals
 * top's predicted class, as an example input when they are equal and as a counterfactual
 * input otherwise. */
typedef struct mw_explain_counts {
    long inputs, correct;                               /* all inputs; prediction == label */
    long explained;                                     /* prediction == top's predicted class */
    long example_inputs, example_correct;               /* top agrees: inputs, of them correct */
    long counterfactual_inputs, counterfactual_correct; /* top disagrees */
    /* The majority-vote baselines (reference-spec 6.7, memory-wrap paper/eval_dir_mv.py):
     * the input's label equals the most frequent predicted class (MVO) or true label (MVY)
     * among the memory samples with weight > 0 (mw_explain_majority). */
    long mvo_correct, mvy_correct;
} mw_explain_counts;

/* Adds n inputs: weights [n, memory], predictions and labels [n], memory_predictions and
 * memory_labels (the memory samples' true labels) [memory]. */
void mw_explain_count(const float *weights, int n, int memory, const int32_t *predictions,
                      const int32_t *labels, const int32_t *memory_predictions,
                      const int32_t *memory_labels, mw_explain_counts *c);

/* The most frequent of `classes[j]` over the memory samples j with weights[j] > 0, ties to
 * the smallest class (as torch.mode on the CPU, which the reference calls: its documented
 * example gives 0 for [0, 2, 0, 1, 2]); -1 when no weight is positive. */
int mw_explain_majority(const float *weights, const int32_t *classes, int memory);

/* ---- explanation by example against its baselines (reference-spec 6.5) --------------
 * memory-wrap paper/scripts/run_exp_by_examples.py: each method ranks the memory samples for
 * an input, and its explanation by example is the first ranked sample whose predicted class
 * is the input's (the first ranked when none is). How representative it is: the L1 distance
 * between its logits and the input's (metric "input"), and the cross-entropy of its logits
 * against the input's predicted class (metric "prediction"); lower is more representative. */
typedef enum mw_ebe_method {
    MW_EBE_MEMORY = 0, /* by Memory Wrap's content weight, descending */
    MW_EBE_TWIN,       /* 1-NN on the twin system's contributions fc2.weight[pred] ⊙ h */
    MW_EBE_KNN,        /* 1-NN on h, the head MLP's hidden activations */
    MW_EBE_RANDOM,     /* a random order */
    MW_EBE_METHODS
} mw_ebe_method;

/* "memory", "twin", "knn", "random" */
const char *mw_ebe_method_name(mw_ebe_method m);

/* The memory samples by weight descending, ties (the zero weights among them) in index
 * order; scratch holds `memory` doubles. */
void mw_ebe_rank_by_weight(const float *weights, int memory, int32_t *order, double *scratch);

/* The rows of keys [memory, dim] by Euclidean distance to query [dim], nearest first, ties in
 * index order; scratch holds `memory` doubles. */
void mw_ebe_rank_by_distance(const float *query, const float *keys, int memory, int dim,
                             int32_t *order, double *scratch);

/* The first of order[0..memory) whose predicted class is `prediction`, else order[0]. */
int mw_ebe_first_agreeing(const int32_t *order, int memory, const int32_t *memory_predictions,
                          int prediction);

/* out = fc2_weight[prediction] ⊙ hidden, fc2_weight [classes, width] (the twin system's
 * contributions, Kenny & Keane's CHP as the reference computes it). */
void mw_ebe_twin_features(const float *hidden, const float *fc2_weight, int prediction, int width,
                          float *out);

/* Mean over n inputs and the classes of |memory_logits[chosen[i]] − logits[i]| (L1Loss). */
double mw_ebe_l1(const float *logits, const float *memory_logits, const int32_t *chosen, int n,
                 int classes);

/* Mean over n inputs of the softmax cross-entropy of memory_logits[chosen[i]] against
 * predictions[i] (CrossEntropyLoss). */
double mw_ebe_cross_entropy(const int32_t *predictions, const float *memory_logits,
                            const int32_t *chosen, int n, int classes);

/* One test batch: the inputs' logits [n, classes], hidden activations [n, hidden_width],
 * predictions [n] and content weights [n, memory]; the memory samples' logits, hidden
 * activations and predictions as inputs against a second memory set; the head's
 * fc2.weight [classes, hidden_width]; a random order of the memory per input
 * [n, memory]. */
typedef struct mw_ebe_batch_input {
    int n, memory, classes, hidden_width;
    const float *logits, *hidden, *weights;
    const int32_t *predictions;
    const float *memory_logits, *memory_hidden;
    const int32_t *memory_predictions;
    const float *fc2_weight;
    const int32_t *random_orders;
} mw_ebe_batch_input;

typedef struct mw_ebe_scores {
    double input[MW_EBE_METHODS];      /* L1 of logits */
    double prediction[MW_EBE_METHODS]; /* cross-entropy against the input's prediction */
} mw_ebe_scores;

/* The batch's two scores for every method. */
mw_status mw_ebe_batch(const mw_ebe_batch_input *in, mw_ebe_scores *out);

/* The metrics in percent. An accuracy over no inputs (no counterfactual input at all) is NaN,
 * which JSON output writes as null. */
typedef struct mw_explain_metrics {
    double explanation_accuracy;    /* 100 * explained / inputs */
    double counterfactual_accuracy; /* 100 * counterfactual_correct / counterfactual_inputs */
    double example_accuracy;        /* 100 * example_correct / example_inputs */
    double accuracy;                /* 100 * correct / inputs */
    double mvo_accuracy;            /* 100 * mvo_correct / inputs */
    double mvy_accuracy;            /* 100 * mvy_correct / inputs */
    /* Explanation by example against its baselines (mw_ebe_batch), the mean over test
     * batches as the reference; NaN where not computed (a user classifier has no hidden
     * layer to compare on). */
    mw_ebe_scores example_scores;
} mw_explain_metrics;
mw_explain_metrics mw_explain_metrics_of(const mw_explain_counts *c);

/* ---- counterfactual quality (reference-spec 6.6) ------------------------------------
 * memory-wrap paper/scripts/run_counterfactuals.py, after Van Looveren and Klaise,
 * "Interpretable counterfactual explanations guided by prototypes" (arXiv 1907.02584): an
 * autoencoder trained on one class reconstructs images of that class well, so a
 * counterfactual that looks like its new class is reconstructed better by that class's
 * autoencoder than by the input class's. */

typedef struct mw_cf_scores {
    double im1;  /* ‖cf − AE_cf(cf)‖ / (‖cf − AE_orig(cf)‖ + 1e-8): lower is better */
    double iim1; /* its inverse ratio, ‖cf − AE_orig(cf)‖ / (‖cf − AE_cf(cf)‖ + 1e-8) */
    double im2;  /* ‖AE_cf(cf) − AE_full(cf)‖ / (‖cf‖ + 1e-8): lower is better */
} mw_cf_scores;

/* The scores of one counterfactual cf[n] from its reconstructions by the autoencoder of its
 * own predicted class (ae_cf), of the input's predicted class (ae_orig) and of every class
 * (ae_full); Euclidean norms, not squared, as the reference. IM2 uses the counterfactual
 * class's autoencoder, as the paper defines it (the reference's code passes the input
 * class's). */
mw_cf_scores mw_cf_interpretability(const float *cf, const float *ae_cf, const float *ae_orig,
                                    const float *ae_full, size_t n);

/* CF-Proto's search, as the reference ports alibi's: FISTA on
 * β‖δ‖₁ + ‖δ‖² + θ‖ENC(x + δ) − proto‖² (δ the perturbation, proto the mean encoding of the
 * target class), with the L1 term also handled by shrinkage; the classifier only decides
 * which iterate is a counterfactual. */

/* ‖orig − adv‖² + β‖orig − adv‖₁: how the search ranks the counterfactuals it finds. */
double mw_cf_elastic_distance(const float *orig, const float *adv, float beta, size_t n);

/* lr0 · (1 − min(k, steps) / steps)^power: the polynomial decay of the step size at
 * iteration k. */
double mw_cf_learning_rate(double lr0, int k, int steps, double power);

/* Adds the gradient of β‖orig − s‖₁ + ‖orig − s‖² at s to grad[n] (which holds the
 * prototype term's), then clips each value to [−clip, clip]. */
void mw_cf_distance_gradient(const float *orig, const float *s, float beta, float clip,
                             float *grad, size_t n);

/* One FISTA iteration k (0-based) after the gradient step s' = s − lr·grad: the shrinkage of
 * s' toward orig by β within [lo, hi] is the new iterate, and s moves past it by momentum
 * (k + 1) / (k + 4), clamped to [lo, hi]. adv and s hold the iterate and the search point,
 * both updated; grad is the gradient at s. */
void mw_cf_fista_step(const float *orig, const float *grad, float lr, int k, float beta, float lo,
                      float hi, float *adv, float *s, size_t n);

/* What one way of finding counterfactuals gave, over the inputs it ran on. */
typedef struct mw_cf_quality {
    long inputs;                    /* inputs with a memory counterfactual it ran on */
    long found;                     /* counterfactuals found and scored */
    double im1, iim1, im2;          /* means over the counterfactuals found (NaN: none) */
    double im1_std, iim1_std, im2_std; /* population standard deviations */
    double distance;                /* mean elastic distance to the input */
} mw_cf_quality;

typedef enum mw_cf_method {
    MW_CF_MEMORY = 0, /* the highest-weight memory sample predicted as another class */
    MW_CF_PROTO,      /* CF-Proto's search toward that sample's class prototype */
    MW_CF_METHODS
} mw_cf_method;

typedef struct mw_cf_summary {
    mw_cf_quality method[MW_CF_METHODS];
    int classes, ae_epochs, iterations;
    long ae_images;      /* non-validation training images the autoencoders draw from */
    int ae_image_cap;    /* mw_explain_options.ae_images, 0: none */
    double ae_test_mse[MW_CF_MAX_CLASSES + 1]; /* per class, then every class's autoencoder */
    bool ae_reused;      /* loaded from autoencoders.safetensors rather than trained */
    int pictures;        /* inputs drawn in counterfactuals.png (0: no picture) */
    long test_inputs;    /* test images looked at */
} mw_cf_summary;

/* Gauss-Legendre quadrature on [0, 1] with n nodes (captum's default "gausslegendre"
 * approximation of Integrated Gradients): alphas[n] ascending, weights[n] summing to 1. */
mw_status mw_gauss_legendre(int n, double *alphas, double *weights);

/* ---- the whole explanation of a checkpoint ------------------------------------------ */

typedef struct mw_explain_options {
    const char *out_dir;            /* PNGs, index.html and explanations.json go here (created) */
    int images;                     /* test inputs explained with pictures (< 0: 8; 0: none) */
    bool metrics;                   /* the explanation metrics over the whole test set */
    int repeats;                    /* metric repetitions, averaged (<= 0: 5) */
    mw_memory_source memory_source; /* subset: the run's training subset (default); full:
                                       every non-validation training image */
    uint64_t seed;                  /* memory draws and the choice of inputs */
    int ig_steps;                   /* Integrated Gradients steps (<= 0: 40) */
    int scale; /* pixels per image pixel in the pictures (<= 0: so images are >= 96 px) */
    /* Counterfactual quality: per-class autoencoders (trained on every non-validation
     * training image, or loaded from out_dir/autoencoders.safetensors), then the scores of the
     * memory counterfactuals of the first cf_inputs test images and of CF-Proto's on the
     * first cf_proto_inputs of those that have one. */
    bool counterfactuals;
    int cf_inputs;       /* <= 0: 640 (ten of the reference's test batches of 64) */
    int cf_proto_inputs; /* < 0: 64; 0: no search */
    int cf_iterations;   /* <= 0: 1000, the reference's */
    int ae_epochs;       /* <= 0: 4, the reference's */
    int ae_images;       /* <= 0: every image; else at most this many per autoencoder */
} mw_explain_options;

/* What an explanation found, besides the files. */
typedef struct mw_explain_summary {
    int images;                      /* inputs explained with pictures */
    double worst_completeness_error; /* largest |Σ attributions − (f(x) − f(baseline))| /
                                        |f(x) − f(baseline)| over those inputs */
    bool has_metrics;
    int repeats;
    mw_explain_metrics mean; /* mean of the repeats (NaN entries skipped) */
    mw_explain_metrics per_repeat[MW_EXPLAIN_MAX_REPEATS];
    long test_inputs; /* test images the metrics ran over */
    bool has_counterfactuals;
    mw_cf_summary counterfactuals;
} mw_explain_summary;

/* explain/<name>/ beside the checkpoint, <name> its file name without ".safetensors": where
 * `memwrap explain` and `memwrap train` (config key "explain") write, and where
 * `memwrap report` looks for the explanation pages. */
void mw_explain_default_dir(const char *checkpoint, char *out, size_t cap);

/* Explains checkpoint `checkpoint` of run `spec` with settings t->run (a memory variant; std is
 * MW_ERR_INVALID_ARG), with t's runtime and datasets; progress through t->progress with
 * phase "explain" (step = input) and "metrics" (epoch = repeat, step = test batch).
 * t->out_dir is not used: files go to opt->out_dir. */
mw_status mw_explain_run(const mw_trainer *t, const mw_run_spec *spec, const char *checkpoint,
                         const mw_explain_options *opt, mw_explain_summary *out);

#ifdef __cplusplus
}
#endif
#endif
