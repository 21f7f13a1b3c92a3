/* `memwrap explain` end to end on a smoke model: train the tiny Fashion-MNIST grid (Std and
 * Memory Wrap, one run each), explain the Memory Wrap checkpoint with pictures and metrics,
 * write the report, then check what a person gets: explanations.json with the metric keys
 * and per-pass values, PNGs that decode, an index.html whose every image and link exists,
 * the Integrated Gradients completeness error, and the report's link to the explanations.
 * The files stay in the build folder (MEMWRAP_EXPLAIN_E2E_DIR) for the headless-Chromium
 * page checks that ctest runs after this test. */
#include "support.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BASE "fashion-mnist-mobilenetv2-"
static const char *const dir = MEMWRAP_EXPLAIN_E2E_DIR;

static char *read_text(const char *path) {
    size_t n = 0;
    char *text = (char *)test_read_file(path, &n);
    text[n] = '\0';
    return text;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_explain_end_to_end(void **state) {
    (void)state;
    test_remove_tree(dir);
    char out[1200], log[1200];
    snprintf(log, sizeof log, "%s.log", dir);
    assert_int_equal(test_cli(log, "train %s/configs/smoke/fmnist-tiny.json --out %s --set runs=1",
                              MEMWRAP_SOURCE_DIR, dir),
                     0);
    /* a std model has nothing to explain with: a clear error, exit 2, nothing written */
    assert_int_equal(test_cli(log, "explain %s/" BASE "std-64-run0.safetensors", dir), 2);
    char *said = read_text(log);
    assert_non_null(strstr(said, "std model has no content weights"));
    free(said);
    snprintf(out, sizeof out, "%s/explain/" BASE "std-64-run0", dir);
    assert_false(exists(out));
    /* bad arguments */
    assert_int_equal(test_cli(log,
                              "explain %s/" BASE "encoder_memory-64-run0.safetensors "
                              "--repeats 0",
                              dir),
                     2);
    assert_int_equal(test_cli(log,
                              "explain %s/" BASE "encoder_memory-64-run0.safetensors "
                              "--memory-source everything",
                              dir),
                     2);

    assert_int_equal(test_cli(log,
                              "explain %s/" BASE "encoder_memory-64-run0.safetensors "
                              "--images 3 --metrics --repeats 2 --steps 100",
                              dir),
                     0);
    said = read_text(log);
    printf("%s", said); /* the summary, the completeness error among it */
    assert_non_null(strstr(said, "explanation accuracy"));
    assert_non_null(strstr(said, "explanation by example against its baselines"));
    free(said);
    assert_int_equal(test_cli(log, "report %s", dir), 0);

    char folder[1024], path[1200];
    snprintf(folder, sizeof folder, "%s/explain/" BASE "encoder_memory-64-run0", dir);
    snprintf(path, sizeof path, "%s/explanations.json", folder);
    char *text = read_text(path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    const char *keys[6] = {"explanation_accuracy", "counterfactual_accuracy",
                           "example_accuracy",     "accuracy",
                           "mvo_accuracy",         "mvy_accuracy"};
    const cJSON *per = test_json_item(j, "per_repeat");
    for (int k = 0; k < 6; k++) {
        const cJSON *v = test_json_item(j, keys[k]);
        assert_true(cJSON_IsNumber(v) || cJSON_IsNull(v)); /* null: no such input */
        if (cJSON_IsNumber(v)) assert_true(v->valuedouble >= 0 && v->valuedouble <= 100);
        assert_int_equal(cJSON_GetArraySize(test_json_item(per, keys[k])), 2);
    }
    /* the model's own accuracy is always defined, and so is one of example/counterfactual */
    assert_true(cJSON_IsNumber(test_json_item(j, "accuracy")));
    assert_true(cJSON_IsNumber(test_json_item(j, "mvo_accuracy")) && cJSON_IsNumber(test_json_item(j, "mvy_accuracy")));
    assert_true(cJSON_IsNumber(test_json_item(j, "example_accuracy")) ||
                cJSON_IsNumber(test_json_item(j, "counterfactual_accuracy")));
    assert_int_equal((int)test_json_item(j, "test_inputs")->valuedouble, 200);
    /* the explanation by example against its baselines: finite, non-negative, per pass */
    const char *scores[8] = {"ebe_input_memory",   "ebe_input_twin",        "ebe_input_knn",
                             "ebe_input_random",   "ebe_prediction_memory", "ebe_prediction_twin",
                             "ebe_prediction_knn", "ebe_prediction_random"};
    for (int k = 0; k < 8; k++) {
        const cJSON *v = test_json_item(j, scores[k]);
        assert_true(cJSON_IsNumber(v) && v->valuedouble >= 0);
        assert_int_equal(cJSON_GetArraySize(test_json_item(per, scores[k])), 2);
    }
    const cJSON *panels = test_json_item(j, "panels"), *p;
    assert_int_equal(cJSON_GetArraySize(panels), 3);
    cJSON_ArrayForEach(p, panels) {
        test_check_png(folder, test_json_item(p, "memory")->valuestring);
        test_check_png(folder, test_json_item(p, "heatmap")->valuestring);
        const cJSON *support = test_json_item(p, "support"), *s;
        double sum = 0, last = 2;
        cJSON_ArrayForEach(s, support) {
            double w = test_json_item(s, "weight")->valuedouble;
            assert_true(w > 0 && w <= last); /* by weight, non-zero only */
            last = w;
            sum += w;
        }
        assert_true(fabs(sum - 1) < 1e-4); /* sparsemax rows sum to 1 */
        /* Integrated Gradients completeness: Σ attributions = f(x) − f(baseline), to 5% of
         * how far f moves along the path in all (100 steps). Not of f(x) − f(b) itself: the
         * smoke model is nearly flat (f moves by 1e-4 of 0.2) and its path goes up and down,
         * so the quadrature's error against that small difference is ill-conditioned. On one
         * such image the error against f(x) − f(b) was 23%, 7.8% and 3.0% with 40, 100 and
         * 200 steps (against the path's variation 5.0%, 1.6% and 0.6%): quadrature error
         * that shrinks with the steps, not wrong attributions, which would not converge. The
         * two measures agree where f moves one way, as in a trained model. */
        const cJSON *c = test_json_item(p, "completeness");
        double err = test_json_item(c, "relative_error")->valuedouble;
        double err_path = test_json_item(c, "error_of_path_variation")->valuedouble;
        double variation = test_json_item(c, "path_variation")->valuedouble;
        double diff = test_json_item(c, "f_input")->valuedouble - test_json_item(c, "f_baseline")->valuedouble;
        printf("completeness: attributions %.5g, f(x) - f(baseline) %.5g (error %.3g%%), path "
               "variation %.5g (error %.3g%% of it)\n",
               test_json_item(c, "sum_of_attributions")->valuedouble, diff, 100 * err, variation,
               100 * err_path);
        assert_true(variation >= fabs(diff) * 0.95); /* it bounds the net change */
        assert_true(err_path < 0.05);
    }
    cJSON_Delete(j);

    snprintf(path, sizeof path, "%s/index.html", folder);
    text = read_text(path);
    test_check_html(text, folder);
    assert_non_null(strstr(text, "Explanation metrics"));
    assert_non_null(strstr(text, "Explanation by example against its baselines"));
    free(text);
    /* the report links the explanation page */
    snprintf(path, sizeof path, "%s/report.html", dir);
    text = read_text(path);
    test_check_html(text, dir);
    assert_non_null(strstr(text, "explain/" BASE "encoder_memory-64-run0/index.html"));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explain_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
