/* GoogLeNet, CIFAR variant (memory-wrap's paper/architectures/googlenet.py, after
 * kuangliu/pytorch-cifar): a 3x3 stem of 192 channels, nine inception modules, 3x3 max
 * pooling at stride 2 between stages, global average pooling (the reference's 8x8 window
 * at 32x32), d = 1024. Its convolutions have biases and PyTorch's default init. */
#include "models/encoders.h"
#include "memwrap/layers.h"

/* conv `prefix`.<i> then its batch norm `prefix`.<i + 1> and ReLU: a Sequential's entries. */
static int conv_bn_relu(mw_graph *g, int x, const char *prefix, int i, int cout, int k) {
    char name[MW_NAME_MAX];
    if (!mw_layer_name(g, name, "%s.%d", prefix, i)) return -1;
    x = mw_layer_conv(g, x, name, cout, k, 1, k / 2, 1, true, MW_CONV_INIT_DEFAULT);
    if (!mw_layer_name(g, name, "%s.%d", prefix, i + 1)) return -1;
    return mw_layer_bn(g, x, name, MW_ACT_RELU);
}

/* Inception(in, n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_planes): four branches joined along
 * channels; the "5x5" branch is two 3x3 convolutions. */
typedef struct inception {
    const char *name;
    int n1, n3_reduce, n3, n5_reduce, n5, pool_planes;
} inception;

static const inception modules[] = {
    {"a3", 64, 96, 128, 16, 32, 32},     {"b3", 128, 128, 192, 32, 96, 64},
    {"a4", 192, 96, 208, 16, 48, 64},    {"b4", 160, 112, 224, 24, 64, 64},
    {"c4", 128, 128, 256, 24, 64, 64},   {"d4", 112, 144, 288, 32, 64, 64},
    {"e4", 256, 160, 320, 32, 128, 128}, {"a5", 256, 160, 320, 32, 128, 128},
    {"b5", 384, 192, 384, 48, 128, 128},
};

static int inception_module(mw_graph *g, int x, const inception *m) {
    char branch[MW_NAME_MAX];
    if (!mw_layer_name(g, branch, "%s.b1", m->name)) return -1;
    int y1 = conv_bn_relu(g, x, branch, 0, m->n1, 1);
    if (!mw_layer_name(g, branch, "%s.b2", m->name)) return -1;
    int y2 = conv_bn_relu(g, conv_bn_relu(g, x, branch, 0, m->n3_reduce, 1), branch, 3, m->n3, 3);
    if (!mw_layer_name(g, branch, "%s.b3", m->name)) return -1;
    int y3 = conv_bn_relu(g, x, branch, 0, m->n5_reduce, 1);
    y3 = conv_bn_relu(g, conv_bn_relu(g, y3, branch, 3, m->n5, 3), branch, 6, m->n5, 3);
    if (!mw_layer_name(g, branch, "%s.b4", m->name)) return -1;
    int y4 = conv_bn_relu(g, mw_max_pool(g, x, 3, 1, 1), branch, 1, m->pool_planes, 1);
    return mw_concat_channels_n(g, (const int[]){y1, y2, y3, y4}, 4);
}

int mw_googlenet_encoder(mw_graph *g, int maps, const mw_encoder *e, const mw_encoder_settings *s) {
    (void)e, (void)s;
    int x = conv_bn_relu(g, maps, "pre_layers", 0, 192, 3);
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
        if (i == 2 || i == 7) x = mw_max_pool(g, x, 3, 2, 1); /* before a4 and a5 */
        x = inception_module(g, x, &modules[i]);
    }
    return mw_layer_global_pool(g, x);
}
