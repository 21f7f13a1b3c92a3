/* Graph construction: tensors, nodes, sticky build errors and the public tensor queries. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"

mw_graph *mw_graph_create(void) {
    return calloc(1, sizeof(mw_graph));
}

void mw_graph_free(mw_graph *g) {
    if (!g) return;
    free(g->tensors);
    free(g->nodes);
    free(g->params);
    free(g->states);
    free(g);
}

mw_status mw_graph_status(const mw_graph *g) {
    return g->status;
}

const char *mw_graph_error(const mw_graph *g) {
    return g->error;
}

int mw_graph_fail(mw_graph *g, mw_status s, const char *fmt, ...) {
    if (g->status == MW_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->error, sizeof g->error, fmt, ap);
        va_end(ap);
        g->status = s;
    }
    mw_error_set(g->status, "%s", g->error);
    return -1;
}

bool mw_graph_check_inputs(mw_graph *g, const char *op, const int *ids, int n) {
    if (g->status != MW_OK) return false;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= g->n_tensors) {
            mw_graph_fail(g, MW_ERR_INVALID_ARG, "%s: input %d is not a tensor of this graph (%d)",
                          op, i, ids[i]);
            return false;
        }
    }
    return true;
}

static bool grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return true;
    int ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, (size_t)ncap * elem);
    if (!np) return false;
    *p = np;
    *cap = ncap;
    return true;
}

static int add_tensor(mw_graph *g, const char *name, mw_dtype dtype, mw_tensor_role role, int ndim,
                      const int64_t *shape) {
    if (g->status != MW_OK) return -1;
    if (ndim < 1 || ndim > MW_MAX_DIMS)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "tensor '%s': %d dimensions (1..%d allowed)",
                             name, ndim, MW_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return mw_graph_fail(g, MW_ERR_INVALID_ARG, "tensor '%s': dimension %d is %lld", name,
                                 i, (long long)shape[i]);
        numel *= (size_t)shape[i];
    }
    /* `shape` and `name` may point into g->tensors (builders pass an input's shape): copy it before
     * the array can move. */
    int64_t dims[MW_MAX_DIMS];
    char label[MW_NAME_MAX];
    memcpy(dims, shape, (size_t)ndim * sizeof *dims);
    snprintf(label, sizeof label, "%s", name);
    if (!grow((void **)&g->tensors, &g->cap_tensors, g->n_tensors + 1, sizeof(mw_tensor)))
        return mw_graph_fail(g, MW_ERR_OUT_OF_MEMORY, "out of host memory building the graph");
    int id = g->n_tensors++;
    mw_tensor *t = &g->tensors[id];
    memset(t, 0, sizeof *t);
    memcpy(t->name, label, sizeof label);
    t->dtype = dtype;
    t->role = role;
    t->ndim = ndim;
    memcpy(t->shape, dims, (size_t)ndim * sizeof *dims);
    t->numel = numel;
    t->producer = -1;
    t->grad = -1;
    t->grad_of = -1;
    return id;
}

int mw_graph_input(mw_graph *g, const char *name, mw_dtype dtype, int ndim, const int64_t *shape) {
    return add_tensor(g, name, dtype, MW_ROLE_INPUT, ndim, shape);
}

int mw_graph_param(mw_graph *g, const char *name, int ndim, const int64_t *shape) {
    if (g->status == MW_OK && mw_graph_find(g, name) >= 0)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "parameter '%s' defined twice", name);
    int id = add_tensor(g, name, MW_F32, MW_ROLE_PARAM, ndim, shape);
    if (id < 0) return -1;
    if (!grow((void **)&g->params, &g->cap_params, g->n_params + 1, sizeof(int)))
        return mw_graph_fail(g, MW_ERR_OUT_OF_MEMORY, "out of host memory building the graph");
    g->params[g->n_params++] = id;
    return id;
}

int mw_graph_state(mw_graph *g, const char *name, mw_dtype dtype, int ndim, const int64_t *shape) {
    if (g->status == MW_OK && mw_graph_find(g, name) >= 0)
        return mw_graph_fail(g, MW_ERR_INVALID_ARG, "state tensor '%s' defined twice", name);
    int id = add_tensor(g, name, dtype, MW_ROLE_STATE, ndim, shape);
    if (id < 0) return -1;
    if (!grow((void **)&g->states, &g->cap_states, g->n_states + 1, sizeof(int)))
        return mw_graph_fail(g, MW_ERR_OUT_OF_MEMORY, "out of host memory building the graph");
    g->states[g->n_states++] = id;
    return id;
}

int mw_graph_state_count(const mw_graph *g) {
    return g->n_states;
}

