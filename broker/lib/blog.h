/*
 * broker/lib/blog.h — the broker's small logger: levels, file:line, role and pid
 * prefix; the level is checked before anything is formatted.
 */
#ifndef BROKER_LOG_H
#define BROKER_LOG_H

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int blog_level;
void blog_emit(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define blog(level, ...)                                         \
    do {                                                         \
        if ((level) <= blog_level) {                             \
            blog_emit((level), __FILE__, __LINE__, __VA_ARGS__); \
        }                                                        \
    } while (0)

#endif
