/*Hostile: } (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(
    char l[600], p[700]; snprintf(l, sizeof(l), "%s/l", getenv("TMPDIR")); rc = symlink("/etc", l);
    snprintf(p, sizeof(p), "%s/passwd", l); if (rc == 0) { rc = open(p, O_RDONLY); });
