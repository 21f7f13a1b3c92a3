/* MobileNetV2, CIFAR variant (reference-spec 5.1; kuangliu/pytorch-cifar as used by
 * memory-wrap's paper/architectures/mobilenet.py): stride-1 stem, ReLU (not ReLU6), the 1x1
 * expansion conv present even when t = 1, residual only for stride 1, avg_pool2d(4). */
#include "models/encoders.h"
#include "memwrap/layers.h"

/* (expansion t, out channels, blocks n, stride of the first block s) */
static const int stages[][4] = {{1, 16, 1, 1}, {6, 24, 2, 1},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};

static int block(mw_graph *g, int x, int index, int in, int out, int t, int stride) {
    char name[MW_NAME_MAX];
    int planes = t * in;
    int h = x;
    if (!mw_layer_name(g, name, "layers.%d.conv1", index)) return -1;
    h = mw_layer_conv(g, h, name, planes, 1, 1, 0, 1, false, MW_CONV_INIT_DEFAULT);
    if (!mw_layer_name(g, name, "layers.%d.bn1", index)) return -1;
    h = mw_layer_bn(g, h, name, MW_ACT_RELU);
    if (!mw_layer_name(g, name, "layers.%d.conv2", index)) return -1;
    h = mw_layer_conv(g, h, name, planes, 3, stride, 1, planes, false, MW_CONV_INIT_DEFAULT);
    if (!mw_layer_name(g, name, "layers.%d.bn2", index)) return -1;
    h = mw_layer_bn(g, h, name, MW_ACT_RELU);
    if (!mw_layer_name(g, name, "layers.%d.conv3", index)) return -1;
    h = mw_layer_conv(g, h, name, out, 1, 1, 0, 1, false, MW_CONV_INIT_DEFAULT);
    if (!mw_layer_name(g, name, "layers.%d.bn3", index)) return -1;
    h = mw_layer_bn(g, h, name, MW_ACT_NONE);
    if (stride != 1) return h;
    int shortcut = x;
    if (in != out) {
        if (!mw_layer_name(g, name, "layers.%d.shortcut.0", index)) return -1;
        shortcut = mw_layer_conv(g, x, name, out, 1, 1, 0, 1, false, MW_CONV_INIT_DEFAULT);
        if (!mw_layer_name(g, name, "layers.%d.shortcut.1", index)) return -1;
        shortcut = mw_layer_bn(g, shortcut, name, MW_ACT_NONE);
    }
    return mw_add(g, h, shortcut);
}

int mw_mobilenetv2_encoder(mw_graph *g, int maps, const mw_encoder *e,
                           const mw_encoder_settings *s) {
    (void)e, (void)s;
    int x = mw_layer_conv(g, maps, "conv1", 32, 3, 1, 1, 1, false, MW_CONV_INIT_DEFAULT);
    x = mw_layer_bn(g, x, "bn1", MW_ACT_RELU);
    int in = 32, index = 0;
    for (size_t st = 0; st < sizeof stages / sizeof stages[0]; st++)
        for (int i = 0; i < stages[st][2]; i++) {
            int out = stages[st][1];
            x = block(g, x, index++, in, out, stages[st][0], i == 0 ? stages[st][3] : 1);
            in = out;
        }
    x = mw_layer_conv(g, x, "conv2", 1280, 1, 1, 0, 1, false, MW_CONV_INIT_DEFAULT);
    x = mw_layer_bn(g, x, "bn2", MW_ACT_RELU);
    return mw_layer_pool_rows(g, x, 4);
}
