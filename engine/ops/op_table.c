/* The op table: one row per mw_op, generated from MW_OP_LIST (graph/graph_internal.h); each
 * row's definition lives next to the op in its family file. */
#include "graph/graph_internal.h"

#define MW_OP_DECLARE(id, name) extern const mw_op_def mw_op_def_##name;
MW_OP_LIST(MW_OP_DECLARE)
#undef MW_OP_DECLARE

static const struct {
    const char *name;
    const mw_op_def *def;
} op_table[MW_OP_COUNT] = {[MW_OP_NONE] = {"?", NULL},
#define MW_OP_ROW(id, name) [MW_OP_##id] = {#name, &mw_op_def_##name},
                           MW_OP_LIST(MW_OP_ROW)
#undef MW_OP_ROW
};

/* mw_exec_profile reports at most MW_OP_TIME_MAX ops (memwrap/graph.h). */
_Static_assert(MW_OP_COUNT - 1 <= MW_OP_TIME_MAX, "MW_OP_TIME_MAX must cover every op");

const mw_op_def *mw_op_get(mw_op op) {
    return (op > MW_OP_NONE && op < MW_OP_COUNT) ? op_table[op].def : NULL;
}

const char *mw_op_name(mw_op op) {
    return (op > MW_OP_NONE && op < MW_OP_COUNT) ? op_table[op].name : "?";
}
