/* Building blocks shared by the encoders: parameters and state found or created by name (so
 * that the encoder built a second time, on the memory batch, shares every weight and BN
 * buffer with the first), conv and batch-norm layers named as PyTorch's state_dict. */
#ifndef MEMWRAP_MODELS_LAYERS_H
#define MEMWRAP_MODELS_LAYERS_H

#include <stdbool.h>

#include "graph/graph_internal.h"
#include "memwrap/ops.h"

/* The reference's BatchNorm2d settings. */
#define MW_BN_MOMENTUM 0.1f
#define MW_BN_EPS 1e-5f

/* Formats a tensor name; false (and a graph error) when it does not fit MW_NAME_MAX. */
bool mw_layer_name(mw_graph *g, char out[MW_NAME_MAX], const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* How conv weights start: PyTorch's default U(±1/√fan_in), or ResNet's N(0, √(2/(k²·out))). */
typedef enum mw_conv_init { MW_CONV_INIT_DEFAULT = 0, MW_CONV_INIT_FAN_OUT_NORMAL } mw_conv_init;

/* The weight (and bias) of conv `name` ("layers.3.conv1"): [cout, cin/groups, k, k]. */
int mw_layer_conv_params(mw_graph *g, const char *name, int cin, int cout, int k, int groups,
                         bool bias, mw_conv_init init, int *bias_out);

/* conv `name` on x [cin, N, H, W]; padding as given. */
int mw_layer_conv(mw_graph *g, int x, const char *name, int cout, int k, int stride, int padding,
                  int groups, bool bias, mw_conv_init init);

/* The parameters and running statistics of batch norm `name` over `channels`; returns γ and
 * sets the others. */
int mw_layer_bn_params(mw_graph *g, const char *name, int channels, int *beta, int *mean,
                       int *var, int *tracked);

/* batch norm `name` on x, then `act` (fused). */
int mw_layer_bn(mw_graph *g, int x, const char *name, mw_activation act);

/* Global average pool of maps [C, N, H, W] to rows [N, C] (avg_pool2d + flatten). */
int mw_layer_pool_rows(mw_graph *g, int x, int k);

#endif
