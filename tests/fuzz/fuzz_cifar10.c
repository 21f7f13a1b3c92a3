/* libFuzzer harness: a CIFAR-10 binary batch, loaded as the CLI loads the test split
 * (mw_dataset_load("cifar10", root, MW_SPLIT_TEST): root/test_batch.bin). */
#include <stdlib.h>

#include "fuzz_common.h"
#include "memwrap/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("test_batch.bin", data, size);
    mw_dataset *d = NULL;
    mw_status s = mw_dataset_load("cifar10", fuzz_dir(), MW_SPLIT_TEST, &d);
    fuzz_check_error(s, path);
    for (int i = 0; s == MW_OK && i < d->count; i++)
        if (d->labels[i] < 0 || d->labels[i] >= d->classes) abort();
    mw_dataset_free(d);
    return 0;
}
