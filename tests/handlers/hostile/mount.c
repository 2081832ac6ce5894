/*Hostile: rc = mount("none", getenv("TMPDIR"), "tmpfs", 0, NULL) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/mount.h>
HOSTILE(rc = mount("none", getenv("TMPDIR"), "tmpfs", 0, NULL));
