/* libFuzzer harness: experiment configs as `memwrap train CONFIG --set KEY=VALUE ...` loads
 * them (mw_config_load). The input is the config text, then up to 8 `--set` values, each
 * after a NUL byte. A config that loads must survive the round trip its documentation
 * promises: mw_config_to_json, loaded again, gives back the same JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "memwrap/config.h"

enum { MAX_SETS = 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *pieces[1 + MAX_SETS], *buffer;
    int n = fuzz_split(data, size, pieces, 1 + MAX_SETS, &buffer);
    const char *path = fuzz_write("fuzz.json", pieces[0], strlen(pieces[0]));
    mw_config *c = malloc(sizeof *c); /* large: kept off the stack */
    if (!c) abort();
    mw_status s = mw_config_load(path, (const char *const *)pieces + 1, n - 1, c);
    fuzz_check_error(s, path);
    if (s == MW_OK) {
        char *json = mw_config_to_json(c);
        if (!json) abort();
        mw_config *again = malloc(sizeof *again);
        if (!again) abort();
        s = mw_config_load_text("roundtrip.json", json, NULL, 0, again);
        if (s != MW_OK) {
            fprintf(stderr, "written config does not load: %s\n%s\n", mw_error_message(), json);
            abort();
        }
        char *json2 = mw_config_to_json(again);
        if (!json2) abort();
        if (strcmp(json, json2) != 0) {
            fprintf(stderr, "config changes in a round trip:\n%s\n%s\n", json, json2);
            abort();
        }
        free(json2);
        free(again);
        free(json);
    }
    free(c);
    free(buffer);
    return 0;
}
