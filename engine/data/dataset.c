/* mw_dataset_load: maps a dataset name and split to its files and the format reader, and
 * checks what the reader returns against what the dataset must be (sizes, 10 classes). */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "memwrap/data.h"

enum { DS_PATH_MAX = 4096, DS_CLASSES = MW_DATASET_CLASSES };

typedef mw_status (*ds_loader)(const char *root, mw_split split, mw_dataset *d);

static mw_status load_mnist(const char *root, mw_split split, mw_dataset *d);
static mw_status load_cifar10(const char *root, mw_split split, mw_dataset *d);
static mw_status load_svhn(const char *root, mw_split split, mw_dataset *d);
static mw_status load_cinic10(const char *root, mw_split split, mw_dataset *d);

/* Class names in label order: Fashion-MNIST's as its README lists them
 * (github.com/zalandoresearch/fashion-mnist), CIFAR-10's as its batches.meta.txt (CINIC-10
 * sorts the same ten names alphabetically, which is the same order), digits for the rest. */
static const char *const fashion_names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                            "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                                            "Ankle boot"};
static const char *const cifar_names[] = {"airplane", "automobile", "bird", "cat", "deer",
                                          "dog", "frog", "horse", "ship", "truck"};
static const char *const digit_names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

typedef struct ds_kind {
    const char *name;       /* canonical, stored in mw_dataset.name */
    const char *aliases[3]; /* also accepted (case-insensitively, like the name) */
    const char *const *classes; /* ten names in label order */
    int channels, size;         /* of every image */
    ds_loader load;
    const char *hint; /* where to get the files, appended to "not found" errors */
} ds_kind;

static const ds_kind kinds[] = {
    {"fashion-mnist",
     {"fmnist", "fashion_mnist", NULL},
     fashion_names, 1, 28,
     load_mnist,
     "install the Debian package dataset-fashion-mnist (files in "
     "/usr/share/datasets/fashion-mnist) "
     "or download the four *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist"},
    {"mnist",
     {NULL},
     digit_names, 1, 28,
     load_mnist,
     "download the four *-ubyte.gz files from https://yann.lecun.com/exdb/mnist/ (mirror: "
     "https://ossci-datasets.s3.amazonaws.com/mnist/)"},
    {"cifar10",
     {"cifar-10", NULL},
     cifar_names, 3, 32,
     load_cifar10,
     "download and unpack https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (the binary "
     "version, cifar-10-batches-bin/)"},
    {"svhn",
     {NULL},
     digit_names, 3, 32,
     load_svhn,
     "download train_32x32.mat and test_32x32.mat (format 2) from "
     "http://ufldl.stanford.edu/housenumbers/"},
    {"cinic10",
     {"cinic-10", NULL},
     cifar_names, 3, 32,
     load_cinic10,
     "download and unpack CINIC-10.tar.gz from https://datashare.ed.ac.uk/handle/10283/3192 "
     "(root holds train/, valid/, test/)"},
};
enum { DS_KINDS = sizeof kinds / sizeof kinds[0] };

const char *mw_dataset_names(void) {
    return "fashion-mnist, mnist, cifar10, svhn, cinic10";
}

static const ds_kind *find_kind(const char *name);

mw_status mw_dataset_image_shape(const char *dataset, int *channels, int *size) {
    const ds_kind *k = dataset ? find_kind(dataset) : NULL;
    if (!k)
        return mw_error_set(MW_ERR_INVALID_ARG, "unknown dataset '%s' (valid: %s)",
                            dataset ? dataset : "(null)", mw_dataset_names());
    *channels = k->channels;
    *size = k->size;
    return MW_OK;
}

const char *mw_dataset_class_name(const char *dataset, int label) {
    const ds_kind *k = dataset ? find_kind(dataset) : NULL;
    return k && label >= 0 && label < 10 ? k->classes[label] : NULL;
}

static int same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

static const ds_kind *find_kind(const char *name) {
    for (int k = 0; k < DS_KINDS; k++) {
        if (same_name(name, kinds[k].name)) return &kinds[k];
        for (int a = 0; a < 3 && kinds[k].aliases[a]; a++)
            if (same_name(name, kinds[k].aliases[a])) return &kinds[k];
    }
    return NULL;
}

/* Adds where to get the dataset to a "not found" message. */
static mw_status with_hint(mw_status s, const ds_kind *k) {
    if (s != MW_ERR_NOT_FOUND) return s;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", mw_error_message()); /* copied: set overwrites the buffer */
    return mw_error_set(s, "%s; %s: %s", msg, k->name, k->hint);
}

static mw_status check_count(const char *what, const char *file, int images, int labels) {
    if (images != labels)
        return mw_error_set(MW_ERR_FORMAT, "%s '%s': %d images but %d labels", what, file, images,
                            labels);
    return MW_OK;
}

/* {train,t10k}-{images-idx3,labels-idx1}-ubyte, plain or with .gz (plain preferred). */
static mw_status idx_path(const char *root, const char *prefix, const char *kind, char *out) {
    char base[256];
    snprintf(base, sizeof base, "%s-%s-ubyte", prefix, kind);
    MW_TRY(mw_data_path(out, DS_PATH_MAX, root, base));
    uint64_t size;
    if (mw_data_stat("IDX", out, &size) != MW_ERR_NOT_FOUND) return MW_OK;
    size_t n = strlen(out);
    if (n + 4 >= DS_PATH_MAX)
        return mw_error_set(MW_ERR_INVALID_ARG, "path '%s.gz' is too long", out);
    memcpy(out + n, ".gz", 4);
    if (mw_data_stat("IDX", out, &size) != MW_ERR_NOT_FOUND) return MW_OK;
    out[n] = '\0';
    return mw_error_set(MW_ERR_NOT_FOUND, "IDX '%s' not found (nor '%s.gz')", out, out);
}

