/* ResNet18, CIFAR variant (reference-spec 5.2; memory-wrap's paper/architectures/resnet.py):
 * 3x3 stride-1 stem without max-pool, BasicBlocks, conv weights N(0, √(2/(k²·out))). */
#include "models/encoders.h"
#include "memwrap/layers.h"

static int basic_block(mw_graph *g, int x, int layer, int index, int in, int planes, int stride) {
    char name[MW_NAME_MAX];
    const mw_conv_init init = MW_CONV_INIT_FAN_OUT_NORMAL;
    if (!mw_layer_name(g, name, "layer%d.%d.conv1", layer, index)) return -1;
    int h = mw_layer_conv(g, x, name, planes, 3, stride, 1, 1, false, init);
    if (!mw_layer_name(g, name, "layer%d.%d.bn1", layer, index)) return -1;
    h = mw_layer_bn(g, h, name, MW_ACT_RELU);
    if (!mw_layer_name(g, name, "layer%d.%d.conv2", layer, index)) return -1;
    h = mw_layer_conv(g, h, name, planes, 3, 1, 1, 1, false, init);
    if (!mw_layer_name(g, name, "layer%d.%d.bn2", layer, index)) return -1;
    h = mw_layer_bn(g, h, name, MW_ACT_NONE);
    int shortcut = x;
    if (stride != 1 || in != planes) {
        if (!mw_layer_name(g, name, "layer%d.%d.shortcut.0", layer, index)) return -1;
        shortcut = mw_layer_conv(g, x, name, planes, 1, stride, 0, 1, false, init);
        if (!mw_layer_name(g, name, "layer%d.%d.shortcut.1", layer, index)) return -1;
        shortcut = mw_layer_bn(g, shortcut, name, MW_ACT_NONE);
    }
    return mw_add_relu(g, h, shortcut);
}

int mw_resnet18_encoder(mw_graph *g, int maps, const mw_encoder *e, const mw_encoder_settings *s) {
    (void)e, (void)s;
    int x = mw_layer_conv(g, maps, "conv1", 64, 3, 1, 1, 1, false, MW_CONV_INIT_FAN_OUT_NORMAL);
    x = mw_layer_bn(g, x, "bn1", MW_ACT_RELU);
    int in = 64;
    for (int layer = 1; layer <= 4; layer++) {
        int planes = 64 << (layer - 1);
        for (int b = 0; b < 2; b++) {
            x = basic_block(g, x, layer, b, in, planes, (b == 0 && layer > 1) ? 2 : 1);
            in = planes;
        }
    }
    return mw_layer_pool_rows(g, x, 4);
}
