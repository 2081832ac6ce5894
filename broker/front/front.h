/*
 * broker/front/front.h — the ways in.  Today one: the api socket (api.c).
 * Front ends decode a request, look its op up and call the layers below;
 * nothing below includes this header.
 */
#ifndef BROKER_FRONT_FRONT_H
#define BROKER_FRONT_FRONT_H

#include "core/core.h"

/* ---- api.c ---- */
int api_start(void);
void api_stop(void);
/* Send msg as the reply on actx (takes ownership of msg; frees it if the
 * send fails).  Callable from any thread, without B.mtx held or with it. */
void api_reply(api_ctx *actx, nng_msg *msg);
void api_reply_error(api_ctx *actx, const lm_error *e);

#endif
