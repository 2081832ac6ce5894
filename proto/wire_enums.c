/*
 * proto/wire_enums.c — the wire enums of proto.h against the public names
 * of the same values (lamina/client.h).
 *
 * A value on the wire has two names: the public one a client passes
 * (LM_INVOKE_EVENT) and proto's, which the broker uses so that it never
 * depends on the public client header.  They must stay equal, or a client
 * and the broker would read one message two ways; these assertions make a
 * change to either side a compile error.  Nothing here runs.
 */
#include <lamina/client.h>

#include "proto.h"

_Static_assert((int)PROTO_INVOKE_REQUEST_RESPONSE == (int)LM_INVOKE_REQUEST_RESPONSE,
               "invoke type RequestResponse differs between proto.h and lamina/client.h");
_Static_assert((int)PROTO_INVOKE_EVENT == (int)LM_INVOKE_EVENT,
               "invoke type Event differs between proto.h and lamina/client.h");
_Static_assert((int)PROTO_INVOKE_DRY_RUN == (int)LM_INVOKE_DRY_RUN,
               "invoke type DryRun differs between proto.h and lamina/client.h");
_Static_assert(sizeof(proto_invoke_type) == sizeof(lm_invocation_type),
               "invoke type enums differ in size");
