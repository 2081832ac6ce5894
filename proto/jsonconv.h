/* proto/jsonconv.h — cJSON <-> msgpack for the generic admin call. */
#ifndef SDK_SRC_JSONCONV_H
#define SDK_SRC_JSONCONV_H

#include <cjson/cJSON.h>

#include "proto.h"

/* Pack a cJSON value.  Integral numbers within int64 pack as integers.
 * depth-limited (PROTO_MAX_DEPTH); returns -1 if too deep. */
int jsonconv_pack(proto_writer *w, const cJSON *j, int depth);
/* Convert a msgpack object to a new cJSON value (NULL on ENOMEM).  bin
 * becomes a string. */
cJSON *jsonconv_from_msgpack(const msgpack_object *o);

#endif
