/* WideResNet-28-10 (memory-wrap's paper/architectures/wide_resnet.py): a 3x3 stem of 16
 * channels, three stages of four pre-activation blocks (160, 320, 640 channels; the second
 * conv of a stage's first block strides), dropout 0.3 between each block's convolutions,
 * then batch norm (momentum 0.9), ReLU and global average pooling (the reference's 8x8
 * window at 32x32), d = 640. Conv weights N(0, √(2/(k²·out))); the head's linear biases
 * start at zero (mw_encoder.zero_head_biases). The final dropout depends on the head: the
 * std head and Only-Memory have it (on the memory encodings too), Memory Wrap does not. */
#include "models/encoders.h"
#include "memwrap/layers.h"

enum { BLOCKS_PER_STAGE = 4, WIDEN = 10 };
static const float reference_dropout = 0.3f;

/* BN, ReLU, conv3x3, dropout, BN, ReLU, conv3x3 (strided): the reference's `residual`
 * Sequential, entries 0-6; plus the 1x1 strided `shortcut` conv when the shape changes. */
static int wide_block(mw_graph *g, int x, int stage, int index, int out, int stride, float p) {
    char name[MW_NAME_MAX];
    const mw_conv_init init = MW_CONV_INIT_FAN_OUT_NORMAL;
    int in = (int)mw_tensor_dim(g, x, 0);
    if (!mw_layer_name(g, name, "layer%d.%d.residual.0", stage, index)) return -1;
    int h = mw_layer_bn(g, x, name, MW_ACT_RELU);
    if (!mw_layer_name(g, name, "layer%d.%d.residual.2", stage, index)) return -1;
    h = mw_layer_conv(g, h, name, out, 3, 1, 1, 1, false, init);
    if (p > 0) h = mw_dropout(g, h, p);
    if (!mw_layer_name(g, name, "layer%d.%d.residual.4", stage, index)) return -1;
    h = mw_layer_bn(g, h, name, MW_ACT_RELU);
    if (!mw_layer_name(g, name, "layer%d.%d.residual.6", stage, index)) return -1;
    h = mw_layer_conv(g, h, name, out, 3, stride, 1, 1, false, init);
    int shortcut = x;
    if (stride != 1 || in != out) {
        if (!mw_layer_name(g, name, "layer%d.%d.shortcut", stage, index)) return -1;
        shortcut = mw_layer_conv(g, x, name, out, 1, stride, 0, 1, false, init);
    }
    return mw_add(g, h, shortcut);
}

int mw_wrn28_10_encoder(mw_graph *g, int maps, const mw_encoder *e, const mw_encoder_settings *s) {
    (void)e;
    float p = s->dropout >= 0 ? s->dropout : reference_dropout;
    int x = mw_layer_conv(g, maps, "conv1", 16, 3, 1, 1, 1, false, MW_CONV_INIT_FAN_OUT_NORMAL);
    for (int stage = 1; stage <= 3; stage++)
        for (int i = 0; i < BLOCKS_PER_STAGE; i++)
            x = wide_block(g, x, stage, i, (16 << (stage - 1)) * WIDEN, i == 0 && stage > 1 ? 2 : 1,
                           p);
    x = mw_layer_bn_momentum(g, x, "classifier.0", MW_ACT_RELU, 0.9f);
    x = mw_layer_global_pool(g, x);
    bool final_dropout = s->variant != MW_VARIANT_ENCODER_MEMORY;
    return final_dropout && p > 0 ? mw_dropout(g, x, p) : x;
}
