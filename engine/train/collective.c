/* Group-wide agreement on failures (memwrap/collective.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "memwrap/collective.h"

void mw_collective_name_flagged(const float *flags, int size, char *names, size_t cap) {
    size_t used = 0;
    names[0] = '\0';
    for (int r = 0; r < size && used < cap; r++)
        if (flags[r] != 0) {
            int w = snprintf(names + used, cap - used, "%s%d", used ? ", " : "", r);
            if (w < 0) break;
            used += (size_t)w;
        }
}

mw_status mw_collective_flags(const mw_collective *c, bool flagged, char *names, size_t cap) {
    float *flags = calloc((size_t)c->size, sizeof *flags);
    if (!flags) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "out of host memory");
    flags[c->rank] = flagged;
    mw_status s = c->sum_f32(c, flags, (size_t)c->size);
    if (s == MW_OK) mw_collective_name_flagged(flags, c->size, names, cap);
    free(flags);
    return s;
}

mw_status mw_collective_agree(const mw_collective *c, mw_status local, const char *what) {
    if (!c || c->size <= 1) return local;
    char saved[1024], failed[256] = "";
    snprintf(saved, sizeof saved, "%s", local != MW_OK ? mw_error_message() : "");
    mw_status s = mw_collective_flags(c, local != MW_OK, failed, sizeof failed);
    if (local != MW_OK) return mw_error_set(local, "%s", saved); /* its own message stays */
    if (s != MW_OK) return mw_error_wrap(s, "%s, telling the other processes: ", what);
    if (failed[0])
        return mw_error_set(MW_ERR_GROUP,
                            "process %s failed %s (its own message is in its output); this "
                            "process stops too",
                            failed, what);
    return MW_OK;
}

/* FNV-1a. */
static uint64_t hash_bytes(const void *data, size_t bytes) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < bytes; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

mw_status mw_collective_same(const mw_collective *c, const void *data, size_t bytes, char *names,
                             size_t cap) {
    uint64_t mine = hash_bytes(data, bytes), first = mine;
    MW_TRY(c->broadcast(c, &first, sizeof first, 0));
    return mw_collective_flags(c, mine != first, names, cap);
}