int mw_graph_state_at(const mw_graph *g, int i) {
    return (i >= 0 && i < g->n_states) ? g->states[i] : -1;
}

int mw_graph_new_tensor(mw_graph *g, const char *name, mw_dtype dtype, int ndim,
                        const int64_t *shape) {
    return add_tensor(g, name, dtype, MW_ROLE_ACTIVATION, ndim, shape);
}

int mw_graph_add_node(mw_graph *g, mw_op op, const int *in, int n_in, const int *out, int n_out,
                      mw_node_attr attr) {
    if (g->status != MW_OK) return -1;
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(mw_node)))
        return mw_graph_fail(g, MW_ERR_OUT_OF_MEMORY, "out of host memory building the graph");
    int id = g->n_nodes++;
    mw_node *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->n_in = n_in;
    n->n_out = n_out;
    if (n_in > 0) memcpy(n->in, in, (size_t)n_in * sizeof *in); /* `in` may be NULL (fill) */
    if (n_out > 0) memcpy(n->out, out, (size_t)n_out * sizeof *out);
    n->queue = g->queue;
    n->backward = g->has_backward;
    n->attr = attr;
    for (int k = 0; k < n_out; k++)
        g->tensors[out[k]].producer = id;
    return id;
}

int mw_graph_emit(mw_graph *g, mw_op op, const int *in, int n_in, int ndim, const int64_t *shape,
                  mw_node_attr attr) {
    if (g->status != MW_OK) return -1;
    char name[MW_NAME_MAX];
    snprintf(name, sizeof name, "%s:%d", mw_op_name(op), g->n_nodes);
    int out = mw_graph_new_tensor(g, name, MW_F32, ndim, shape);
    if (out < 0) return -1;
    if (mw_graph_add_node(g, op, in, n_in, &out, 1, attr) < 0) return -1;
    return out;
}

void mw_graph_set_init(mw_graph *g, int tensor, mw_init init) {
    if (tensor >= 0 && tensor < g->n_tensors) g->tensors[tensor].init = init;
}

void mw_graph_param_init_uniform_fan_in(mw_graph *g, int param, int64_t fan_in) {
    if (fan_in <= 0) return;
    mw_init init = {MW_INIT_UNIFORM, (float)(1.0 / sqrt((double)fan_in))};
    mw_graph_set_init(g, param, init);
}

void mw_graph_keep(mw_graph *g, int tensor) {
    if (tensor >= 0 && tensor < g->n_tensors) g->tensors[tensor].keep = true;
}

void mw_graph_set_queue(mw_graph *g, int q) {
    if (q < 0 || q >= MW_MAX_QUEUES) {
        mw_graph_fail(g, MW_ERR_INVALID_ARG, "queue %d out of range 0..%d", q, MW_MAX_QUEUES - 1);
        return;
    }
    g->queue = q;
}

int mw_graph_grad(const mw_graph *g, int tensor) {
    return (tensor >= 0 && tensor < g->n_tensors) ? g->tensors[tensor].grad : -1;
}

int mw_graph_find(const mw_graph *g, const char *name) {
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return i;
    return -1;
}

int mw_graph_tensor_count(const mw_graph *g) {
    return g->n_tensors;
}

int mw_graph_node_count(const mw_graph *g) {
    return g->n_nodes;
}

const char *mw_tensor_name(const mw_graph *g, int tensor) {
    return g->tensors[tensor].name;
}

mw_tensor_role mw_tensor_get_role(const mw_graph *g, int tensor) {
    return g->tensors[tensor].role;
}

mw_dtype mw_tensor_dtype(const mw_graph *g, int tensor) {
    return g->tensors[tensor].dtype;
}

int mw_tensor_ndim(const mw_graph *g, int tensor) {
    return g->tensors[tensor].ndim;
}

int64_t mw_tensor_dim(const mw_graph *g, int tensor, int axis) {
    const mw_tensor *t = &g->tensors[tensor];
    return (axis >= 0 && axis < t->ndim) ? t->shape[axis] : 0;
}

size_t mw_tensor_numel(const mw_graph *g, int tensor) {
    return g->tensors[tensor].numel;
}

void mw_tensor_set_name(mw_graph *g, int tensor, const char *name) {
    if (tensor >= 0 && tensor < g->n_tensors)
        snprintf(g->tensors[tensor].name, sizeof g->tensors[tensor].name, "%s", name);
}

int mw_graph_param_count(const mw_graph *g) {
    return g->n_params;
}

int mw_graph_param_at(const mw_graph *g, int i) {
    return (i >= 0 && i < g->n_params) ? g->params[i] : -1;
}
