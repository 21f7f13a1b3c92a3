/* Building blocks for encoders: convolutions, batch norm, pooling and squeeze-excitation
 * whose parameters and running statistics are found or created by their state_dict name
 * ("layers.3.conv1" gives "layers.3.conv1.weight"). Building an encoder twice in one graph
 * (the input branch, then the memory branch of a Memory Wrap model) therefore shares every
 * weight and running statistic, as PyTorch's module reuse does. Each function returns the
 * output tensor id, or -1 once an error is recorded in the graph (memwrap/graph.h). Feature
 * maps are [C, N, H, W] (memwrap/ops.h). */
#ifndef MEMWRAP_LAYERS_H
#define MEMWRAP_LAYERS_H

#include <stdbool.h>

#include "memwrap/graph.h"
#include "memwrap/models.h"
#include "memwrap/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PyTorch's BatchNorm2d settings, which the reference's encoders use. */
#define MW_BN_MOMENTUM 0.1f
#define MW_BN_EPS 1e-5f

/* Formats a tensor name into out; false (and a graph error) when it does not fit
 * MW_NAME_MAX. */
bool mw_layer_name(mw_graph *g, char out[MW_NAME_MAX], const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* How conv weights start: PyTorch's default U(±1/√fan_in), or ResNet's N(0, √(2/(k²·out))). */
typedef enum mw_conv_init { MW_CONV_INIT_DEFAULT = 0, MW_CONV_INIT_FAN_OUT_NORMAL } mw_conv_init;

/* The weight [cout, cin/groups, k, k] (and, with `bias`, the bias [cout] into *bias_out) of
 * conv `name`, without using them (a layer a model owns but never runs). */
int mw_layer_conv_params(mw_graph *g, const char *name, int cin, int cout, int k, int groups,
                         bool bias, mw_conv_init init, int *bias_out);

/* Conv `name` on x [cin, N, H, W]: cout channels, k x k kernel, zero padding, groups. */
int mw_layer_conv(mw_graph *g, int x, const char *name, int cout, int k, int stride, int padding,
                  int groups, bool bias, mw_conv_init init);

/* The parameters and running statistics of batch norm `name` over `channels`; returns γ and
 * sets the others. */
int mw_layer_bn_params(mw_graph *g, const char *name, int channels, int *beta, int *mean, int *var,
                       int *tracked);

/* Batch norm `name` on x, then `act` (fused). */
int mw_layer_bn(mw_graph *g, int x, const char *name, mw_activation act);

/* The same with another momentum than MW_BN_MOMENTUM (WideResNet's last batch norm has
 * PyTorch's momentum 0.9: the running statistics take 90% of each batch's). */
int mw_layer_bn_momentum(mw_graph *g, int x, const char *name, mw_activation act, float momentum);

/* Squeeze-excitation (EfficientNet's): x · sigmoid(se2(swish(se1(mean over H, W of x)))),
 * se1 and se2 1x1 convs with bias, `name`.se1 to `squeezed` channels and `name`.se2 back. */
int mw_layer_squeeze_excite(mw_graph *g, int x, const char *name, int squeezed);

/* Linear layer `name` on rows x [N, in]: `name`.weight [out, in] (and .bias [out]), with
 * PyTorch's default init. */
int mw_layer_linear(mw_graph *g, int x, const char *name, int out, bool bias);

/* k x k average pooling of maps [C, N, H, W] (k = H = W: global) to rows [N, C]
 * (avg_pool2d + flatten): how an encoder ends. */
int mw_layer_pool_rows(mw_graph *g, int x, int k);

/* Global average pooling of square maps [C, N, H, H] to rows [N, C]. */
int mw_layer_global_pool(mw_graph *g, int x);

/* ---- encoders described as data (a config's "encoders", configs/README.md) ------------ */

enum { MW_LAYER_LIST_MAX = 48, MW_LAYER_NAME_MAX = 32 };

typedef enum mw_layer_kind {
    MW_LAYER_CONV = 0,       /* maps: out, kernel, stride, padding, groups, bias */
    MW_LAYER_BATCH_NORM,     /* maps: activation fused after it */
    MW_LAYER_ACTIVATION,     /* maps or rows: activation (relu, swish, sigmoid) */
    MW_LAYER_AVG_POOL,       /* maps: kernel (k x k, stride k) */
    MW_LAYER_GLOBAL_POOL,    /* maps -> rows [N, C] */
    MW_LAYER_DROPOUT,        /* maps or rows: p */
    MW_LAYER_SQUEEZE_EXCITE, /* maps: squeezed channels */
    MW_LAYER_LINEAR,         /* rows: out, bias */
    MW_LAYER_RESIDUAL,       /* the next `body` layers, plus the `shortcut` layers after them
                                (none: identity), added */
    MW_LAYER_KIND_COUNT
} mw_layer_kind;

/* "conv", "batch_norm", ...: the spelling of configs. */
const char *mw_layer_kind_name(mw_layer_kind k);

typedef struct mw_layer_spec {
    mw_layer_kind kind;
    int out, kernel, stride, padding, groups, squeezed;
    bool bias;
    mw_activation activation;
    float p;
    int body, shortcut; /* residual: how many of the following layers are its two branches */
} mw_layer_spec;

/* A sequence of layers, residual branches inline after their residual entry. Parameters are
 * named as a PyTorch nn.Sequential would name them: "layers.3.weight" for the fourth layer,
 * "layers.5.body.0.weight" inside a residual's body, "layers.5.shortcut.1.running_mean". */
typedef struct mw_layer_list {
    char name[MW_LAYER_NAME_MAX]; /* the encoder's name */
    int dim;                      /* output width, set by mw_layer_list_check */
    int n;
    mw_layer_spec layers[MW_LAYER_LIST_MAX];
} mw_layer_list;

/* Builds the list once on a scratch graph for images of `channels` x `size` x `size`:
 * checks that every layer fits what it gets (maps or rows, shapes, pooling that divides,
 * residual branches of one shape) and that the list ends in rows, and sets list->dim. An
 * error names the layer ("layers.3: ..."). */
mw_status mw_layer_list_check(mw_layer_list *list, int channels, int size);

/* The encoder that builds `list` (checked): e.user points at list, which must outlive it. */
void mw_layer_list_encoder(const mw_layer_list *list, mw_encoder *out);

/* The list an encoder of mw_layer_list_encoder builds; NULL for any other encoder. */
const mw_layer_list *mw_layer_list_of(const mw_encoder *e);

#ifdef __cplusplus
}
#endif
#endif
