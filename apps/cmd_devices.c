/* `memwrap devices [--json] [--device SPEC]`: every OpenCL platform and device, in the
 * spirit of `clinfo -l`, with the details that matter to memwrap, and a mark on the device
 * a run would use. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "memwrap/memwrap.h"

static void devices_usage(FILE *out) {
    fprintf(out,
            "usage: memwrap devices [--json] [--device SPEC]\n"
            "\n"
            "Lists OpenCL platforms and devices. The device marked '*' is the one memwrap uses:\n"
            "SPEC if given, else MEMWRAP_DEVICE if set, else the first GPU, else the first\n"
            "device. SPEC is P:D (indices below), cpu, gpu, or part of the platform/device name.\n"
            "\n"
            "  --json          print a JSON array (index, platform, name, vendor, type,\n"
            "                  compute_units, global_mem_bytes, opencl_c_version, fp16, fp64,\n"
            "                  default)\n"
            "  --device SPEC   mark the device SPEC selects\n");
}

static void format_bytes(char *buf, size_t cap, uint64_t bytes) {
    if (bytes >= (1ull << 30))
        snprintf(buf, cap, "%.1f GiB", bytes / 1073741824.0);
    else
        snprintf(buf, cap, "%.0f MiB", bytes / 1048576.0);
}

static void print_text(const mw_device_info *devs, int count, int selected, const char *origin) {
    int platform = -1;
    for (int i = 0; i < count; i++) {
        const mw_device_info *d = &devs[i];
        if (d->platform_index != platform) {
            platform = d->platform_index;
            printf("%sPlatform #%d: %s (%s)\n", i ? "\n" : "", platform, d->platform_name,
                   d->platform_version);
        }
        char mem[32];
        format_bytes(mem, sizeof mem, d->global_mem_bytes);
        printf(" `-- %c %d:%d  %s\n", i == selected ? '*' : ' ', d->platform_index, d->device_index,
               d->name);
        printf("          %s, %s, %u compute units, %s, %s, fp16 %s, fp64 %s\n",
               mw_device_type_name(d->type), d->vendor, (unsigned)d->compute_units, mem,
               d->opencl_c_version, d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
    }
    if (selected >= 0) printf("\n* = selected (%s)\n", origin);
}

static int print_json(const mw_device_info *devs, int count, int selected) {
    cJSON *array = cJSON_CreateArray();
    if (!array) return MW_EXIT_FAILURE;
    for (int i = 0; i < count; i++) {
        const mw_device_info *d = &devs[i];
        char index[32];
        snprintf(index, sizeof index, "%d:%d", d->platform_index, d->device_index);
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            cJSON_Delete(array);
            return MW_EXIT_FAILURE;
        }
        cJSON_AddItemToArray(array, o);
        bool ok = cJSON_AddStringToObject(o, "index", index) &&
                  cJSON_AddStringToObject(o, "platform", d->platform_name) &&
                  cJSON_AddStringToObject(o, "name", d->name) &&
                  cJSON_AddStringToObject(o, "vendor", d->vendor) &&
                  cJSON_AddStringToObject(o, "type", mw_device_type_name(d->type)) &&
                  cJSON_AddNumberToObject(o, "compute_units", d->compute_units) &&
                  /* a double holds byte counts exactly up to 2^53 (8 PiB) */
                  cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem_bytes) &&
                  cJSON_AddStringToObject(o, "opencl_c_version", d->opencl_c_version) &&
                  cJSON_AddBoolToObject(o, "fp16", d->fp16) &&
                  cJSON_AddBoolToObject(o, "fp64", d->fp64) &&
                  cJSON_AddBoolToObject(o, "default", i == selected);
        if (!ok) {
            cJSON_Delete(array);
            return MW_EXIT_FAILURE;
        }
    }
    char *text = cJSON_Print(array);
    cJSON_Delete(array);
    if (!text) return MW_EXIT_FAILURE;
    puts(text);
    cJSON_free(text);
    return MW_EXIT_OK;
}

int mw_cmd_devices(int argc, char **argv) {
    bool json = false;
    const char *spec = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            spec = argv[++i];
        } else if (strncmp(argv[i], "--device=", 9) == 0) {
            spec = argv[i] + 9;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            devices_usage(stdout);
            return MW_EXIT_OK;
        } else {
            fprintf(stderr, "memwrap devices: unexpected argument '%s'\n\n", argv[i]);
            devices_usage(stderr);
            return MW_EXIT_USAGE;
        }
    }

    mw_device_info *devs = NULL;
    int count = 0;
    if (mw_devices_list(&devs, &count) != MW_OK) {
        fprintf(stderr, "memwrap devices: %s\n", mw_error_message());
        return MW_EXIT_FAILURE;
    }

    char origin[320];
    const char *env = getenv("MEMWRAP_DEVICE");
    if (spec && *spec)
        snprintf(origin, sizeof origin, "--device '%s'", spec);
    else if (env && *env)
        snprintf(origin, sizeof origin, "MEMWRAP_DEVICE='%s'", env);
    else
        snprintf(origin, sizeof origin,
                 "default: the first GPU, else the first device; choose with --device or "
                 "MEMWRAP_DEVICE");

    /* A spec that matches nothing still gets the listing (it is what the user needs to fix
     * the spec), then the error and exit status 1. */
    int selected = -1;
    bool bad_spec = mw_devices_select(devs, count, spec, &selected) != MW_OK;
    char error[2048] = "";
    if (bad_spec) {
        snprintf(error, sizeof error, "%s", mw_error_message());
        selected = -1;
    }

    int rc = MW_EXIT_OK;
    if (json)
        rc = print_json(devs, count, selected);
    else
        print_text(devs, count, selected, origin);
    free(devs);
    if (rc != MW_EXIT_OK) {
        fprintf(stderr, "memwrap devices: out of memory formatting JSON\n");
        return rc;
    }
    if (bad_spec) {
        fprintf(stderr, "memwrap devices: %s\n", error);
        return MW_EXIT_FAILURE;
    }
    return MW_EXIT_OK;
}
