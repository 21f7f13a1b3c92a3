/* libFuzzer harness: the on-disk program-binary cache entries (runtime/program.c). The
 * runtime validates an entry (magic "MWPC", format version, key, payload length, FNV-1a
 * checksum) before handing the payload to the OpenCL driver; that validation is the file
 * format memwrap owns, and it needs no device, so the harness calls it directly. What the
 * driver then does with the payload is the driver's business. A file that passes must hold
 * exactly its header and the payload returned. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "runtime/internal.h"

/* The key the runtime derives from the source, options and device; any fixed value will do
 * (the seeds carry it, and libFuzzer's comparison tracing finds it). */
#define FUZZ_KEY 0x6d656d7772617021ull
enum { HEADER_BYTES = 32 }; /* magic, version, key, payload length, checksum */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("0123456789abcdef.bin", data, size);
    unsigned char *binary = NULL;
    size_t length = 0;
    mw_cache_lookup r = mw_program_cache_read(path, FUZZ_KEY, &binary, &length);
    if (r == CACHE_MISS) abort(); /* the file is there */
    if (r == CACHE_GOOD) {
        if (!binary || size < HEADER_BYTES || length != size - HEADER_BYTES ||
            memcmp(binary, data + HEADER_BYTES, length) != 0)
            abort();
    } else if (binary || length) {
        abort();
    }
    free(binary);
    return 0;
}
