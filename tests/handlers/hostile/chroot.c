/*Hostile: rc = chroot(getenv("TMPDIR")) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = chroot(getenv("TMPDIR")));
