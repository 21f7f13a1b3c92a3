/* DenseNet, CIFAR variant (memory-wrap's paper/architectures/densenet.py: densenet_cifar,
 * after kuangliu/pytorch-cifar): growth rate 12, dense blocks of 6, 12, 24 and 16
 * pre-activation bottlenecks, transitions halving the channels and the maps, then batch
 * norm, ReLU and global average pooling (the reference's 4x4 window at 32x32), d = 384. No
 * convolution has a bias; PyTorch's default init. */
#include "models/encoders.h"
#include "memwrap/layers.h"

enum { GROWTH = 12 };
static const int blocks_per_stage[4] = {6, 12, 24, 16};

/* bn1, ReLU, conv1 1x1 to 4·growth, bn2, ReLU, conv2 3x3 to growth; the new features go
 * first: torch.cat([out, x], 1). */
static int bottleneck(mw_graph *g, int x, int stage, int index) {
    char name[MW_NAME_MAX];
    if (!mw_layer_name(g, name, "dense%d.%d.bn1", stage, index)) return -1;
    int h = mw_layer_bn(g, x, name, MW_ACT_RELU);
    if (!mw_layer_name(g, name, "dense%d.%d.conv1", stage, index)) return -1;
    h = mw_layer_conv(g, h, name, 4 * GROWTH, 1, 1, 0, 1, false, MW_CONV_INIT_DEFAULT);
    if (!mw_layer_name(g, name, "dense%d.%d.bn2", stage, index)) return -1;
    h = mw_layer_bn(g, h, name, MW_ACT_RELU);
    if (!mw_layer_name(g, name, "dense%d.%d.conv2", stage, index)) return -1;
    h = mw_layer_conv(g, h, name, GROWTH, 3, 1, 1, 1, false, MW_CONV_INIT_DEFAULT);
    return mw_concat_channels(g, h, x);
}

/* bn, ReLU, 1x1 conv to ⌊channels / 2⌋, 2x2 average pooling (floor mode: 7 -> 3). */
static int transition(mw_graph *g, int x, int stage, int out) {
    char name[MW_NAME_MAX];
    if (!mw_layer_name(g, name, "trans%d.bn", stage)) return -1;
    int h = mw_layer_bn(g, x, name, MW_ACT_RELU);
    if (!mw_layer_name(g, name, "trans%d.conv", stage)) return -1;
    h = mw_layer_conv(g, h, name, out, 1, 1, 0, 1, false, MW_CONV_INIT_DEFAULT);
    return mw_avg_pool(g, h, 2);
}

int mw_densenet_cifar_encoder(mw_graph *g, int maps, const mw_encoder *e,
                              const mw_encoder_settings *s) {
    (void)e, (void)s;
    int planes = 2 * GROWTH;
    int x = mw_layer_conv(g, maps, "conv1", planes, 3, 1, 1, 1, false, MW_CONV_INIT_DEFAULT);
    for (int stage = 1; stage <= 4; stage++) {
        for (int i = 0; i < blocks_per_stage[stage - 1]; i++)
            x = bottleneck(g, x, stage, i);
        planes += blocks_per_stage[stage - 1] * GROWTH;
        if (stage < 4) {
            planes /= 2; /* reduction 0.5, floored */
            x = transition(g, x, stage, planes);
        }
    }
    return mw_layer_global_pool(g, mw_layer_bn(g, x, "bn", MW_ACT_RELU));
}
