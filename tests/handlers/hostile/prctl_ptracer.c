/*Hostile: rc = prctl(PR_SET_PTRACER, -1, 0, 0, 0) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/prctl.h>
HOSTILE(rc = prctl(PR_SET_PTRACER, -1, 0, 0, 0));
