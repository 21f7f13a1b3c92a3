/* libFuzzer harness: an SVHN MATLAB level-5 .mat file (plain or miCOMPRESSED elements),
 * loaded as the CLI loads the test split (mw_dataset_load("svhn", root, MW_SPLIT_TEST):
 * root/test_32x32.mat); its label 10 is read as digit 0, so every label is in [0, 10). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_dataset_file("svhn", "test_32x32.mat", data, size);
    return 0;
}
