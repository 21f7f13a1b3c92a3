/* `memwrap explain --counterfactuals` end to end: a small Memory Wrap model trained on
 * Fashion-MNIST, then its counterfactual quality (autoencoders trained, memory
 * counterfactuals, CF-Proto's search, counterfactuals.png, index.html, explanations.json), and
 * again with the autoencoders reused from their file: every score the same. */
#include "support.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BASE "fashion-mnist-mobilenetv2-"
static const char *const dir = MEMWRAP_CF_E2E_DIR;

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* --counterfactuals, small: the autoencoders trained on 320 images for one epoch, CF-Proto
 * on 4 inputs for 15 iterations. The smoke grid's checkpoint (test_explain_run) predicts one
 * class for every image (8 steps), so nothing in its memory is predicted otherwise: this
 * model is trained a little longer (320 images, 3 epochs: about 33% accuracy, predictions
 * spread over the classes). */
#define CF_MODEL "cf-model/" BASE "encoder_memory-320-run0.safetensors"
static void cf_run(const char *folder, const char *log, cJSON **json, char **said) {
    assert_int_equal(test_cli(log,
                              "explain %s/" CF_MODEL " --out %s "
                              "--images 0 --counterfactuals --cf-inputs 64 --cf-proto-inputs 4 "
                              "--cf-iterations 15 --ae-epochs 1 --ae-images 320",
                              dir, folder),
                     0);
    *said = (char *)test_read_file(log, NULL);
    printf("%s", *said);
    char path[1200];
    snprintf(path, sizeof path, "%s/explanations.json", folder);
    char *text = (char *)test_read_file(path, NULL);
    *json = cJSON_Parse(text);
    free(text);
    assert_non_null(*json);
}

static void test_counterfactuals_end_to_end(void **state) {
    (void)state;
    char folder[1024], log[1200], path[1200];
    snprintf(folder, sizeof folder, "%s/counterfactuals", dir);
    snprintf(log, sizeof log, "%s.log", dir);
    test_remove_tree(dir);
    assert_int_equal(test_cli(log,
                              "train %s/configs/smoke/fmnist-tiny.json --out %s/cf-model --set "
                              "runs=1 --set 'variants=[\"encoder_memory\"]' --set "
                              "'train_examples=[320]' --set epochs=3 --set "
                              "'schedule.milestones=[2]' --set memory_examples=16 --set "
                              "test_examples=100 --set eval_repeats=1",
                              MEMWRAP_SOURCE_DIR, dir),
                     0);
    /* bad settings are refused before anything runs */
    assert_int_equal(test_cli(log,
                              "explain %s/" CF_MODEL " --out %s --counterfactuals --cf-iterations 0",
                              dir, folder),
                     2);
    cJSON *first, *again;
    char *said;
    cf_run(folder, log, &first, &said);
    assert_non_null(strstr(said, "autoencoders: trained, 1 epoch on 320 images at most, each"));
    free(said);
    const cJSON *q = test_json_item(first, "counterfactual_quality");
    assert_int_equal((int)test_json_item(q, "test_inputs")->valuedouble, 64);
    assert_int_equal((int)test_json_item(q, "search_iterations")->valuedouble, 15);
    const cJSON *memory = test_json_item(q, "memory"), *proto = test_json_item(q, "proto");
    /* every memory counterfactual is scored; the search ran on at most 4 of those inputs */
    int with = (int)test_json_item(memory, "inputs")->valuedouble;
    assert_true(with > 0 && with <= 64);
    assert_int_equal((int)test_json_item(memory, "found")->valuedouble, with);
    assert_true(test_json_item(proto, "inputs")->valuedouble <= 4);
    assert_true(test_json_item(proto, "found")->valuedouble <= test_json_item(proto, "inputs")->valuedouble);
    const char *scores[4] = {"im1", "iim1", "im2", "elastic_distance"};
    for (int k = 0; k < 4; k++)
        assert_true(test_json_item(memory, scores[k])->valuedouble > 0);
    const cJSON *ae = test_json_item(q, "autoencoders");
    assert_int_equal(cJSON_GetArraySize(test_json_item(ae, "test_mse")), 11); /* 10 classes and all */
    const cJSON *mse;
    cJSON_ArrayForEach(mse, test_json_item(ae, "test_mse")) {
        assert_true(cJSON_IsNumber(mse) && mse->valuedouble > 0 && mse->valuedouble < 10);
    }
    snprintf(path, sizeof path, "%s/autoencoders.safetensors", folder);
    assert_true(exists(path));
    /* the picture of the searched inputs */
    assert_string_equal(test_json_item(q, "picture")->valuestring, "counterfactuals.png");
    test_check_png(folder, "counterfactuals.png");
    snprintf(path, sizeof path, "%s/index.html", folder);
    char *text = (char *)test_read_file(path, NULL);
    test_check_html(text, folder);
    assert_non_null(strstr(text, "Counterfactual quality"));
    free(text);

    cf_run(folder, log, &again, &said);
    assert_non_null(strstr(said, "autoencoders: reused"));
    free(said);
    const cJSON *q2 = test_json_item(again, "counterfactual_quality");
    const char *methods[2] = {"memory", "proto"};
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 4; k++) {
            const cJSON *a = test_json_item(test_json_item(q, methods[m]), scores[k]);
            const cJSON *b = test_json_item(test_json_item(q2, methods[m]), scores[k]);
            assert_true(cJSON_IsNull(a) == cJSON_IsNull(b));
            if (cJSON_IsNumber(a)) assert_true(a->valuedouble == b->valuedouble);
        }
    cJSON_Delete(first);
    cJSON_Delete(again);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counterfactuals_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
