/* Reverse-mode autodiff: walks the forward nodes backwards and appends, for each, the nodes
 * its op's backward function emits. Gradient contributions to one tensor (a parameter
 * shared by two branches, an activation read twice, an LSTM's weights used at every step)
 * are summed with ADD nodes as they arrive, so that at most the running sum and the newest
 * contribution are alive (a weight used at 200 steps would otherwise keep 200 weight-sized
 * contributions until the end); the order of the sums is the order of arrival either way. */
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "memwrap/ops.h"

typedef struct contrib_list {
    int *ids;
    int n, cap;
} contrib_list;

static bool contrib_push(contrib_list *c, int id) {
    if (c->n == c->cap) {
        int ncap = c->cap ? c->cap * 2 : 2;
        int *p = realloc(c->ids, (size_t)ncap * sizeof *p);
        if (!p) return false;
        c->ids = p;
        c->cap = ncap;
    }
    c->ids[c->n++] = id;
    return true;
}

/* Sums the contributions to `t` into one tensor and records it as t's gradient. A parameter
 * whose gradient tensor is already the gradient of another tensor (ADD's backward hands the
 * same gradient to both operands) gets a copy, so that each parameter owns its slot in the
 * gradient arena. */
static int finalize(mw_graph *g, contrib_list *contribs, int t, int queue) {
    contrib_list *c = &contribs[t];
    if (c->n == 0) return -1;
    int saved_queue = g->queue;
    g->queue = queue;
    int sum = c->ids[0];
    for (int k = 1; k < c->n && sum >= 0; k++)
        sum = mw_add(g, sum, c->ids[k]);
    bool is_param = g->tensors[t].role == MW_ROLE_PARAM;
    if (sum >= 0 && is_param &&
        (g->tensors[sum].grad_of >= 0 || g->tensors[sum].role != MW_ROLE_ACTIVATION))
        sum = mw_affine(g, sum, 1.0f, 0.0f);
    g->queue = saved_queue;
    if (sum < 0) return -1;
    g->tensors[sum].grad_of = t;
    g->tensors[t].grad = sum;
    c->n = 0;
    return sum;
}

static mw_status backward(mw_graph *g, int loss, int seed_grad, const int *wrt, int n_wrt,
                          bool param_grads);

mw_status mw_graph_backward(mw_graph *g, int loss, const int *wrt, int n_wrt) {
    return backward(g, loss, -1, wrt, n_wrt, true);
}

mw_status mw_graph_backward_from(mw_graph *g, int loss, int seed_grad, const int *wrt, int n_wrt) {
    return backward(g, loss, seed_grad, wrt, n_wrt, true);
}

mw_status mw_graph_backward_inputs(mw_graph *g, int output, int seed_grad, const int *wrt,
                                   int n_wrt) {
    return backward(g, output, seed_grad, wrt, n_wrt, false);
}

