/* libFuzzer harness: IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed. The input
 * is one file, read by both readers mw_dataset_load uses (images: magic 0x803, labels:
 * 0x801), so seeds of either kind reach the code behind the magic check. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "memwrap/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("t10k-images-idx3-ubyte", data, size);
    int count = 0, height = 0, width = 0;
    uint8_t *images = NULL;
    mw_status s = mw_idx_read_images(path, &count, &height, &width, &images);
    fuzz_check_error(s, path);
    if (s == MW_OK && (count < 1 || height < 1 || width < 1 || !images)) abort();
    free(images);

    int32_t *labels = NULL;
    s = mw_idx_read_labels(path, &count, &labels);
    fuzz_check_error(s, path);
    for (int i = 0; s == MW_OK && i < count; i++)
        if (labels[i] < 0 || labels[i] > 9) abort(); /* the reader promises 0..9 */
    free(labels);
    return 0;
}
