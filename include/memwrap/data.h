/* Datasets: readers for the formats the paper's datasets ship in, validating what they read.
 * Every image is kept as uint8 [channels, height, width] (the order torchvision's ToTensor
 * produces), so normalisation and augmentation happen once per batch, in the trainer. */
#ifndef MEMWRAP_DATA_H
#define MEMWRAP_DATA_H

#include <stdint.h>

#include "memwrap/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every dataset memwrap reads has ten classes (mw_dataset_load checks it). */
enum { MW_DATASET_CLASSES = 10 };

typedef struct mw_dataset {
    char name[32]; /* "fashion-mnist", "mnist", "cifar10", "svhn", "cinic10" */
    int count, channels, height, width, classes;
    uint8_t *images; /* count x channels x height x width */
    int32_t *labels; /* count, in [0, classes) */
} mw_dataset;

typedef enum mw_split { MW_SPLIT_TRAIN = 0, MW_SPLIT_TEST } mw_split;

/* Loads split `split` of dataset `name` from directory `root`:
 *   fashion-mnist, mnist: {train,t10k}-images-idx3-ubyte[.gz], {train,t10k}-labels-idx1-ubyte[.gz]
 *   cifar10: data_batch_1..5.bin / test_batch.bin (in root or root/cifar-10-batches-bin)
 *   svhn:    train_32x32.mat / test_32x32.mat (MATLAB level 5; label 10 means digit 0)
 *   cinic10: root/train/<class>/ *.png and root/test/<class>/ *.png, classes sorted by name
 * Errors (MW_ERR_IO, MW_ERR_FORMAT, MW_ERR_NOT_FOUND) name the file and what is wrong (bad
 * magic, truncated data, label out of range, unexpected size); nothing is returned then. */
mw_status mw_dataset_load(const char *name, const char *root, mw_split split, mw_dataset **out);
void mw_dataset_free(mw_dataset *d);

/* The shape of a dataset's images: 1 x 28 x 28 for (Fashion-)MNIST, 3 x 32 x 32 for the rest. */
mw_status mw_dataset_image_shape(const char *dataset, int *channels, int *size);

/* A class's name as people know it (Fashion-MNIST's "Ankle boot", CIFAR-10's "airplane", the
 * digit for MNIST and SVHN); NULL for an unknown dataset or label. */
const char *mw_dataset_class_name(const char *dataset, int label);

/* The valid dataset names, comma separated, for messages. */
const char *mw_dataset_names(void);

/* The format readers, for tests and for callers with their own file layout. Each allocates
 * *images / *labels (free with free()). */
mw_status mw_idx_read_images(const char *path, int *count, int *height, int *width,
                             uint8_t **images);
mw_status mw_idx_read_labels(const char *path, int *count, int32_t **labels);
mw_status mw_cifar10_read(const char *const *paths, int n_paths, int *count, uint8_t **images,
                          int32_t **labels);
mw_status mw_svhn_read(const char *path, int *count, uint8_t **images, int32_t **labels);
mw_status mw_png_folders_read(const char *dir, int channels, int size, int *count,
                              int *classes, uint8_t **images, int32_t **labels);

#ifdef __cplusplus
}
#endif
#endif