static mw_status backward(mw_graph *g, int loss, int seed_grad, const int *wrt, int n_wrt,
                          bool param_grads) {
    if (g->status != MW_OK) return mw_error_set(g->status, "%s", g->error);
    if (g->has_backward)
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_graph_backward: the graph already has one");
    if (loss < 0 || loss >= g->n_tensors || (seed_grad < 0 && g->tensors[loss].numel != 1))
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_graph_backward: the loss must be a scalar "
                                                "tensor of this graph");
    if (seed_grad >= 0 &&
        (seed_grad >= g->n_tensors || g->tensors[seed_grad].role != MW_ROLE_INPUT ||
         g->tensors[seed_grad].ndim != g->tensors[loss].ndim ||
         memcmp(g->tensors[seed_grad].shape, g->tensors[loss].shape,
                (size_t)g->tensors[loss].ndim * sizeof(int64_t)) != 0))
        return mw_error_set(MW_ERR_INVALID_ARG, "mw_graph_backward_from: the seed gradient "
                                                "must be an input shaped like the output");
    for (int i = 0; i < n_wrt; i++)
        if (wrt[i] < 0 || wrt[i] >= g->n_tensors || g->tensors[wrt[i]].dtype != MW_F32)
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "mw_graph_backward: wrt[%d] is not a float "
                                "tensor of this graph",
                                i);

    int n_forward = g->n_nodes, n_tensors = g->n_tensors;
    /* Which tensors lead to a gradient someone asked for. */
    for (int i = 0; i < n_tensors; i++)
        g->tensors[i].requires_grad = param_grads && g->tensors[i].role == MW_ROLE_PARAM;
    for (int i = 0; i < n_wrt; i++)
        g->tensors[wrt[i]].requires_grad = true;
    for (int i = 0; i < n_forward; i++) {
        const mw_node *n = &g->nodes[i];
        bool any = false;
        for (int j = 0; j < n->n_in; j++)
            any |= g->tensors[n->in[j]].requires_grad;
        for (int k = 0; k < n->n_out; k++)
            if (g->tensors[n->out[k]].dtype == MW_F32) g->tensors[n->out[k]].requires_grad |= any;
    }

    contrib_list *contribs = calloc((size_t)n_tensors, sizeof *contribs);
    if (!contribs) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory in backward");
    g->has_backward = true;
    int saved_queue = g->queue;
    int loss_queue = g->tensors[loss].producer >= 0 ? g->nodes[g->tensors[loss].producer].queue : 0;

    /* d loss / d loss = 1, unless the caller seeds the gradient of a non-scalar output. */
    g->queue = loss_queue;
    mw_node_attr one = {.fill = {1.0f}};
    int seed = seed_grad >= 0 ? seed_grad
                              : mw_graph_emit(g, MW_OP_FILL, NULL, 0, g->tensors[loss].ndim,
                                              g->tensors[loss].shape, one);
    if (seed >= 0 && !contrib_push(&contribs[loss], seed))
        mw_graph_fail(g, MW_ERR_OUT_OF_MEMORY, "out of host memory in backward");

    for (int i = n_forward - 1; i >= 0 && g->status == MW_OK; i--) {
        mw_node node = g->nodes[i]; /* a copy: emitting nodes may move g->nodes */
        int gout[MW_NODE_MAX_OUT], gin[MW_NODE_MAX_IN];
        bool need[MW_NODE_MAX_IN] = {false}, any_out = false, any_need = false;
        for (int k = 0; k < MW_NODE_MAX_OUT; k++)
            gout[k] = -1;
        for (int j = 0; j < MW_NODE_MAX_IN; j++) /* -1: no contribution unless the op sets one */
            gin[j] = -1;
        for (int k = 0; k < node.n_out; k++) {
            gout[k] = finalize(g, contribs, node.out[k], node.queue);
            any_out |= gout[k] >= 0;
        }
        for (int j = 0; j < node.n_in; j++) {
            need[j] = g->tensors[node.in[j]].requires_grad;
            any_need |= need[j];
        }
        if (!any_out || !any_need) continue;
        const mw_op_def *def = mw_op_get(node.op);
        if (!def->backward) {
            mw_graph_fail(g, MW_ERR_INVALID_ARG, "op %s has no backward", mw_op_name(node.op));
            break;
        }
        g->queue = node.queue;
        def->backward(g, &node, gout, need, gin);
        for (int j = 0; j < node.n_in && g->status == MW_OK; j++) {
            if (!need[j] || gin[j] < 0) continue;
            contrib_list *c = &contribs[node.in[j]];
            if (c->n == 1) { /* the running sum */
                int sum = mw_add(g, c->ids[0], gin[j]);
                if (sum >= 0) c->ids[0] = sum;
            } else if (!contrib_push(c, gin[j])) {
                mw_graph_fail(g, MW_ERR_OUT_OF_MEMORY, "out of host memory in backward");
            }
        }
    }

    /* Leaves: parameters and the tensors asked for. */
    for (int i = 0; i < n_tensors && g->status == MW_OK; i++) {
        const mw_tensor *t = &g->tensors[i];
        if (t->producer >= 0 || contribs[i].n == 0) continue;
        finalize(g, contribs, i, loss_queue);
    }
    for (int i = 0; i < n_wrt && g->status == MW_OK; i++)
        if (g->tensors[wrt[i]].grad >= 0) mw_graph_keep(g, g->tensors[wrt[i]].grad);

    g->queue = saved_queue;
    for (int i = 0; i < n_tensors; i++)
        free(contribs[i].ids);
    free(contribs);
    if (g->status != MW_OK) return mw_error_set(g->status, "%s", g->error);
    return MW_OK;
}
