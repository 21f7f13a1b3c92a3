/* Executing a graph: memory planning (parameter/gradient arenas, an activation pool reused
 * by liveness) and the scheduler that enqueues nodes in order on up to MW_MAX_QUEUES
 * in-order queues, joined by events where a node depends on another queue's work. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "memwrap/ops.h"
#include "ops/dw_bn_fusion.h"
#include "ops/bn_fold.h"
#include "runtime/cl_check.h"

/* Activation pools: one buffer each, none larger than the device's CL_DEVICE_MAX_MEM_ALLOC
 * (PoCL allows a quarter of memory, some GPUs less); tensors spill to the next pool. */
enum { MW_MAX_POOLS = 16 };

typedef enum placement {
    PLACE_NONE = 0,
    PLACE_PARAM, /* parameter arena */
    PLACE_GRAD,  /* gradient arena, at its parameter's offset */
    PLACE_OWN,   /* a buffer of its own: inputs, state, kept outputs */
    PLACE_POOL,  /* activation pool, shared by tensors whose lifetimes do not overlap */
} placement;

typedef struct tensor_plan {
    placement where;
    bool transient; /* an activation nothing keeps: pooled, or own where pooling is off */
    size_t offset;  /* bytes into its arena or pool */
    int pool;       /* which activation pool (each at most the device's largest buffer) */
    size_t bytes;
    int first, last; /* node indices of definition and last use (pooled tensors) */
    int last_user[MW_MAX_QUEUES];
} tensor_plan;

struct mw_exec {
    mw_graph *g;
    mw_runtime *rt; /* NULL: reference backend */
    tensor_plan *plan;
    size_t param_bytes, trainable_bytes;
    size_t pool_bytes[MW_MAX_POOLS];
    int n_pools;
    mw_exec_plan_stats stats;
    /* OpenCL backend */
    cl_mem pools[MW_MAX_POOLS], params, grads;
    cl_mem scratch[MW_MAX_QUEUES];   /* per queue: GEMM temporaries, sized for the largest node */
    cl_mem workspace[MW_MAX_QUEUES]; /* per queue: op workspaces, sized for the largest node */
    cl_mem *mem;
    cl_event *events;
    bool *needs_event;
    int *waits; /* [node][queue]: node whose completion this node waits for, or -1 */
    bool multi_queue;
    uint64_t runs; /* completed mw_exec_run calls */
    bool profiling;
    cl_event *marks;      /* [node][2]: markers before and after each node when profiling */
    double op_ms[MW_OP_COUNT];
    long op_nodes[MW_OP_COUNT];
    double *node_ms; /* [node]: the same time per node, for mw_exec_profile_nodes */
    long *node_runs;
    /* Eval-mode batch norms folded into their convolutions (ops/bn_fold.h, plan_bn_folds):
     * [node] for a convolution, the batch-norm node it runs on MW_RUN_FORWARD runs, or -1;
     * for that batch norm, true in folded_away; the folded weights and bias per convolution. */
    int *fold_bn;
    bool *folded_away;
    cl_mem *fold_w, *fold_b;
    /* Train-mode batch norms run inside the depthwise convolution before them (ops/
     * dw_bn_fusion.h, plan_dw_bn_fusions): [node] for such a convolution, the batch-norm node
     * it runs on training runs, or -1; that batch norm is true in fused_away_train. */
    int *dw_bn_forward;
    bool *fused_away_train;
    /* Batch-norm backward nodes run with the depthwise backward nodes that read their gx
     * (ops/dw_bn_fusion.h, plan_dw_bn_fusions): [node] for such a batch-norm backward,
     * its input-gradient and weight-gradient nodes, else -1, and the batch-norm backward
     * that reads the input gradient where it runs with them too, else -1; those are true in
     * fused_away_bwd. */
    int *dw_bwd_input, *dw_bwd_weight, *dw_bwd_bn1;
    bool *fused_away_bwd;
    /* reference backend */
    void **host;
    float *host_params, *host_grads;
};

static void collect_profile(mw_exec *ex, bool count);

static size_t round_up(size_t x, size_t a) {
    return (x + a - 1) / a * a;
}

static bool is_param_grad(const mw_graph *g, int t) {
    int of = g->tensors[t].grad_of;
    return of >= 0 && g->tensors[of].role == MW_ROLE_PARAM && g->tensors[of].grad == t;
}

/* Parameters with a gradient first, so that the optimizer updates one prefix of the arena. */
static void plan_arenas(mw_exec *ex, size_t align) {
    const mw_graph *g = ex->g;
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < g->n_params; i++) {
            int p = g->params[i];
            bool has_grad = g->tensors[p].grad >= 0;
            if (has_grad != (pass == 0)) continue;
            tensor_plan *tp = &ex->plan[p];
            tp->where = PLACE_PARAM;
            tp->offset = off;
            off = round_up(off + tp->bytes, align);
            if (has_grad) {
                tensor_plan *gp = &ex->plan[g->tensors[p].grad];
                gp->where = PLACE_GRAD;
                gp->offset = tp->offset;
            }
        }
        if (pass == 0) ex->trainable_bytes = off;
    }
    ex->param_bytes = off;
}

static int compare_by_size_desc(const void *a, const void *b, void *plan) {
    const tensor_plan *p = plan;
    size_t sa = p[*(const int *)a].bytes, sb = p[*(const int *)b].bytes;
    return sa < sb ? 1 : sa > sb ? -1 : (*(const int *)a - *(const int *)b);
}

/* qsort has no context argument in C11: a small insertion-friendly merge sort instead. */
static void sort_ids(int *ids, int n, tensor_plan *plan) {
    if (n < 2) return;
    int h = n / 2;
    sort_ids(ids, h, plan);
    sort_ids(ids + h, n - h, plan);
    int *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp) return; /* left partially sorted: placement stays correct, only less tight */
    int i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = compare_by_size_desc(&ids[i], &ids[j], plan) <= 0 ? ids[i++] : ids[j++];
    while (i < h)
        tmp[k++] = ids[i++];
    while (j < n)
        tmp[k++] = ids[j++];
    memcpy(ids, tmp, (size_t)n * sizeof *ids);
    free(tmp);
}

static bool lifetimes_overlap(const tensor_plan *a, const tensor_plan *b) {
    return a->first <= b->last && b->first <= a->last;
}

static bool ranges_overlap(const tensor_plan *a, const tensor_plan *b) {
    return a->pool == b->pool && a->offset < b->offset + b->bytes &&
           b->offset < a->offset + a->bytes;
}

typedef struct span {
    size_t begin, end;
} span;

static int compare_spans(const void *a, const void *b) {
    size_t x = ((const span *)a)->begin, y = ((const span *)b)->begin;
    return x < y ? -1 : x > y;
}

/* The lowest aligned offset in pool `pool` where t fits between the placed tensors alive at
 * the same time, or SIZE_MAX if it would end past `limit`. */
static size_t lowest_fit(const mw_exec *ex, const int *ids, int placed, const tensor_plan *t,
                         int pool, size_t align, size_t limit, span *busy) {
    int nb = 0;
    for (int b = 0; b < placed; b++) {
        const tensor_plan *u = &ex->plan[ids[b]];
        if (u->pool == pool && lifetimes_overlap(t, u))
            busy[nb++] = (span){u->offset, u->offset + u->bytes};
    }
    qsort(busy, (size_t)nb, sizeof *busy, compare_spans);
    size_t at = 0;
    for (int b = 0; b < nb; b++) {
        if (at + t->bytes <= busy[b].begin) break; /* fits in the gap before busy[b] */
        if (busy[b].end > at) at = round_up(busy[b].end, align);
    }
    return at + t->bytes <= limit ? at : SIZE_MAX;
}

/* Greedy placement by decreasing size: each pooled tensor takes the lowest offset that does
 * not collide with an already placed tensor alive at the same time, in the first pool where
 * it fits under `limit` bytes. */
