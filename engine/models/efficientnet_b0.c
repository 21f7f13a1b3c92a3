/* EfficientNet-B0, CIFAR variant (reference-spec 5.3; memory-wrap's
 * paper/architectures/efficientnet.py): swish, squeeze-excitation sized from the block
 * input, no final 1x1 conv (d = 320), dropout 0.2 after pooling in training. The t = 1 block
 * still owns an unused conv1/bn1 (state_dict compatibility); drop_connect never fires. */
#include "models/encoders.h"
#include "memwrap/layers.h"

/* (blocks n, expansion t, out channels, kernel k, stride of the first block s) */
static const int stages[][5] = {{1, 1, 16, 3, 1}, {2, 6, 24, 3, 2},  {2, 6, 40, 5, 2},
                                {3, 6, 80, 3, 2}, {3, 6, 112, 5, 1}, {4, 6, 192, 5, 2},
                                {1, 6, 320, 3, 1}};

static const float reference_dropout = 0.2f;

static int block(mw_graph *g, int x, int index, int in, int out, int t, int k, int stride) {
    char name[MW_NAME_MAX];
    int channels = t * in, squeezed = (int)(in * 0.25);
    int h = x;
    if (!mw_layer_name(g, name, "layers.%d.conv1", index)) return -1;
    if (t == 1) { /* constructed, never used: its parameters get no gradient */
        int beta, mean, var, tracked;
        if (mw_layer_conv_params(g, name, in, channels, 1, 1, false, MW_CONV_INIT_DEFAULT, NULL) <
            0)
            return -1;
        if (!mw_layer_name(g, name, "layers.%d.bn1", index)) return -1;
        if (mw_layer_bn_params(g, name, channels, &beta, &mean, &var, &tracked) < 0) return -1;
    } else {
        h = mw_layer_conv(g, h, name, channels, 1, 1, 0, 1, false, MW_CONV_INIT_DEFAULT);
        if (!mw_layer_name(g, name, "layers.%d.bn1", index)) return -1;
        h = mw_layer_bn(g, h, name, MW_ACT_SWISH);
    }
    if (!mw_layer_name(g, name, "layers.%d.conv2", index)) return -1;
    h = mw_layer_conv(g, h, name, channels, k, stride, k == 3 ? 1 : 2, channels, false,
                      MW_CONV_INIT_DEFAULT);
    if (!mw_layer_name(g, name, "layers.%d.bn2", index)) return -1;
    h = mw_layer_bn(g, h, name, MW_ACT_SWISH);
    if (!mw_layer_name(g, name, "layers.%d.se", index)) return -1;
    h = mw_layer_squeeze_excite(g, h, name, squeezed);
    if (!mw_layer_name(g, name, "layers.%d.conv3", index)) return -1;
    h = mw_layer_conv(g, h, name, out, 1, 1, 0, 1, false, MW_CONV_INIT_DEFAULT);
    if (!mw_layer_name(g, name, "layers.%d.bn3", index)) return -1;
    h = mw_layer_bn(g, h, name, MW_ACT_NONE);
    return (stride == 1 && in == out) ? mw_add(g, h, x) : h;
}

int mw_efficientnet_b0_encoder(mw_graph *g, int maps, const mw_encoder *e,
                               const mw_encoder_settings *s) {
    (void)e;
    int x = mw_layer_conv(g, maps, "conv1", 32, 3, 1, 1, 1, false, MW_CONV_INIT_DEFAULT);
    x = mw_layer_bn(g, x, "bn1", MW_ACT_SWISH);
    int in = 32, index = 0;
    for (size_t st = 0; st < sizeof stages / sizeof stages[0]; st++)
        for (int i = 0; i < stages[st][0]; i++) {
            int out = stages[st][2];
            x = block(g, x, index++, in, out, stages[st][1], stages[st][3],
                      i == 0 ? stages[st][4] : 1);
            in = out;
        }
    x = mw_layer_global_pool(g, x);
    float p = s->dropout >= 0 ? s->dropout : reference_dropout;
    return p > 0 ? mw_dropout(g, x, p) : x;
}
