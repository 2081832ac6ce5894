/* proto/jsonconv.h — cJSON <-> msgpack for the generic admin call. */
#ifndef PROTO_JSONCONV_H
#define PROTO_JSONCONV_H

#include <cjson/cJSON.h>

#include "proto.h"

/* Pack a cJSON value that sits inside `depth` containers of the message.
 * Integral numbers within int64 pack as integers.  Returns -1 if it would
 * nest deeper than the pre-validator allows (PROTO_MAX_DEPTH containers). */
int jsonconv_pack(proto_writer *w, const cJSON *j, int depth);
/* Convert a msgpack object to a new cJSON value (NULL on ENOMEM, or when
 * nested deeper than PROTO_MAX_DEPTH).  bin becomes a string; a string is
 * cut at its first NUL (cJSON's strings are C strings). */
cJSON *jsonconv_from_msgpack(const msgpack_object *o);
/* Parse JSON text text[0..len) into *out (the caller deletes it).  Text
 * with a \u0000 escape in a string is refused: cJSON would cut the string
 * there.  LM_OK or LM_E_INVALID_PARAMETER. */
int jsonconv_parse(const char *text, size_t len, cJSON **out, lm_error *e);

#endif
