/*Hostile: rc = open(p, O_CREAT | O_WRONLY, 0644) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(char p[600]; snprintf(p, sizeof(p), "%s/../../../etc/lamina-escape", getenv("TMPDIR"));
        rc = open(p, O_CREAT | O_WRONLY, 0644));
