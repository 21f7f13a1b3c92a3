/* libFuzzer harness: CINIC-10 style PNG folders, loaded as the CLI loads the test split
 * (mw_dataset_load("cinic10", root, MW_SPLIT_TEST): root/test/<class>/<file>.png). One input
 * describes a whole folder tree as a sequence of files, each
 *   1 byte  d: class folder "c<d % 12>" (12 > the 10 classes wanted, so a wrong count is
 *            reachable); when d & 0x80, the file is not named *.png (the reader skips it)
 *   2 bytes n: content length, little-endian (cut to what the input still holds)
 *   n bytes:  the file's content (a PNG or not).
 * Files are named f00.png, f01.png, ... in input order, so each class folder lists them in
 * that order. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "memwrap/data.h"

enum { MAX_FILES = 64 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_clear();
    size_t at = 0;
    for (int i = 0; i < MAX_FILES && size - at >= 3; i++) {
        unsigned d = data[at];
        size_t n = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
        at += 3;
        if (n > size - at) n = size - at;
        char rel[64];
        snprintf(rel, sizeof rel, "test/c%02u/f%02d.%s", (d & 0x7f) % 12, i,
                 d & 0x80 ? "txt" : "png");
        fuzz_write(rel, data + at, n);
        at += n;
    }
    mw_dataset *d = NULL;
    mw_status s = mw_dataset_load("cinic10", fuzz_dir(), MW_SPLIT_TEST, &d);
    /* Every failure names the split folder or a file inside it. */
    fuzz_check_error(s, fuzz_dir());
    for (int i = 0; s == MW_OK && i < d->count; i++)
        if (d->labels[i] < 0 || d->labels[i] >= d->classes) abort();
    mw_dataset_free(d);
    return 0;
}
