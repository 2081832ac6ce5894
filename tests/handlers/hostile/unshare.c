/*Hostile: rc = unshare(CLONE_NEWUSER) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sched.h>
HOSTILE(rc = unshare(CLONE_NEWUSER));
