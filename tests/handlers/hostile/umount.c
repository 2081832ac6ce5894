/*Hostile: rc = umount2(getenv("TMPDIR"), MNT_DETACH) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/mount.h>
HOSTILE(rc = umount2(getenv("TMPDIR"), MNT_DETACH));
