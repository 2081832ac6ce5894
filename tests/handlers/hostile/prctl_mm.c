/*Hostile: rc = prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 0) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/prctl.h>
HOSTILE(rc = prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 0));
