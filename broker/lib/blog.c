/* broker/lib/blog.c — see blog.h.  One line per call, written with one write(2). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blog.h"

int blog_level = LOG_INFO;

static const char *level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void blog_emit(int level, const char *file, int line, const char *fmt, ...)
{
    char buf[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    const char *base = strrchr(file, '/');
    int n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld broker[%d] %s %s:%d: ", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid(), level_names[level],
                     base != NULL ? base + 1 : file, line);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (len > sizeof(buf) - 2) {
        len = sizeof(buf) - 2;
    }
    buf[len++] = '\n';
    ssize_t w = write(2, buf, len);
    (void)w;
}
