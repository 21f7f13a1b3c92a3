/* ShuffleNetV2 0.5x, CIFAR variant (memory-wrap's paper/architectures/shufflenet.py, after
 * kuangliu/pytorch-cifar): a 3x3 stem of 24 channels without max pooling, three stages of
 * one down-sampling block and 3, 7, 3 basic blocks (48, 96, 192 channels), a 1x1 conv to
 * 1024, 4x4 average pooling, d = 1024. No convolution has a bias; PyTorch's default init. */
#include "models/encoders.h"
#include "memwrap/layers.h"

static const int stage_channels[3] = {48, 96, 192}, stage_blocks[3] = {3, 7, 3};

/* conv `block`.conv<i> then batch norm `block`.bn<i> with `act`. */
static int conv_bn(mw_graph *g, int x, const char *block, int i, int cout, int k, int stride,
                   int groups, mw_activation act) {
    char name[MW_NAME_MAX];
    if (!mw_layer_name(g, name, "%s.conv%d", block, i)) return -1;
    x = mw_layer_conv(g, x, name, cout, k, stride, k / 2, groups, false, MW_CONV_INIT_DEFAULT);
    if (!mw_layer_name(g, name, "%s.bn%d", block, i)) return -1;
    return mw_layer_bn(g, x, name, act);
}

/* A unit's output: torch.cat of its branches a and b, then ChannelShuffle(2). Where a basic
 * block follows, it is given as the halves that block splits it into (out[0] kept, out[1]
 * transformed), so that the join, the shuffle and the split are one copy; else as one map
 * (out[0]). */
static bool join(mw_graph *g, int a, int b, bool split, int out[2]) {
    if (a < 0 || b < 0) return false;
    int channels = (int)(mw_tensor_dim(g, a, 0) + mw_tensor_dim(g, b, 0));
    int halves[2] = {channels / 2, channels - channels / 2};
    return mw_channel_shuffle_split(g, (const int[]){a, b}, 2, 2, split ? halves : &channels,
                                    split ? 2 : 1, out) == 0;
}

/* Halves the maps: a depthwise-then-pointwise left branch and a pointwise, depthwise,
 * pointwise right branch, each to out/2 channels, joined and shuffled. */
static bool down_block(mw_graph *g, int x, const char *block, int in, int out, int y[2]) {
    int mid = out / 2;
    int left = conv_bn(g, x, block, 1, in, 3, 2, in, MW_ACT_NONE);
    left = conv_bn(g, left, block, 2, mid, 1, 1, 1, MW_ACT_RELU);
    int right = conv_bn(g, x, block, 3, mid, 1, 1, 1, MW_ACT_RELU);
    right = conv_bn(g, right, block, 4, mid, 3, 2, mid, MW_ACT_NONE);
    right = conv_bn(g, right, block, 5, mid, 1, 1, 1, MW_ACT_RELU);
    return join(g, left, right, true, y);
}

/* Keeps the first half of the channels (x[0]), transforms the second (x[1]), joins and
 * shuffles; `split` as join's. */
static bool basic_block(mw_graph *g, const int x[2], const char *block, int channels, bool split,
                        int y[2]) {
    int half = channels / 2;
    int h = conv_bn(g, x[1], block, 1, half, 1, 1, 1, MW_ACT_RELU);
    h = conv_bn(g, h, block, 2, half, 3, 1, half, MW_ACT_NONE);
    h = conv_bn(g, h, block, 3, half, 1, 1, 1, MW_ACT_RELU);
    return join(g, x[0], h, split, y);
}

int mw_shufflenetv2_encoder(mw_graph *g, int maps, const mw_encoder *e,
                            const mw_encoder_settings *s) {
    (void)e, (void)s;
    char block[MW_NAME_MAX];
    int x = mw_layer_conv(g, maps, "conv1", 24, 3, 1, 1, 1, false, MW_CONV_INIT_DEFAULT);
    x = mw_layer_bn(g, x, "bn1", MW_ACT_RELU);
    int in = 24;
    for (int stage = 0; stage < 3; stage++) {
        int out = stage_channels[stage], halves[2];
        if (!mw_layer_name(g, block, "layer%d.0", stage + 1) ||
            !down_block(g, x, block, in, out, halves))
            return -1;
        for (int i = 1; i <= stage_blocks[stage]; i++) {
            bool last = i == stage_blocks[stage];
            if (!mw_layer_name(g, block, "layer%d.%d", stage + 1, i) ||
                !basic_block(g, halves, block, out, !last, halves))
                return -1;
        }
        x = halves[0];
        in = out;
    }
    x = mw_layer_conv(g, x, "conv2", 1024, 1, 1, 0, 1, false, MW_CONV_INIT_DEFAULT);
    return mw_layer_global_pool(g, mw_layer_bn(g, x, "bn2", MW_ACT_RELU));
}
