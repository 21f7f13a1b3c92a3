/* libFuzzer harness: a CIFAR-10 binary batch, loaded as the CLI loads the test split
 * (mw_dataset_load("cifar10", root, MW_SPLIT_TEST): root/test_batch.bin). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_dataset_file("cifar10", "test_batch.bin", data, size);
    return 0;
}
