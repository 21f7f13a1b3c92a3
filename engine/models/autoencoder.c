/* The small convolutional autoencoder of the counterfactual-quality scores (memwrap/models.h,
 * mw_autoencoder): one per class and one on every class score how close a counterfactual is
 * to the data of a class (IM1, IM2 of Van Looveren and Klaise, engine/explain/counterfactual.c). */
#include "graph/graph_internal.h"
#include "memwrap/layers.h"
#include "memwrap/models.h"
#include "memwrap/ops.h"

/* conv 3x3 'same' with bias, PyTorch's default init, then ReLU unless it is a half's last */
static int conv(mw_graph *g, int x, const char *name, int cout, bool relu) {
    int y = mw_layer_conv(g, x, name, cout, 3, 1, 1, 1, true, MW_CONV_INIT_DEFAULT);
    return relu ? mw_activate(g, y, MW_ACT_RELU) : y;
}

int mw_autoencoder(mw_graph *g, int maps, int *code) {
    *code = -1;
    if (!mw_graph_check_inputs(g, "autoencoder", &maps, 1)) return -1;
    int channels = (int)mw_tensor_dim(g, maps, 0);
    if (mw_tensor_ndim(g, maps) != 4 || mw_tensor_dim(g, maps, 2) % 2 ||
        mw_tensor_dim(g, maps, 3) % 2)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG,
                             "autoencoder: %s must be maps [C, N, H, W] with H and W even "
                             "(the encoder halves them, the decoder doubles them back)",
                             mw_tensor_name(g, maps));
    int x = conv(g, maps, "encoder.conv1", 16, true);
    x = conv(g, x, "encoder.conv2", 16, true);
    x = mw_max_pool(g, x, 2, 2, 0);
    *code = conv(g, x, "encoder.conv3", 1, false);
    x = conv(g, *code, "decoder.conv1", 16, true);
    x = conv(g, x, "decoder.conv2", 16, true);
    x = mw_upsample_nearest(g, x, 2);
    return conv(g, x, "decoder.conv3", channels, false);
}
