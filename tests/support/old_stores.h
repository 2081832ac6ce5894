/*
 * tests/support/old_stores.h — the stores older brokers left behind, for
 * migration tests: their tables as SQL (history: broker/store/store.c's head
 * comment), and a fresh state dir holding a store made from such SQL.
 */
#ifndef TESTS_SUPPORT_OLD_STORES_H
#define TESTS_SUPPORT_OLD_STORES_H

/* Schema 2: functions (with dead_letter, last_version), versions, aliases. */
#define LT_SCHEMA2_TABLES                                                                  \
    "PRAGMA journal_mode=WAL;"                                                             \
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"                        \
    "CREATE TABLE functions(name TEXT PRIMARY KEY, code_sha256 TEXT NOT NULL,"             \
    "  code_size INTEGER NOT NULL, timeout INTEGER NOT NULL, memory INTEGER NOT NULL,"     \
    "  env TEXT NOT NULL DEFAULT '{}', description TEXT NOT NULL DEFAULT '',"              \
    "  last_modified TEXT NOT NULL, dead_letter TEXT NOT NULL DEFAULT '',"                 \
    "  last_version INTEGER NOT NULL DEFAULT 0);"                                          \
    "CREATE TABLE versions(name TEXT NOT NULL, version INTEGER NOT NULL,"                  \
    "  code_sha256 TEXT NOT NULL, code_size INTEGER NOT NULL, timeout INTEGER NOT NULL,"   \
    "  memory INTEGER NOT NULL, env TEXT NOT NULL DEFAULT '{}',"                           \
    "  description TEXT NOT NULL DEFAULT '', dead_letter TEXT NOT NULL DEFAULT '',"        \
    "  last_modified TEXT NOT NULL, PRIMARY KEY(name, version));"                          \
    "CREATE TABLE aliases(name TEXT NOT NULL, alias TEXT NOT NULL, version TEXT NOT NULL," \
    "  extra_version TEXT NOT NULL DEFAULT '', extra_weight REAL NOT NULL DEFAULT 0,"      \
    "  description TEXT NOT NULL DEFAULT '', revision_id TEXT NOT NULL,"                   \
    "  PRIMARY KEY(name, alias));"

#include <stddef.h>

/* A new state dir (<tmp>/state, 0700, removed with the broker's state by
 * lt_broker_stop) whose lamina.db is what `sql` makes; its paths go to
 * state and db_path.  Asserts on failure. */
void lt_old_store(const char *sql, char *state, size_t state_len, char *db_path, size_t db_len);

/* Run sql on the store at db_path (no broker on it).  Asserts success. */
void lt_store_exec(const char *db_path, const char *sql);

#endif
