/* The ops' short forms of the kernel launcher, and helpers shared by op files. */
#include <stdarg.h>
#include <stdio.h>

#include "ops/launch.h"

/* Work-group size of mw_launch: 64 fits every device we target, and PoCL compiles one
 * specialisation per local size, so keeping it fixed keeps compiles few. No kernel depends
 * on it (they check their index), so it is not among the shared defines. */
enum { MW_ITEM_GROUP = 64 };

mw_status mw_launch(mw_cl_ctx *c, const char *family, const char *kernel, size_t items,
                    const char *fmt, ...) {
    mw_launch_spec s = {.family = family,
                        .kernel = kernel,
                        .kind = MW_RANGE_ITEMS,
                        .dims = 1,
                        .global = {items},
                        .local = {MW_ITEM_GROUP}};
    va_list ap;
    va_start(ap, fmt);
    mw_status st = mw_runtime_launch_v(c->rt, c->queue, &s, fmt, ap);
    va_end(ap);
    return st;
}

mw_status mw_launch_groups(mw_cl_ctx *c, const char *family, const char *kernel, size_t groups,
                           size_t group, const char *fmt, ...) {
    mw_launch_spec s = {.family = family,
                        .kernel = kernel,
                        .kind = MW_RANGE_GROUPS,
                        .dims = 1,
                        .global = {groups},
                        .local = {group}};
    va_list ap;
    va_start(ap, fmt);
    mw_status st = mw_runtime_launch_v(c->rt, c->queue, &s, fmt, ap);
    va_end(ap);
    return st;
}

mw_status mw_launch_kernel(mw_cl_ctx *c, mw_launch_spec spec, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mw_status st = mw_runtime_launch_v(c->rt, c->queue, &spec, fmt, ap);
    va_end(ap);
    return st;
}

size_t mw_group_size_override = 0;

size_t mw_group_size(const mw_cl_ctx *c, size_t cap) {
    /* The group reductions take any size (odd ones included), so a forced size is used as
     * it is, within the kernel's local arrays (`cap`). */
    size_t forced = mw_group_size_override ? mw_group_size_override : c->rt->forced_group;
    if (forced) return forced < cap ? forced : cap;
    if (mw_runtime_device(c->rt)->type & CL_DEVICE_TYPE_CPU) return 1;
    return cap;
}

int mw_new_output(mw_graph *g, mw_op op, const char *suffix, int ndim, const int64_t *shape) {
    if (g->status != MW_OK) return -1;
    char name[MW_NAME_MAX];
    if (suffix)
        snprintf(name, sizeof name, "%s:%d:%s", mw_op_name(op), g->n_nodes, suffix);
    else
        snprintf(name, sizeof name, "%s:%d", mw_op_name(op), g->n_nodes);
    return mw_graph_new_tensor(g, name, MW_F32, ndim, shape);
}