static mw_status plan_pool(mw_exec *ex, size_t align, size_t limit) {
    const mw_graph *g = ex->g;
    int n = 0;
    int *ids = malloc((size_t)g->n_tensors * sizeof *ids);
    span *busy = malloc((size_t)g->n_tensors * sizeof *busy);
    mw_status s = MW_OK;
    if (!ids || !busy) {
        free(ids);
        free(busy);
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory planning the graph");
    }
    for (int i = 0; i < g->n_tensors; i++)
        if (ex->plan[i].where == PLACE_POOL) ids[n++] = i;
    sort_ids(ids, n, ex->plan);
    for (int a = 0; a < n && s == MW_OK; a++) {
        tensor_plan *t = &ex->plan[ids[a]];
        if (t->bytes > limit) {
            s = mw_error_set(MW_ERR_OUT_OF_MEMORY,
                             "activation %s needs %zu bytes, more than the device's largest "
                             "buffer (%zu): try a smaller batch",
                             g->tensors[ids[a]].name, t->bytes, limit);
            break;
        }
        size_t at = SIZE_MAX;
        int p = 0;
        for (; p < MW_MAX_POOLS; p++) {
            at = lowest_fit(ex, ids, a, t, p, align, limit, busy);
            if (at != SIZE_MAX) break;
        }
        if (at == SIZE_MAX) {
            s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "activations need more than %d buffers of "
                                                   "%zu bytes: try a smaller batch",
                             MW_MAX_POOLS, limit);
            break;
        }
        t->pool = p;
        t->offset = at;
        if (p + 1 > ex->n_pools) ex->n_pools = p + 1;
        if (at + t->bytes > ex->pool_bytes[p]) ex->pool_bytes[p] = at + t->bytes;
    }
    ex->stats.pool_bytes = 0;
    for (int p = 0; p < ex->n_pools; p++) {
        ex->pool_bytes[p] = round_up(ex->pool_bytes[p], align);
        ex->stats.pool_bytes += ex->pool_bytes[p];
    }
    ex->stats.pooled_tensors = n;
    free(ids);
    free(busy);
    return s;
}

static void add_wait(mw_exec *ex, int node, int dep) {
    const mw_graph *g = ex->g;
    if (dep < 0 || dep >= node) return;
    int q = g->nodes[dep].queue;
    if (q == g->nodes[node].queue) return; /* same in-order queue: already ordered */
    int *w = &ex->waits[node * MW_MAX_QUEUES + q];
    if (dep > *w) *w = dep;
}

/* Cross-queue dependencies: data (a node waits for its inputs' producers) and memory (a
 * pooled tensor's producer waits until every user of the memory it reuses is done). */
static void plan_waits(mw_exec *ex) {
    const mw_graph *g = ex->g;
    for (int i = 0; i < g->n_nodes * MW_MAX_QUEUES; i++)
        ex->waits[i] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const mw_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_in; j++)
            add_wait(ex, i, g->tensors[nd->in[j]].producer);
        /* a node that runs others (plan_dw_bn_fusions) reads their inputs too */
        int fused[4] = {ex->dw_bwd_input[i], ex->dw_bwd_weight[i], ex->dw_bwd_bn1[i],
                        ex->dw_bn_forward[i]};
        for (int f = 0; f < 4; f++)
            for (int j = 0; fused[f] >= 0 && j < g->nodes[fused[f]].n_in; j++)
                add_wait(ex, i, g->tensors[g->nodes[fused[f]].in[j]].producer);
    }
    for (int a = 0; a < g->n_tensors; a++) {
        const tensor_plan *t = &ex->plan[a];
        if (t->where != PLACE_POOL) continue;
        for (int b = 0; b < g->n_tensors; b++) {
            const tensor_plan *u = &ex->plan[b];
            if (b == a || u->where != PLACE_POOL || u->last >= t->first || !ranges_overlap(t, u))
                continue;
            for (int q = 0; q < MW_MAX_QUEUES; q++)
                add_wait(ex, t->first, u->last_user[q]);
        }
    }
    /* Nodes that read or update the same state tensor keep graph order across queues. */
    for (int s = 0; s < g->n_states; s++) {
        int previous = -1;
        for (int i = 0; i < g->n_nodes; i++) {
            const mw_node *nd = &g->nodes[i];
            bool touches = false;
            for (int j = 0; j < nd->n_in; j++)
                touches |= nd->in[j] == g->states[s];
            /* a convolution that runs its batch norm updates the running statistics */
            const mw_node *bn = ex->dw_bn_forward[i] >= 0 ? &g->nodes[ex->dw_bn_forward[i]] : NULL;
            for (int j = 0; bn && j < bn->n_in; j++)
                touches |= bn->in[j] == g->states[s];
            if (!touches) continue;
            add_wait(ex, i, previous);
            previous = i;
        }
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int q = 0; q < MW_MAX_QUEUES; q++) {
            int w = ex->waits[i * MW_MAX_QUEUES + q];
            if (w >= 0) {
                ex->needs_event[w] = true;
                ex->multi_queue = true;
            }
        }
}

/* Pooling gives activations with disjoint lifetimes sub-buffers of shared pool buffers.
 * NVIDIA's OpenCL (CUDA 13.0 platform, driver 580, an H200, 2026-12-04) crashed in
 * clReleaseMemObject on such sub-buffers, and ran a MobileNetV2 Memory Wrap step in 227 ms
 * with them against 135 ms with one buffer per activation (bench/RESULTS.md, "First GPU
 * run"), so on NVIDIA's platform each activation gets its own buffer. GPUs of that class
 * have the memory to spare; check_device_memory still says when a graph does not fit.
 * MEMWRAP_ACTIVATION_POOL=on|off overrides the choice (the tests force each on the CPU). */
static mw_status choose_pooling(const mw_exec *ex, bool *pool) {
    const char *force = getenv("MEMWRAP_ACTIVATION_POOL");
    if (force && *force) {
        if (strcmp(force, "on") != 0 && strcmp(force, "off") != 0)
            return mw_error_set(MW_ERR_INVALID_ARG,
                                "MEMWRAP_ACTIVATION_POOL is '%s': it takes on or off", force);
        *pool = strcmp(force, "on") == 0;
        return MW_OK;
    }
    *pool = !ex->rt || !strstr(mw_runtime_device(ex->rt)->platform_name, "NVIDIA");
    return MW_OK;
}

/* 0: fold eval-mode batch norms into their convolutions where plan_bn_folds allows; 1 never
 * (tests compare the two; MEMWRAP_BN_FOLD=off does the same). */
int mw_bn_fold_off = 0;

/* The forward nodes other than `except` that read tensor t. */
static int forward_readers(const mw_graph *g, int t, int except) {
    int count = 0;
    for (int k = 0; k < g->n_nodes; k++) {
        const mw_node *nd = &g->nodes[k];
        if (nd->backward || k == except) continue;
        for (int j = 0; j < nd->n_in; j++)
            count += nd->in[j] == t;
    }
    return count;
}

/* Pairs of a forward convolution and the batch norm that alone reads its output, on one
 * queue, whose activation the convolution's path can apply as it stores (or which has none:
 * every path adds a bias). On MW_RUN_FORWARD runs the convolution then writes the batch
 * norm's output with folded weights and the batch norm does nothing; so that output is
 * planned alive from the convolution on, and the convolution's own output, unwritten then,
 * is read by nobody else. OpenCL backend only. */
