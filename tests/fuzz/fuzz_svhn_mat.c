/* libFuzzer harness: an SVHN MATLAB level-5 .mat file (plain or miCOMPRESSED elements),
 * loaded as the CLI loads the test split (mw_dataset_load("svhn", root, MW_SPLIT_TEST):
 * root/test_32x32.mat). */
#include <stdlib.h>

#include "fuzz_common.h"
#include "memwrap/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("test_32x32.mat", data, size);
    mw_dataset *d = NULL;
    mw_status s = mw_dataset_load("svhn", fuzz_dir(), MW_SPLIT_TEST, &d);
    fuzz_check_error(s, path);
    for (int i = 0; s == MW_OK && i < d->count; i++)
        if (d->labels[i] < 0 || d->labels[i] > 9) abort(); /* label 10 is read as digit 0 */
    mw_dataset_free(d);
    return 0;
}
