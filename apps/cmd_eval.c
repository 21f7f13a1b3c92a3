/* `memwrap eval CHECKPOINT`: re-evaluates a checkpoint written by `memwrap train` with the
 * same protocol (memory drawn from the run's own training subset, one fresh set per test
 * batch, eval_repeats passes), reading the run's settings from the checkpoint. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "memwrap/memwrap.h"
#include "memwrap/checkpoint_run.h"
#include "memwrap/trainer.h"

static void usage(FILE *to) {
    fprintf(to, "usage: memwrap eval CHECKPOINT.safetensors [--data DIR] [--device SPEC] [--json]\n"
                "DIR overrides the dataset directory recorded in the checkpoint.\n");
}

int mw_cmd_eval(int argc, char **argv) {
    const char *checkpoint = NULL, *data = NULL, *device = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return MW_EXIT_OK;
        } else if (strcmp(a, "--data") == 0 && v) {
            data = v, i++;
        } else if (strcmp(a, "--device") == 0 && v) {
            device = v, i++;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (a[0] != '-' && !checkpoint) {
            checkpoint = a;
        } else {
            fprintf(stderr, "memwrap eval: bad argument '%s'\n", a);
            usage(stderr);
            return MW_EXIT_USAGE;
        }
    }
    if (!checkpoint) {
        usage(stderr);
        return MW_EXIT_USAGE;
    }
    static mw_opened_run run; /* large (the config): not on the stack */
    const mw_config *cfg = &run.cfg;
    const mw_run_spec *spec = &run.spec;
    mw_run_result res;
    mw_status s = mw_open_run(checkpoint, data, device, false, &run);
    if (s == MW_OK) {
        mw_trainer t = {.rt = run.rt, .run = &run.cfg.run, .train = run.train, .test = run.test};
        s = mw_evaluate_run(&t, spec, checkpoint, &res);
    }
    if (s == MW_OK && json) {
        cJSON *o = cJSON_CreateObject(), *reps = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "checkpoint", checkpoint);
        cJSON_AddStringToObject(o, "dataset", cfg->run.dataset);
        cJSON_AddStringToObject(o, "model", spec->model.name);
        cJSON_AddStringToObject(o, "variant", mw_variant_name(spec->variant));
        cJSON_AddNumberToObject(o, "run", spec->run);
        cJSON_AddNumberToObject(o, "accuracy", res.accuracy);
        for (int r = 0; r < res.repeats; r++)
            cJSON_AddItemToArray(reps, cJSON_CreateNumber(res.repeat_accuracy[r]));
        cJSON_AddItemToObject(o, "repeats", reps);
        if (res.has_majority) {
            cJSON_AddNumberToObject(o, "mvo_accuracy", res.mvo_accuracy);
            cJSON_AddNumberToObject(o, "mvy_accuracy", res.mvy_accuracy);
        }
        cJSON_AddStringToObject(o, "device", mw_runtime_device(run.rt)->name);
        char *text = cJSON_Print(o);
        if (text) puts(text);
        free(text);
        cJSON_Delete(o);
    } else if (s == MW_OK) {
        printf("%s: %s %s/%s n=%ld run %d: accuracy %.2f%% (mean of %d pass%s:", checkpoint,
               cfg->run.dataset, spec->model.name, mw_variant_name(spec->variant),
               spec->train_examples, spec->run, res.accuracy, res.repeats,
               res.repeats == 1 ? "" : "es");
        for (int r = 0; r < res.repeats; r++)
            printf(" %.2f", res.repeat_accuracy[r]);
        printf(")");
        if (res.has_majority)
            printf("; majority votes MVO %.2f%%, MVY %.2f%%", res.mvo_accuracy, res.mvy_accuracy);
        printf("\n");
    }
    if (s != MW_OK) fprintf(stderr, "memwrap eval: %s\n", mw_error_message());
    mw_close_run(&run);
    return mw_exit_code(s);
}