static void plan_bn_folds(mw_exec *ex) {
    const mw_graph *g = ex->g;
    const char *env = getenv("MEMWRAP_BN_FOLD");
    bool off = mw_bn_fold_off || (env && strcmp(env, "off") == 0);
    for (int i = 0; i < g->n_nodes; i++)
        ex->fold_bn[i] = -1;
    if (!ex->rt || off) return;
    for (int j = 0; j < g->n_nodes; j++) {
        const mw_node *bn = &g->nodes[j];
        if (bn->op != MW_OP_BATCH_NORM || bn->backward) continue;
        const mw_tensor *t = &g->tensors[bn->in[0]];
        int i = t->producer;
        if (i < 0 || t->keep || t->role != MW_ROLE_ACTIVATION) continue;
        const mw_node *conv = &g->nodes[i];
        if (conv->op != MW_OP_CONV2D || conv->backward || conv->queue != bn->queue ||
            forward_readers(g, bn->in[0], j) > 0)
            continue;
        if (bn->attr.norm.activation != MW_ACT_NONE && !mw_conv2d_takes_act(ex->rt, g, conv))
            continue;
        ex->fold_bn[i] = j;
        ex->folded_away[j] = true;
        ex->stats.folded_batch_norms++;
    }
}

/* 0: run depthwise convolutions and batch norms together where plan_dw_bn_fusions allows;
 * 1 never (tests compare the two; MEMWRAP_BN_DW_FUSE=off does the same). */
int mw_bn_dw_fuse_off = 0;

/* The nodes after `from` that read tensor t, as readers[0] (a node reading it as its input
 * `slot` with op `op`, the first such) and readers[1] (the same for `op2`; MW_OP_COUNT:
 * none); the count of any other reads. */
static int find_readers(const mw_graph *g, int t, int from, mw_op op, mw_op op2, int slot,
                        int readers[2]) {
    int others = 0;
    readers[0] = readers[1] = -1;
    for (int k = from + 1; k < g->n_nodes; k++) {
        const mw_node *nd = &g->nodes[k];
        for (int m = 0; m < nd->n_in; m++) {
            if (nd->in[m] != t) continue;
            if (m == slot && nd->op == op && readers[0] < 0)
                readers[0] = k;
            else if (m == slot && nd->op == op2 && op2 != MW_OP_COUNT && readers[1] < 0)
                readers[1] = k;
            else
                others++;
        }
    }
    return others;
}

static bool intermediate(const mw_graph *g, int t) {
    return !g->tensors[t].keep && g->tensors[t].role == MW_ROLE_ACTIVATION;
}

/* A batch-norm backward whose gx (an intermediate) is read by exactly two nodes, the input
 * gradient and the weight gradient of one depthwise convolution, all three on one queue, on
 * maps mw_bn_dw_backward_fits takes; and, where that input gradient (an intermediate) is
 * read only by another batch-norm backward on the queue, over maps of its shape, that one
 * too. The first batch-norm node then computes every fused node's outputs and the others do
 * nothing, so their outputs are planned alive from it on; gx and the input gradient keep
 * their plans, for the replay that runs every node as it is. OpenCL backend only. */
static void plan_bn_dw_backward(mw_exec *ex) {
    const mw_graph *g = ex->g;
    for (int j = 0; j < g->n_nodes; j++) {
        const mw_node *bn = &g->nodes[j];
        if (bn->op != MW_OP_BATCH_NORM_BWD || !intermediate(g, bn->out[0])) continue;
        int conv[2];
        if (find_readers(g, bn->out[0], j, MW_OP_CONV2D_BWD_INPUT, MW_OP_CONV2D_BWD_WEIGHT, 0,
                         conv) > 0 ||
            conv[0] < 0 || conv[1] < 0)
            continue;
        const mw_node *a = &g->nodes[conv[0]], *b = &g->nodes[conv[1]];
        /* one convolution: the weight gradient's shape is the weight's, its x the input
         * gradient's shape */
        if (a->queue != bn->queue || b->queue != bn->queue ||
            g->tensors[a->in[1]].numel != g->tensors[b->out[0]].numel ||
            g->tensors[b->in[1]].numel != g->tensors[a->out[0]].numel ||
            memcmp(&a->attr.conv, &b->attr.conv, sizeof a->attr.conv) != 0 ||
            !mw_bn_dw_backward_fits(ex->rt, g, a, false))
            continue;
        int gin = a->out[0], bn1[2];
        if (intermediate(g, gin) &&
            find_readers(g, gin, conv[0], MW_OP_BATCH_NORM_BWD, MW_OP_COUNT, 0, bn1) == 0 &&
            bn1[0] >= 0 && g->nodes[bn1[0]].queue == bn->queue &&
            g->tensors[g->nodes[bn1[0]].in[1]].numel == g->tensors[gin].numel &&
            mw_bn_dw_backward_fits(ex->rt, g, a, true)) {
            ex->dw_bwd_bn1[j] = bn1[0];
            ex->fused_away_bwd[bn1[0]] = true;
            ex->stats.fused_bn_dw_bn_backward++;
        }
        ex->dw_bwd_input[j] = conv[0];
        ex->dw_bwd_weight[j] = conv[1];
        ex->fused_away_bwd[conv[0]] = ex->fused_away_bwd[conv[1]] = true;
        ex->stats.fused_bn_dw_backward++;
    }
}

/* A forward depthwise convolution whose output only a batch norm reads in the forward (the
 * backward may read it too: it is still written), both on one queue, on maps
 * mw_dw_bn_forward_fits takes: on training runs the convolution node runs both and the batch
 * norm does nothing, so the batch norm's outputs are planned alive from the convolution on.
 * Evaluation runs fold the same pairs (plan_bn_folds) or run them apart. */
static void plan_dw_bn_forward(mw_exec *ex) {
    const mw_graph *g = ex->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const mw_node *conv = &g->nodes[i];
        if (conv->op != MW_OP_CONV2D || conv->backward) continue;
        int y = conv->out[0], bn = -1;
        for (int k = i + 1; k < g->n_nodes && bn < 0; k++)
            if (!g->nodes[k].backward && g->nodes[k].op == MW_OP_BATCH_NORM &&
                g->nodes[k].in[0] == y)
                bn = k;
        if (bn < 0 || g->tensors[y].role != MW_ROLE_ACTIVATION || forward_readers(g, y, bn) > 0 ||
            g->nodes[bn].queue != conv->queue || !mw_dw_bn_forward_fits(ex->rt, g, conv))
            continue;
        ex->dw_bn_forward[i] = bn;
        ex->fused_away_train[bn] = true;
        ex->stats.fused_dw_bn_forward++;
    }
}

/* The depthwise convolution and batch-norm fusions (ops/dw_bn_fusion.h), OpenCL backend. */
static void plan_dw_bn_fusions(mw_exec *ex) {
    const mw_graph *g = ex->g;
    const char *env = getenv("MEMWRAP_BN_DW_FUSE");
    bool off = mw_bn_dw_fuse_off || (env && strcmp(env, "off") == 0);
    for (int i = 0; i < g->n_nodes; i++)
        ex->dw_bwd_input[i] = ex->dw_bwd_weight[i] = ex->dw_bwd_bn1[i] = ex->dw_bn_forward[i] = -1;
    if (!ex->rt || off) return;
    plan_dw_bn_forward(ex);
    plan_bn_dw_backward(ex);
}

