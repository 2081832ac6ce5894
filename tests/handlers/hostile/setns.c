/*Hostile: rc = setns(0, CLONE_NEWNET) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sched.h>
HOSTILE(rc = setns(0, CLONE_NEWNET));
