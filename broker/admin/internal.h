/*
 * broker/admin/internal.h — what the admin layer's files share: the reply
 * pieces (FunctionConfiguration, AliasConfiguration, an empty body) and
 * the request readers (names, text, RevisionId, code, Environment, ranges)
 * of admin/common.c.  Admin thread only.
 */
#ifndef BROKER_ADMIN_INTERNAL_H
#define BROKER_ADMIN_INTERNAL_H

#include "admin/admin.h"

void adm_write_config(proto_writer *w, const fn_config *c, uint32_t extra);
int adm_bad(lm_error *e, const char *fmt, const char *field);
int adm_get_qualified(const msgpack_object *args, char name[NAME_MAX_LEN + 1], char qual[130],
                      lm_error *e);
int adm_get_name(const msgpack_object *args, char name[NAME_MAX_LEN + 1], lm_error *e);
int adm_get_text(const msgpack_object *args, const char *key, size_t max, char **out, lm_error *e);
int adm_get_revision(const msgpack_object *args, char buf[65], const char **want, lm_error *e);
int adm_check_revision(const char *want, const char *current, lm_error *e);
int adm_get_dead_letter(const msgpack_object *args, char **out, bool *present, lm_error *e);
int adm_check_code(const void *code, size_t len, lm_error *e);
int adm_get_env(const msgpack_object *args, char **out, lm_error *e);
int adm_get_range(const msgpack_object *args, const char *key, int64_t lo, int64_t hi, int64_t def,
                  uint32_t *out, lm_error *e);
int adm_parse_create(const proto_doc *doc, const msgpack_object *args, fn_config **out,
                     const void **code, size_t *code_len, lm_error *e);
int adm_store_code(fn_config *c, const void *code, size_t len, lm_error *e);
int adm_not_found(lm_error *e, const char *name, const char *qual);
void adm_write_alias(proto_writer *w, const char *fname, const fn_alias *a);
nng_msg *adm_empty_reply(void);
/* get's concurrency fields (concurrency.c; B.mtx held): how many keys, then
 * them — NAME: Concurrency and ProvisionedConcurrencyConfigs when set;
 * NAME:Q: that qualifier's ProvisionedConcurrency. */
int adm_concurrency_keys(function *f, const char *qual);
void adm_write_concurrency(proto_writer *w, function *f, const char *qual);
/* Drop name's URLs (qual NULL: all of them) from the table after their
 * rows went (function or alias deleted; urls.c). */
void adm_urls_forget(const char *name, const char *qual);

#endif