static mw_status plan_tensors(mw_exec *ex, size_t align) {
    const mw_graph *g = ex->g;
    bool pool = true;
    MW_TRY(choose_pooling(ex, &pool));
    for (int i = 0; i < g->n_tensors; i++) {
        const mw_tensor *t = &g->tensors[i];
        tensor_plan *tp = &ex->plan[i];
        tp->bytes = t->numel * 4; /* float32 and int32 */
        tp->first = tp->last = t->producer;
        for (int q = 0; q < MW_MAX_QUEUES; q++)
            tp->last_user[q] = -1;
        if (t->producer >= 0) tp->last_user[g->nodes[t->producer].queue] = t->producer;
        if (t->role == MW_ROLE_PARAM || is_param_grad(g, i)) continue; /* plan_arenas */
        if (t->role != MW_ROLE_ACTIVATION || t->keep)
            tp->where = PLACE_OWN;
        else if (t->producer >= 0) {
            tp->where = pool ? PLACE_POOL : PLACE_OWN;
            tp->transient = true;
            ex->stats.unpooled_bytes += tp->bytes;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const mw_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_in; j++) {
            tensor_plan *tp = &ex->plan[nd->in[j]];
            if (i > tp->last) tp->last = i;
            if (i > tp->last_user[nd->queue]) tp->last_user[nd->queue] = i;
        }
    }
    /* A folded batch norm's output is written by its convolution (plan_bn_folds). */
    for (int i = 0; i < g->n_nodes; i++)
        if (ex->fold_bn[i] >= 0) ex->plan[g->nodes[ex->fold_bn[i]].out[0]].first = i;
    /* So are a fused batch norm's by its convolution, and a fused depthwise backward's by its
     * batch norm (plan_dw_bn_fusions). */
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; ex->dw_bn_forward[i] >= 0 && k < g->nodes[ex->dw_bn_forward[i]].n_out; k++)
            ex->plan[g->nodes[ex->dw_bn_forward[i]].out[k]].first = i;
    for (int i = 0; i < g->n_nodes; i++) {
        int fused[3] = {ex->dw_bwd_input[i], ex->dw_bwd_weight[i], ex->dw_bwd_bn1[i]};
        for (int f = 0; f < 3; f++)
            for (int k = 0; fused[f] >= 0 && k < g->nodes[fused[f]].n_out; k++)
                ex->plan[g->nodes[fused[f]].out[k]].first = i;
    }
    plan_arenas(ex, align);
    size_t limit = SIZE_MAX;
    if (ex->rt) limit = mw_runtime_device(ex->rt)->max_alloc_bytes / align * align;
    return plan_pool(ex, align, limit);
}

/* One buffer per queue, as large as the largest request of that queue's nodes (CLBlast's GEMM
 * temporaries, or op workspaces), so that no step allocates. */
static mw_status create_per_queue(mw_exec *ex, bool workspace, const char *what, cl_mem *out) {
    const mw_graph *g = ex->g;
    size_t need[MW_MAX_QUEUES] = {0};
    bool wanted[MW_MAX_QUEUES] = {false};
    for (int i = 0; i < g->n_nodes; i++) {
        const mw_node *nd = &g->nodes[i];
        const mw_op_def *def = mw_op_get(nd->op);
        mw_status (*fn)(mw_runtime *, const mw_graph *, const mw_node *, size_t *) =
            workspace ? def->workspace_bytes : def->scratch_bytes;
        if (!fn) continue;
        size_t bytes = 0;
        MW_TRY(fn(ex->rt, g, nd, &bytes));
        wanted[nd->queue] = true;
        if (bytes > need[nd->queue]) need[nd->queue] = bytes;
    }
    for (int q = 0; q < MW_MAX_QUEUES; q++)
        if (wanted[q]) /* never zero-sized: CLBlast may still be handed the buffer */
            MW_TRY(mw_runtime_buffer(ex->rt, need[q] > 64 ? need[q] : 64, what, &out[q]));
    return MW_OK;
}

static mw_status create_cl(mw_exec *ex) {
    const mw_graph *g = ex->g;
    mw_runtime *rt = ex->rt;
    if (ex->param_bytes) {
        MW_TRY(mw_runtime_buffer(rt, ex->param_bytes, "parameter arena", &ex->params));
        MW_TRY(mw_runtime_buffer(rt, ex->param_bytes, "gradient arena", &ex->grads));
        /* Parameters start aligned, so the arenas hold padding no op writes, yet the
         * optimizer's fused step runs over the whole trainable prefix: zero both once, as
         * the reference backend's calloc does, so no step computes on uninitialised memory
         * (Oclgrind reported it in sgd_step_f32). Written from the host rather than with
         * clEnqueueFillBuffer, which Oclgrind 21.10's uninitialised-value check does not
         * follow past the first pattern. */
        void *zeros = calloc(1, ex->param_bytes);
        if (!zeros)
            return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory zeroing the arenas");
        cl_command_queue q = mw_runtime_queue(rt, 0);
        cl_int err = clEnqueueWriteBuffer(q, ex->params, CL_TRUE, 0, ex->param_bytes, zeros, 0,
                                          NULL, NULL);
        if (err == CL_SUCCESS)
            err = clEnqueueWriteBuffer(q, ex->grads, CL_TRUE, 0, ex->param_bytes, zeros, 0, NULL,
                                       NULL);
        free(zeros);
        MW_CL_CHECK(err);
    }
    for (int p = 0; p < ex->n_pools; p++)
        MW_TRY(mw_runtime_buffer(rt, ex->pool_bytes[p], "activation pool", &ex->pools[p]));
    for (int i = 0; i < g->n_nodes; i++) {
        if (ex->fold_bn[i] < 0) continue;
        const mw_tensor *w = &g->tensors[g->nodes[i].in[1]];
        MW_TRY(mw_runtime_buffer(rt, w->numel * sizeof(float), "folded weights", &ex->fold_w[i]));
        MW_TRY(mw_runtime_buffer(rt, (size_t)w->shape[0] * sizeof(float), "folded bias",
                                 &ex->fold_b[i]));
    }
    MW_TRY(create_per_queue(ex, false, "GEMM scratch", ex->scratch));
    MW_TRY(create_per_queue(ex, true, "op workspace", ex->workspace));
    for (int i = 0; i < g->n_tensors; i++) {
        tensor_plan *tp = &ex->plan[i];
        cl_mem parent = tp->where == PLACE_PARAM  ? ex->params
                        : tp->where == PLACE_GRAD ? ex->grads
                        : tp->where == PLACE_POOL ? ex->pools[tp->pool]
                                                  : NULL;
        if (tp->where == PLACE_OWN) {
            MW_TRY(mw_runtime_buffer(rt, tp->bytes, g->tensors[i].name, &ex->mem[i]));
        } else if (parent) {
            cl_buffer_region region = {tp->offset, tp->bytes};
            cl_int err;
            ex->mem[i] = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                           &region, &err);
            MW_CL_CHECK(err);
        }
    }
    return MW_OK;
}

static mw_status create_host(mw_exec *ex) {
    const mw_graph *g = ex->g;
    size_t pfloats = ex->param_bytes / 4;
    ex->host_params = calloc(pfloats ? pfloats : 1, sizeof(float));
    ex->host_grads = calloc(pfloats ? pfloats : 1, sizeof(float));
    if (!ex->host_params || !ex->host_grads)
        return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for the parameter arena");
    for (int i = 0; i < g->n_tensors; i++) {
        const tensor_plan *tp = &ex->plan[i];
        if (tp->where == PLACE_PARAM) {
            ex->host[i] = (char *)ex->host_params + tp->offset;
        } else if (tp->where == PLACE_GRAD) {
            ex->host[i] = (char *)ex->host_grads + tp->offset;
        } else if (tp->where != PLACE_NONE) {
            /* The reference backend keeps every tensor: simple, and tests may inspect any. */
            ex->host[i] = calloc(tp->bytes, 1);
            if (!ex->host[i])
                return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory for tensor %s",
                                    g->tensors[i].name);
        }
    }
    return MW_OK;
}

/* The planned buffers against the device's global memory, before any is created: a graph
 * too large says so in one message with its parts, instead of failing at whichever
 * allocation comes first (or, on drivers that allocate lazily, at the first launch). */
