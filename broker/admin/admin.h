/*
 * broker/admin/admin.h — the admin layer: every operation on functions,
 * versions, aliases and event invoke configs, run one at a time on the
 * admin thread (they touch the disk).  Calls the core and the store;
 * never a way in, never async/.
 */
#ifndef BROKER_ADMIN_ADMIN_H
#define BROKER_ADMIN_ADMIN_H

#include "core/core.h"

/* ---- admin.c ---- */
int admin_start(void);
void admin_stop(void);
/* Queue an admin request (takes ownership of msg, already decoded once). */
void admin_submit(api_ctx *actx, nng_msg *msg);

#endif
