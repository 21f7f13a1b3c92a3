/* A config's "encoders": layer lists (memwrap/layers.h) read from and written to JSON. */
#ifndef MEMWRAP_IO_ENCODER_JSON_H
#define MEMWRAP_IO_ENCODER_JSON_H

#include <cjson/cJSON.h>

#include "memwrap/layers.h"

/* Reads the array of layer objects `v` into *out (name set by the caller). `where` starts
 * every message ("cfg.json: key 'encoders.tiny'"), followed by the layer's index path. */
mw_status mw_layer_list_from_json(const cJSON *v, const char *where, mw_layer_list *out);

/* The list as the array mw_layer_list_from_json reads back to the same list (NULL when out
 * of memory). */
cJSON *mw_layer_list_to_json(const mw_layer_list *l);

#endif