static mw_status check_device_memory(const mw_exec *ex) {
    const mw_device_info *dev = mw_runtime_device(ex->rt);
    size_t arenas = 2 * ex->param_bytes, pools = 0, own = 0;
    for (int p = 0; p < ex->n_pools; p++) pools += ex->pool_bytes[p];
    for (int i = 0; i < ex->g->n_tensors; i++)
        if (ex->plan[i].where == PLACE_OWN) own += ex->plan[i].bytes;
    size_t total = arenas + pools + own;
    if (total <= dev->global_mem_bytes) return MW_OK;
    const double mib = 1048576.0;
    return mw_error_set(MW_ERR_OUT_OF_MEMORY,
                        "the graph needs %.1f MiB of device memory (parameters and gradients "
                        "%.1f, activations %.1f, inputs, state and kept outputs %.1f) but device "
                        "'%s' has %.1f MiB: try a smaller batch",
                        total / mib, arenas / mib, pools / mib, own / mib, dev->name,
                        dev->global_mem_bytes / mib);
}

mw_status mw_exec_create(mw_graph *g, mw_runtime *rt, mw_exec **out) {
    *out = NULL;
    if (g->status != MW_OK)
        return mw_error_set(g->status, "cannot execute a graph that failed to build: %s", g->error);
    mw_exec *ex = calloc(1, sizeof *ex);
    if (!ex) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    ex->g = g;
    ex->rt = rt;
    int nt = g->n_tensors > 0 ? g->n_tensors : 1, nn = g->n_nodes > 0 ? g->n_nodes : 1;
    ex->plan = calloc((size_t)nt, sizeof *ex->plan);
    ex->mem = calloc((size_t)nt, sizeof *ex->mem);
    ex->host = calloc((size_t)nt, sizeof *ex->host);
    ex->events = calloc((size_t)nn, sizeof *ex->events);
    ex->needs_event = calloc((size_t)nn, sizeof *ex->needs_event);
    ex->waits = calloc((size_t)nn * MW_MAX_QUEUES, sizeof *ex->waits);
    ex->fold_bn = calloc((size_t)nn, sizeof *ex->fold_bn);
    ex->folded_away = calloc((size_t)nn, sizeof *ex->folded_away);
    ex->fold_w = calloc((size_t)nn, sizeof *ex->fold_w);
    ex->fold_b = calloc((size_t)nn, sizeof *ex->fold_b);
    ex->dw_bwd_input = calloc((size_t)nn, sizeof *ex->dw_bwd_input);
    ex->dw_bwd_weight = calloc((size_t)nn, sizeof *ex->dw_bwd_weight);
    ex->dw_bwd_bn1 = calloc((size_t)nn, sizeof *ex->dw_bwd_bn1);
    ex->dw_bn_forward = calloc((size_t)nn, sizeof *ex->dw_bn_forward);
    ex->fused_away_train = calloc((size_t)nn, sizeof *ex->fused_away_train);
    ex->fused_away_bwd = calloc((size_t)nn, sizeof *ex->fused_away_bwd);
    mw_status s = MW_OK;
    if (!ex->plan || !ex->mem || !ex->host || !ex->events || !ex->needs_event || !ex->waits ||
        !ex->fold_bn || !ex->folded_away || !ex->fold_w || !ex->fold_b || !ex->dw_bwd_input ||
        !ex->dw_bwd_weight || !ex->dw_bwd_bn1 || !ex->fused_away_bwd || !ex->dw_bn_forward ||
        !ex->fused_away_train)
        s = mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory planning the graph");
    if (s == MW_OK) plan_bn_folds(ex);
    if (s == MW_OK) plan_dw_bn_fusions(ex);
    /* Sub-buffer origins must be multiples of the device's base address alignment. */
    size_t align = 64;
    if (rt && mw_runtime_device(rt)->mem_base_addr_align_bytes > align)
        align = mw_runtime_device(rt)->mem_base_addr_align_bytes;
    if (s == MW_OK) s = plan_tensors(ex, align);
    if (s == MW_OK) plan_waits(ex);
    ex->stats.param_bytes = ex->param_bytes;
    if (s == MW_OK && rt) s = check_device_memory(ex);
    if (s == MW_OK) s = rt ? create_cl(ex) : create_host(ex);
    if (s != MW_OK) {
        mw_exec_free(ex);
        return s;
    }
    *out = ex;
    return MW_OK;
}

void mw_exec_free(mw_exec *ex) {
    if (!ex) return;
    const mw_graph *g = ex->g;
    for (int i = 0; i < g->n_tensors; i++) {
        if (ex->mem && ex->mem[i]) clReleaseMemObject(ex->mem[i]);
        if (ex->host && ex->host[i] && ex->plan[i].where != PLACE_PARAM &&
            ex->plan[i].where != PLACE_GRAD)
            free(ex->host[i]);
    }
    for (int i = 0; ex->events && i < g->n_nodes; i++)
        if (ex->events[i]) clReleaseEvent(ex->events[i]);
    for (int i = 0; ex->fold_w && i < g->n_nodes; i++) {
        if (ex->fold_w[i]) clReleaseMemObject(ex->fold_w[i]);
        if (ex->fold_b[i]) clReleaseMemObject(ex->fold_b[i]);
    }
    for (int p = 0; p < MW_MAX_POOLS; p++)
        if (ex->pools[p]) clReleaseMemObject(ex->pools[p]);
    for (int q = 0; q < MW_MAX_QUEUES; q++) {
        if (ex->scratch[q]) clReleaseMemObject(ex->scratch[q]);
        if (ex->workspace[q]) clReleaseMemObject(ex->workspace[q]);
    }
    if (ex->params) clReleaseMemObject(ex->params);
    if (ex->grads) clReleaseMemObject(ex->grads);
    free(ex->host_params);
    free(ex->host_grads);
    free(ex->plan);
    free(ex->mem);
    free(ex->host);
    free(ex->events);
    free(ex->needs_event);
    free(ex->waits);
    free(ex->fold_bn);
    free(ex->folded_away);
    free(ex->fold_w);
    free(ex->fold_b);
    free(ex->dw_bwd_input);
    free(ex->dw_bwd_weight);
    free(ex->dw_bwd_bn1);
    free(ex->dw_bn_forward);
    free(ex->fused_away_train);
    free(ex->fused_away_bwd);
    if (ex->marks) {
        collect_profile(ex, false);
        free(ex->marks);
    }
    free(ex->node_ms);
    free(ex->node_runs);
    free(ex);
}

static mw_status check_transfer(mw_exec *ex, int tensor, size_t bytes, const char *what) {
    const mw_graph *g = ex->g;
    if (tensor < 0 || tensor >= g->n_tensors)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: no tensor %d in this graph", what, tensor);
    const tensor_plan *tp = &ex->plan[tensor];
    if (bytes != tp->bytes)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: tensor %s holds %zu bytes, not %zu", what,
                            g->tensors[tensor].name, tp->bytes, bytes);
    /* Refused also where activations have buffers of their own (NVIDIA), so that a program
     * missing a keep fails alike on every device. */
    if (tp->transient && ex->rt)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "%s: tensor %s is a transient activation (its memory may be "
                            "reused); mark it with mw_graph_keep before mw_exec_create",
                            what, g->tensors[tensor].name);
    if (tp->where == PLACE_NONE)
        return mw_error_set(MW_ERR_INVALID_ARG, "%s: tensor %s has no storage", what,
                            g->tensors[tensor].name);
    return MW_OK;
}

mw_status mw_exec_write(mw_exec *ex, int tensor, const void *host, size_t bytes) {
    MW_TRY(check_transfer(ex, tensor, bytes, "mw_exec_write"));
    if (!ex->rt) {
        memcpy(ex->host[tensor], host, bytes);
        return MW_OK;
    }
    MW_CL_CHECK(clEnqueueWriteBuffer(mw_runtime_queue(ex->rt, 0), ex->mem[tensor], CL_TRUE, 0,
                                     bytes, host, 0, NULL, NULL));
    return MW_OK;
}

