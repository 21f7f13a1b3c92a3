/* The encoders' graph builders (one file each). Each takes feature maps [C, N, H, W] and
 * returns rows [N, d]; parameters and BN state are found or created by their state_dict
 * names, so building an encoder twice shares every weight (input and memory branches). */
#ifndef MEMWRAP_MODELS_ENCODERS_H
#define MEMWRAP_MODELS_ENCODERS_H

#include "memwrap/models.h"

int mw_mobilenetv2_encoder(mw_graph *g, int maps, const mw_encoder *e,
                           const mw_encoder_settings *s);
int mw_resnet18_encoder(mw_graph *g, int maps, const mw_encoder *e, const mw_encoder_settings *s);
int mw_efficientnet_b0_encoder(mw_graph *g, int maps, const mw_encoder *e,
                               const mw_encoder_settings *s);
int mw_googlenet_encoder(mw_graph *g, int maps, const mw_encoder *e, const mw_encoder_settings *s);
int mw_densenet_cifar_encoder(mw_graph *g, int maps, const mw_encoder *e,
                              const mw_encoder_settings *s);
int mw_shufflenetv2_encoder(mw_graph *g, int maps, const mw_encoder *e,
                            const mw_encoder_settings *s);
int mw_wrn28_10_encoder(mw_graph *g, int maps, const mw_encoder *e, const mw_encoder_settings *s);

/* Matching Networks' head (matching.c): logits [N, classes] from input encodings e [N, d],
 * memory encodings m [M, d] and the memory's one-hot labels [M, classes]. */
int mw_matching_head(mw_graph *g, int e, int m, int support_onehot, const char *distance,
                     int dim);

#endif