static mw_status load_mnist(const char *root, mw_split split, mw_dataset *d) {
    const char *prefix = split == MW_SPLIT_TRAIN ? "train" : "t10k";
    char images[DS_PATH_MAX], labels[DS_PATH_MAX];
    MW_TRY(idx_path(root, prefix, "images-idx3", images));
    MW_TRY(idx_path(root, prefix, "labels-idx1", labels));
    int n_labels;
    MW_TRY(mw_idx_read_images(images, &d->count, &d->height, &d->width, &d->images));
    MW_TRY(mw_idx_read_labels(labels, &n_labels, &d->labels));
    if (d->height != 28 || d->width != 28)
        return mw_error_set(MW_ERR_FORMAT, "IDX '%s': images are %dx%d, want 28x28", images,
                            d->height, d->width);
    d->channels = 1;
    return check_count("IDX", labels, d->count, n_labels);
}

static mw_status load_cifar10(const char *root, mw_split split, mw_dataset *d) {
    /* Either root itself or the folder the tarball unpacks to. */
    char dir[DS_PATH_MAX];
    MW_TRY(mw_data_path(dir, sizeof dir, root, "cifar-10-batches-bin"));
    if (!mw_data_is_dir(dir)) snprintf(dir, sizeof dir, "%s", root);
    char paths[5][DS_PATH_MAX];
    const char *list[5];
    int n = split == MW_SPLIT_TRAIN ? 5 : 1;
    for (int i = 0; i < n; i++) {
        char name[32];
        if (split == MW_SPLIT_TRAIN)
            snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
        else
            snprintf(name, sizeof name, "test_batch.bin");
        MW_TRY(mw_data_path(paths[i], sizeof paths[i], dir, name));
        list[i] = paths[i];
    }
    d->channels = 3;
    d->height = d->width = 32;
    return mw_cifar10_read(list, n, &d->count, &d->images, &d->labels);
}

static mw_status load_svhn(const char *root, mw_split split, mw_dataset *d) {
    char path[DS_PATH_MAX];
    MW_TRY(mw_data_path(path, sizeof path, root,
                        split == MW_SPLIT_TRAIN ? "train_32x32.mat" : "test_32x32.mat"));
    d->channels = 3;
    d->height = d->width = 32;
    return mw_svhn_read(path, &d->count, &d->images, &d->labels);
}

static mw_status load_cinic10(const char *root, mw_split split, mw_dataset *d) {
    char dir[DS_PATH_MAX];
    MW_TRY(mw_data_path(dir, sizeof dir, root, split == MW_SPLIT_TRAIN ? "train" : "test"));
    if (!mw_data_is_dir(dir))
        return mw_error_set(MW_ERR_NOT_FOUND, "CINIC-10 split folder '%s' not found", dir);
    d->channels = 3;
    d->height = d->width = 32;
    int classes;
    MW_TRY(mw_png_folders_read(dir, 3, 32, &d->count, &classes, &d->images, &d->labels));
    if (classes != DS_CLASSES)
        return mw_error_set(MW_ERR_FORMAT,
                            "CINIC-10 '%s': %d class folders, want %d (airplane, "
                            "automobile, bird, cat, deer, dog, frog, horse, ship, truck)",
                            dir, classes, DS_CLASSES);
    return MW_OK;
}

mw_status mw_dataset_load(const char *name, const char *root, mw_split split, mw_dataset **out) {
    if (!out) return mw_error_set(MW_ERR_INVALID_ARG, "mw_dataset_load: out is NULL");
    *out = NULL;
    if (!name) return mw_error_set(MW_ERR_INVALID_ARG, "mw_dataset_load: name is NULL");
    const ds_kind *k = find_kind(name);
    if (!k)
        return mw_error_set(MW_ERR_INVALID_ARG, "unknown dataset '%s' (valid: %s)", name,
                            mw_dataset_names());
    if (!root || !*root)
        return mw_error_set(MW_ERR_INVALID_ARG, "dataset %s: no root directory given", k->name);
    if (split != MW_SPLIT_TRAIN && split != MW_SPLIT_TEST)
        return mw_error_set(MW_ERR_INVALID_ARG, "dataset %s: unknown split %d", k->name,
                            (int)split);
    mw_dataset *d = calloc(1, sizeof *d);
    if (!d) return mw_error_set(MW_ERR_OUT_OF_MEMORY, "dataset %s: out of memory", k->name);
    snprintf(d->name, sizeof d->name, "%s", k->name);
    d->classes = DS_CLASSES;
    mw_status s = k->load(root, split, d);
    if (s != MW_OK) {
        mw_dataset_free(d);
        return with_hint(s, k);
    }
    *out = d;
    return MW_OK;
}

void mw_dataset_free(mw_dataset *d) {
    if (!d) return;
    free(d->images);
    free(d->labels);
    free(d);
}