mw_status mw_exec_read(mw_exec *ex, int tensor, void *host, size_t bytes) {
    MW_TRY(check_transfer(ex, tensor, bytes, "mw_exec_read"));
    if (!ex->rt) {
        memcpy(host, ex->host[tensor], bytes);
        return MW_OK;
    }
    MW_CL_CHECK(clEnqueueReadBuffer(mw_runtime_queue(ex->rt, 0), ex->mem[tensor], CL_TRUE, 0, bytes,
                                    host, 0, NULL, NULL));
    return MW_OK;
}

/* The arenas as host floats: what a data-parallel step sums over processes (gradients) and
 * checks for equality (parameters). */
static mw_status arena_transfer(mw_exec *ex, mw_arena arena, size_t first, size_t n, float *host,
                                bool write) {
    size_t total = ex->param_bytes / 4;
    if (first > total || n > total - first)
        return mw_error_set(MW_ERR_INVALID_ARG,
                            "mw_exec_arena_%s: floats [%zu, %zu) outside the arena of %zu",
                            write ? "write" : "read", first, first + n, total);
    if (n == 0) return MW_OK;
    bool grads = arena == MW_ARENA_GRADS;
    if (!ex->rt) {
        float *base = (grads ? ex->host_grads : ex->host_params) + first;
        memcpy(write ? base : host, write ? host : base, n * 4);
        return MW_OK;
    }
    cl_mem mem = grads ? ex->grads : ex->params;
    cl_command_queue q = mw_runtime_queue(ex->rt, 0);
    if (write)
        MW_CL_CHECK(clEnqueueWriteBuffer(q, mem, CL_TRUE, first * 4, n * 4, host, 0, NULL, NULL));
    else
        MW_CL_CHECK(clEnqueueReadBuffer(q, mem, CL_TRUE, first * 4, n * 4, host, 0, NULL, NULL));
    return MW_OK;
}

mw_status mw_exec_arena_read(mw_exec *ex, mw_arena arena, size_t first, size_t n, float *host) {
    return arena_transfer(ex, arena, first, n, host, false);
}

mw_status mw_exec_arena_write(mw_exec *ex, mw_arena arena, size_t first, size_t n,
                              const float *host) {
    return arena_transfer(ex, arena, first, n, (float *)host, true);
}

static bool run_is_training(mw_run_mode mode) {
    return mode == MW_RUN_FORWARD_BACKWARD || mode == MW_RUN_TRAIN_FORWARD;
}

static bool run_has_backward(mw_run_mode mode) {
    return mode == MW_RUN_FORWARD_BACKWARD || mode == MW_RUN_EVAL_BACKWARD;
}

/* Node i's work on MW_RUN_FORWARD runs with batch norms folded (plan_bn_folds). */
static mw_status run_folded(mw_exec *ex, mw_cl_ctx *ctx, int i) {
    const mw_graph *g = ex->g;
    const mw_node *nd = &g->nodes[i], *bn = &g->nodes[ex->fold_bn[i]];
    MW_TRY(mw_batch_norm_fold(ctx, bn, nd, ex->fold_w[i], ex->fold_b[i]));
    return mw_conv2d_forward_act(ctx, nd, ex->fold_w[i], ex->fold_b[i], bn->attr.norm.activation,
                                 ex->mem[bn->out[0]]);
}

/* `fuse`: run the planned fusions (folded pairs on MW_RUN_FORWARD runs, batch-norm and
 * depthwise backwards); the replay that looks for a non-finite value runs every node as it
 * is, so that every output is there to check. */
static mw_status run_node_cl(mw_exec *ex, int i, mw_run_mode mode, bool fuse) {
    const mw_graph *g = ex->g;
    const mw_node *nd = &g->nodes[i];
    cl_command_queue q = mw_runtime_queue(ex->rt, nd->queue);
    if (ex->multi_queue) {
        cl_event wait[MW_MAX_QUEUES];
        cl_uint nw = 0;
        for (int k = 0; k < MW_MAX_QUEUES; k++) {
            int w = ex->waits[i * MW_MAX_QUEUES + k];
            if (w >= 0 && ex->events[w]) wait[nw++] = ex->events[w];
        }
        /* A barrier rather than per-kernel wait lists: CLBlast calls take none. */
        if (nw) MW_CL_CHECK(clEnqueueBarrierWithWaitList(q, nw, wait, NULL));
    }
    /* after the barrier: time spent waiting for the other queue is not the node's */
    if (ex->profiling) MW_CL_CHECK(clEnqueueMarkerWithWaitList(q, 0, NULL, &ex->marks[2 * i]));
    mw_cl_ctx ctx = {.rt = ex->rt,
                     .queue = q,
                     .g = g,
                     .mem = ex->mem,
                     .scratch = ex->scratch[nd->queue],
                     .workspace = ex->workspace[nd->queue],
                     .training = run_is_training(mode),
                     .step = ex->runs};
    bool fold = fuse && mode == MW_RUN_FORWARD, train = fuse && ctx.training;
    if (fold && ex->fold_bn[i] >= 0)
        MW_TRY(run_folded(ex, &ctx, i));
    else if (train && ex->dw_bn_forward[i] >= 0)
        MW_TRY(mw_dw_bn_forward(&ctx, nd, &g->nodes[ex->dw_bn_forward[i]]));
    else if (fuse && ex->dw_bwd_input[i] >= 0)
        MW_TRY(mw_bn_dw_backward(&ctx, nd, &g->nodes[ex->dw_bwd_input[i]],
                                 &g->nodes[ex->dw_bwd_weight[i]],
                                 ex->dw_bwd_bn1[i] >= 0 ? &g->nodes[ex->dw_bwd_bn1[i]] : NULL));
    else if (!(fold && ex->folded_away[i]) && !(fuse && ex->fused_away_bwd[i]) &&
             !(train && ex->fused_away_train[i]))
        MW_TRY(mw_op_get(nd->op)->run_cl(&ctx, nd));
    if (ex->needs_event[i]) MW_CL_CHECK(clEnqueueMarkerWithWaitList(q, 0, NULL, &ex->events[i]));
    if (ex->profiling)
        MW_CL_CHECK(clEnqueueMarkerWithWaitList(q, 0, NULL, &ex->marks[2 * i + 1]));
    return MW_OK;
}

static double event_end_ms(cl_event e, bool *ok) {
    cl_ulong t = 0;
    if (clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof t, &t, NULL) != CL_SUCCESS)
        *ok = false;
    return (double)t * 1e-6;
}

/* Charges each node the time between its two markers, then releases them. */
static void collect_profile(mw_exec *ex, bool count) {
    const mw_graph *g = ex->g;
    for (int i = 0; i < g->n_nodes; i++) {
        cl_event *m = &ex->marks[2 * i];
        if (count && m[0] && m[1]) {
            bool ok = true;
            double ms = event_end_ms(m[1], &ok) - event_end_ms(m[0], &ok);
            if (ok && ms >= 0) {
                ex->op_ms[g->nodes[i].op] += ms;
                ex->op_nodes[g->nodes[i].op]++;
                ex->node_ms[i] += ms;
                ex->node_runs[i]++;
            }
        }
        for (int k = 0; k < 2; k++)
            if (m[k]) {
                clReleaseEvent(m[k]);
                m[k] = NULL;
            }
    }
}

