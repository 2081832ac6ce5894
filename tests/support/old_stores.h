/*
 * tests/support/old_stores.h — the tables older brokers created, as SQL, so
 * migration tests can build the stores those brokers left behind.  History:
 * broker/store.c's head comment.
 */
#ifndef TESTS_SUPPORT_OLD_STORES_H
#define TESTS_SUPPORT_OLD_STORES_H

/* Schema 2: functions (with dead_letter, last_version), versions, aliases. */
#define LT_SCHEMA2_TABLES                                                                          \
    "PRAGMA journal_mode=WAL;"                                                                     \
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"                                \
    "CREATE TABLE functions(name TEXT PRIMARY KEY, code_sha256 TEXT NOT NULL,"                     \
    "  code_size INTEGER NOT NULL, timeout INTEGER NOT NULL, memory INTEGER NOT NULL,"             \
    "  env TEXT NOT NULL DEFAULT '{}', description TEXT NOT NULL DEFAULT '',"                      \
    "  last_modified TEXT NOT NULL, dead_letter TEXT NOT NULL DEFAULT '',"                         \
    "  last_version INTEGER NOT NULL DEFAULT 0);"                                                  \
    "CREATE TABLE versions(name TEXT NOT NULL, version INTEGER NOT NULL,"                          \
    "  code_sha256 TEXT NOT NULL, code_size INTEGER NOT NULL, timeout INTEGER NOT NULL,"           \
    "  memory INTEGER NOT NULL, env TEXT NOT NULL DEFAULT '{}',"                                   \
    "  description TEXT NOT NULL DEFAULT '', dead_letter TEXT NOT NULL DEFAULT '',"                \
    "  last_modified TEXT NOT NULL, PRIMARY KEY(name, version));"                                  \
    "CREATE TABLE aliases(name TEXT NOT NULL, alias TEXT NOT NULL, version TEXT NOT NULL,"         \
    "  extra_version TEXT NOT NULL DEFAULT '', extra_weight REAL NOT NULL DEFAULT 0,"              \
    "  description TEXT NOT NULL DEFAULT '', revision_id TEXT NOT NULL,"                           \
    "  PRIMARY KEY(name, alias));"

#endif
