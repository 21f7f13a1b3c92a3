/* The autoencoders behind the counterfactual-quality scores (reference-spec 6.6): one per
 * class and one on every class, trained as the reference's train_aes_svhn.py (Adam with
 * PyTorch's defaults, mean squared error, batches of 32, 4 epochs, every non-validation
 * training image) or loaded from the file a previous explanation wrote, then run on batches
 * of images for their reconstructions and, for CF-Proto's search, the gradient of the
 * prototype loss through the encoder. */
#ifndef MEMWRAP_EXPLAIN_AUTOENCODERS_H
#define MEMWRAP_EXPLAIN_AUTOENCODERS_H

#include "memwrap/explain.h"
#include "memwrap/graph.h"

typedef struct cf_autoencoders {
    int classes, count; /* count = classes + 1: index `classes` is the one on every class */
    int channels, height, width;
    size_t image_floats, code_floats, weight_floats;
    float *weights; /* [count, weight_floats], the parameters in graph order */
    /* the evaluation graph: `batch` images in, reconstructions, codes and the gradient of
     * θ Σ ‖code − proto‖² with respect to the images out */
    mw_graph *g;
    mw_exec *ex;
    int batch, images, protos, seed, recon, code, grad;
    int loaded; /* which autoencoder's weights the exec holds (-1: none) */
    float *staging, *maps;
} cf_autoencoders;

/* Reports training progress: the autoencoder (1-based of count) and the steps done of all
 * the autoencoders' (the one on every class takes as many as the others together). */
typedef void (*cf_autoencoder_progress)(void *user, int which, int count, long done, long total);

typedef struct cf_autoencoder_setup {
    const mw_trainer *t;
    const mw_run_spec *spec;
    const char *file; /* autoencoders.safetensors: loaded when it matches, else written */
    int epochs;
    int max_images; /* per autoencoder, <= 0: every image */
    uint64_t seed;
    cf_autoencoder_progress progress;
    void *progress_user;
} cf_autoencoder_setup;

/* Loads or trains the autoencoders and measures each one's test error (the mean squared
 * error on the test images of its class, every test image for the last); fills the
 * summary's ae_* fields. */
mw_status cf_autoencoders_prepare(cf_autoencoders *a, const cf_autoencoder_setup *setup,
                                  mw_cf_summary *summary);
void cf_autoencoders_free(cf_autoencoders *a);

/* Autoencoder `which` on n normalised images [n, C, H, W]: reconstructions into recon (same
 * layout) and, when code is not NULL, the encodings [n, code_floats]. */
mw_status cf_autoencoders_reconstruct(cf_autoencoders *a, int which, const float *images, int n,
                                      float *recon, float *code);

/* The gradient with respect to the images [n, C, H, W] of θ Σ_i ‖ENC(image_i) − proto_i‖²
 * (protos [n, code_floats]) through the encoder of the autoencoder on every class. */
mw_status cf_autoencoders_proto_gradient(cf_autoencoders *a, const float *images, int n,
                                         const float *protos, float theta, float *grad);

#endif