mw_status mw_exec_set_profiling(mw_exec *ex, bool on) {
    if (on && (!ex->rt || !mw_runtime_get_profiling(ex->rt)))
        return mw_error_set(MW_ERR_INVALID_ARG, "profiling needs a runtime created with "
                                                "profiling on (mw_runtime_options.profiling)");
    if (on && !ex->marks) {
        size_t n = (size_t)(ex->g->n_nodes ? ex->g->n_nodes : 1);
        cl_event *marks = calloc(n * 2, sizeof *marks);
        double *node_ms = calloc(n, sizeof *node_ms);
        long *node_runs = calloc(n, sizeof *node_runs);
        if (!marks || !node_ms || !node_runs) {
            free(marks), free(node_ms), free(node_runs);
            return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        ex->marks = marks, ex->node_ms = node_ms, ex->node_runs = node_runs;
    }
    ex->profiling = on;
    return MW_OK;
}

void mw_exec_profile_reset(mw_exec *ex) {
    memset(ex->op_ms, 0, sizeof ex->op_ms);
    memset(ex->op_nodes, 0, sizeof ex->op_nodes);
    if (ex->node_ms) {
        memset(ex->node_ms, 0, (size_t)ex->g->n_nodes * sizeof *ex->node_ms);
        memset(ex->node_runs, 0, (size_t)ex->g->n_nodes * sizeof *ex->node_runs);
    }
}

int mw_exec_profile(const mw_exec *ex, mw_op_time *out, int cap) {
    int n = 0;
    for (int op = 1; op < MW_OP_COUNT; op++) {
        if (ex->op_nodes[op] == 0) continue;
        mw_op_time t = {mw_op_name((mw_op)op), ex->op_ms[op], ex->op_nodes[op]};
        int at = n < cap ? n : cap; /* insertion by decreasing time */
        while (at > 0 && out[at - 1].ms < t.ms) {
            if (at < cap) out[at] = out[at - 1];
            at--;
        }
        if (at < cap) out[at] = t;
        n++;
    }
    return n;
}

static int append_shape(char *to, size_t cap, int at, const char *label, const mw_tensor *t) {
    if (at < 0 || (size_t)at >= cap) return at;
    at += snprintf(to + at, cap - (size_t)at, " %s ", label);
    for (int d = 0; d < t->ndim && (size_t)at < cap; d++)
        at += snprintf(to + at, cap - (size_t)at, d ? "x%lld" : "%lld", (long long)t->shape[d]);
    return at;
}

/* The parameter whose gradient `t` is, or is summed into: a weight shared by two branches
 * (Memory Wrap's encoder on inputs and memory) gets the sum of two contributions. */
static int gradient_of_param(const mw_graph *g, int t) {
    for (int hop = 0; hop < 8 && t >= 0; hop++) {
        int of = g->tensors[t].grad_of;
        if (of >= 0) return g->tensors[of].role == MW_ROLE_PARAM ? of : -1;
        int next = -1;
        for (int i = 0; i < g->n_nodes && next < 0; i++) {
            const mw_node *nd = &g->nodes[i];
            if (!nd->backward || (nd->op != MW_OP_ADD && nd->op != MW_OP_AFFINE)) continue;
            for (int k = 0; k < nd->n_in; k++)
                if (nd->in[k] == t) next = nd->out[0];
        }
        t = next;
    }
    return -1;
}

/* The layer a node belongs to: the first parameter it reads, or whose gradient it writes. */
static int node_param(const mw_graph *g, const mw_node *nd) {
    for (int k = 0; k < nd->n_in; k++)
        if (g->tensors[nd->in[k]].role == MW_ROLE_PARAM) return nd->in[k];
    for (int k = 0; k < nd->n_out; k++) {
        int p = gradient_of_param(g, nd->out[k]);
        if (p >= 0) return p;
    }
    return -1;
}

/* Multiply-adds x 2 of the GEMM-shaped ops, 0 for the others. */
static double node_flops(const mw_graph *g, const mw_node *nd) {
    if (nd->n_in < 1 || nd->n_out < 1) return 0;
    const mw_tensor *a = &g->tensors[nd->in[0]], *out = &g->tensors[nd->out[0]];
    const mw_tensor *w = nd->n_in > 1 ? &g->tensors[nd->in[1]] : NULL;
    switch (nd->op) {
    case MW_OP_CONV2D:           /* x, w -> y */
    case MW_OP_CONV2D_BWD_INPUT: /* gy, w -> gx: as many as the forward */
        return 2.0 * (double)(nd->op == MW_OP_CONV2D ? out->numel : a->numel) *
               (double)(w->shape[1] * w->shape[2] * w->shape[3]);
    case MW_OP_CONV2D_BWD_WEIGHT: /* gy, x -> gw */
        return 2.0 * (double)a->numel * (double)(out->shape[1] * out->shape[2] * out->shape[3]);
    case MW_OP_LINEAR: /* x [N, K] -> y [N, M] */
        return 2.0 * (double)out->numel * (double)a->shape[a->ndim - 1];
    case MW_OP_MATMUL: /* op(A) [M, K] */
        return 2.0 * (double)out->numel *
               (double)(nd->attr.matmul.transpose_a ? a->shape[0] : a->shape[1]);
    default:
        return 0;
    }
}

static void describe_node(const mw_graph *g, const mw_node *nd, char *to, size_t cap) {
    int param = node_param(g, nd);
    const mw_tensor *in0 = nd->n_in ? &g->tensors[nd->in[0]] : NULL;
    int at = snprintf(to, cap, "%s", param >= 0 ? g->tensors[param].name : in0 ? in0->name : "");
    if (in0) at = append_shape(to, cap, at, "in", in0);
    if (param >= 0) at = append_shape(to, cap, at, "w", &g->tensors[param]);
    if (nd->n_out) at = append_shape(to, cap, at, "out", &g->tensors[nd->out[0]]);
    bool conv = nd->op == MW_OP_CONV2D || nd->op == MW_OP_CONV2D_BWD_INPUT ||
                nd->op == MW_OP_CONV2D_BWD_WEIGHT;
    if (conv && at >= 0 && (size_t)at < cap)
        snprintf(to + at, cap - (size_t)at, " stride %d groups %d", nd->attr.conv.stride,
                 nd->attr.conv.groups);
}

int mw_exec_profile_nodes(const mw_exec *ex, mw_node_time *out, int cap) {
    const mw_graph *g = ex->g;
    int n = 0;
    for (int i = 0; ex->node_runs && i < g->n_nodes; i++) {
        if (ex->node_runs[i] == 0) continue;
        double ms = ex->node_ms[i];
        int at = n < cap ? n : cap; /* insertion by decreasing time */
        while (at > 0 && out[at - 1].ms < ms) {
            if (at < cap) out[at] = out[at - 1];
            at--;
        }
        n++;
        if (at >= cap) continue;
        const mw_node *nd = &g->nodes[i];
        mw_node_time *t = &out[at];
        *t = (mw_node_time){.node = i, .op = mw_op_name(nd->op), .backward = nd->backward,
                            .ms = ms, .runs = ex->node_runs[i]};
        describe_node(g, nd, t->what, sizeof t->what);
        t->flops = node_flops(g, nd);
        for (int k = 0; k < nd->n_in; k++)
            t->bytes += 4.0 * (double)g->tensors[nd->in[k]].numel; /* f32 and i32 */
        for (int k = 0; k < nd->n_out; k++)
            t->bytes += 4.0 * (double)g->tensors[nd->out[k]].numel;
    }
    return n;
}

/* Work enqueued on queue 0 between runs (the optimizer step) must finish before the other
 * queues start the next run. */
static mw_status join_queues(mw_exec *ex) {
    cl_event marker;
    MW_CL_CHECK(clEnqueueMarkerWithWaitList(mw_runtime_queue(ex->rt, 0), 0, NULL, &marker));
    mw_status s = MW_OK;
    for (int q = 1; q < MW_MAX_QUEUES && s == MW_OK; q++) {
        cl_int err = clEnqueueBarrierWithWaitList(mw_runtime_queue(ex->rt, q), 1, &marker, NULL);
        if (err != CL_SUCCESS)
            s = mw_error_set(mw_cl_status(err), "clEnqueueBarrierWithWaitList failed with %s",
                             mw_cl_error_name(err));
    }
    clReleaseEvent(marker);
    return s;
}

mw_status mw_exec_run(mw_exec *ex, mw_run_mode mode) {
    const mw_graph *g = ex->g;
    mw_status s = MW_OK;
    if (ex->rt && ex->multi_queue) s = join_queues(ex);
    for (int i = 0; i < g->n_nodes && s == MW_OK; i++) {
        const mw_node *nd = &g->nodes[i];
        if (nd->backward && !run_has_backward(mode)) break;
        if (ex->rt) {
            s = run_node_cl(ex, i, mode, true);
        } else {
            mw_cpu_ctx ctx = {
                .g = g, .host = ex->host, .training = run_is_training(mode), .step = ex->runs};
            s = mw_op_get(nd->op)->run_cpu(&ctx, nd);
        }
        if (s != MW_OK) {
            mw_error_wrap(s, "node %d (%s -> %s)%s%s: ", i, mw_op_name(nd->op),
                          g->tensors[nd->out[0]].name, ex->rt ? " on " : "",
                          ex->rt ? mw_runtime_device(ex->rt)->name : "");
        }
    }
    ex->runs++;
    if (ex->rt) {
        mw_status f = mw_runtime_finish(ex->rt);
        if (s == MW_OK) s = f;
        if (ex->profiling) collect_profile(ex, s == MW_OK);
        for (int i = 0; i < g->n_nodes; i++)
            if (ex->events[i]) {
                clReleaseEvent(ex->events[i]);
                ex->events[i] = NULL;
            }
    }
    return s;
}

/* ---- finding where a NaN or an infinity came from ----------------------------------------- */

/* Counts the non-finite values of a float tensor into *bad (0 for other dtypes and for
 * tensors without storage). */
static mw_status count_nonfinite(mw_exec *ex, int t, long *bad) {
    const mw_tensor *tt = &ex->g->tensors[t];
    const tensor_plan *tp = &ex->plan[t];
    *bad = 0;
    if (tt->dtype != MW_F32 || tp->where == PLACE_NONE || tp->bytes == 0) return MW_OK;
    float *copy = NULL;
    const float *v = ex->host ? ex->host[t] : NULL;
    if (ex->rt) {
        if (!(copy = malloc(tp->bytes)))
            return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory reading %s", tt->name);
        cl_int err = clEnqueueReadBuffer(mw_runtime_queue(ex->rt, 0), ex->mem[t], CL_TRUE, 0,
                                         tp->bytes, copy, 0, NULL, NULL);
        if (err != CL_SUCCESS) {
            free(copy);
            return mw_error_set(mw_cl_status(err), "reading %s failed with %s", tt->name,
                                mw_cl_error_name(err));
        }
        v = copy;
    }
    for (size_t i = 0; i < tp->bytes / sizeof(float); i++) *bad += !isfinite(v[i]);
    free(copy);
    return MW_OK;
}

mw_status mw_exec_find_nonfinite(mw_exec *ex, mw_run_mode mode, char *where, size_t cap) {
    const mw_graph *g = ex->g;
    where[0] = '\0';
    if (ex->runs > 0) ex->runs--; /* the failed run's step: its dropout masks */
    mw_status s = MW_OK;
    if (ex->rt && ex->multi_queue) s = join_queues(ex);
    for (int i = 0; i < g->n_nodes && s == MW_OK && !where[0]; i++) {
        const mw_node *nd = &g->nodes[i];
        if (nd->backward && !run_has_backward(mode)) break;
        if (ex->rt) {
            s = run_node_cl(ex, i, mode, false);
            if (s == MW_OK) s = mw_runtime_finish(ex->rt);
        } else {
            mw_cpu_ctx ctx = {
                .g = g, .host = ex->host, .training = run_is_training(mode), .step = ex->runs};
            s = mw_op_get(nd->op)->run_cpu(&ctx, nd);
        }
        for (int k = 0; k < nd->n_out && s == MW_OK && !where[0]; k++) {
            long bad = 0, bad_in = 0;
            s = count_nonfinite(ex, nd->out[k], &bad);
            if (s != MW_OK || bad == 0) continue;
            int bad_input = -1;
            for (int j = 0; j < nd->n_in && bad_input < 0 && s == MW_OK; j++) {
                /* State (batch norm's running statistics) is updated in place by this very
                 * node, in the failed run and again in this replay: what it holds now is
                 * the node's own output, not what the node was given. */
                if (g->tensors[nd->in[j]].role == MW_ROLE_STATE) continue;
                s = count_nonfinite(ex, nd->in[j], &bad_in);
                if (bad_in > 0) bad_input = nd->in[j];
            }
            const mw_tensor *out = &g->tensors[nd->out[k]];
            if (bad_input >= 0)
                snprintf(where, cap,
                         "%s node %d (%s -> %s): its input %s was already non-finite",
                         nd->backward ? "backward" : "forward", i, mw_op_name(nd->op), out->name,
                         g->tensors[bad_input].name);
            else
                snprintf(where, cap,
                         "%s node %d (%s -> %s) produced %ld non-finite value%s of %zu from "
                         "finite inputs",
                         nd->backward ? "backward" : "forward", i, mw_op_name(nd->op), out->name,
                         bad, bad == 1 ? "" : "s", out->numel);
        }
    }
    ex->runs++;
    if (ex->rt)
        for (int i = 0; i < g->n_nodes; i++)
            if (ex->events[i]) {
                clReleaseEvent(ex->events[i]);
                ex->events[i] = NULL;
            }
    return s;
}

mw_exec_plan_stats mw_exec_get_plan_stats(const mw_exec *ex) {
    return ex->stats;
}

mw_exec_arenas mw_exec_get_arenas(const mw_exec *ex) {
    mw_exec_arenas a = {ex->params,     ex->grads,           ex->host_params,
                        ex->host_grads, ex->param_bytes / 4, ex->trainable_bytes / 4};
    return a;
}

mw_runtime *mw_exec_runtime(const mw_exec *ex) {
    return ex->rt;
}

uint64_t mw_exec_run_count(const mw_exec *ex) {
    return ex->runs;
}

void mw_exec_set_run_count(mw_exec *ex, uint64_t runs) {
    ex->runs = runs;
}

mw_graph *mw_exec_graph(const mw_exec *ex) {
    return ex->g;
}

/* splitmix64: one well-mixed stream per parameter from (seed, parameter index). */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unit_uniform(uint64_t *state) {
    return (double)(splitmix64(state) >> 11) / (double)(1ull << 53);
}

static void fill_by_rule(const mw_tensor *t, uint64_t state, void *out) {
    if (t->dtype == MW_I32) { /* counters (batches tracked) start at zero */
        memset(out, 0, t->numel * sizeof(int32_t));
        return;
    }
    float *data = out;
    for (size_t k = 0; k < t->numel; k++) {
        double v = 0;
        switch (t->init.kind) {
        case MW_INIT_UNIFORM:
            v = (2.0 * unit_uniform(&state) - 1.0) * t->init.value;
            break;
        case MW_INIT_NORMAL: { /* Box-Muller, one value per pair of draws */
            double u1 = unit_uniform(&state) + 1e-300, u2 = unit_uniform(&state);
            v = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2) * t->init.value;
            break;
        }
        case MW_INIT_CONSTANT:
            v = t->init.value;
            break;
        default:
            v = 0;
        }
        data[k] = (float)v;
    }
}

mw_status mw_exec_init_params(mw_exec *ex, uint64_t seed) {
    const mw_graph *g = ex->g;
    for (int pass = 0; pass < 2; pass++) {
        int count = pass ? g->n_states : g->n_params;
        for (int i = 0; i < count; i++) {
            int id = pass ? g->states[i] : g->params[i];
            const mw_tensor *t = &g->tensors[id];
            void *data = malloc(t->numel * 4);
            if (!data)
                return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory initialising %s",
                                    t->name);
            fill_by_rule(t, seed * 0x100000001B3ull + (uint64_t)i + (pass ? 1ull << 40 : 0), data);
            mw_status s = mw_exec_write(ex, id, data, t->numel * 4);
            free(data);
            MW_TRY(s);
        }
    }
    return MW_OK;
}
