/*Hostile: rc = kill(-1, SIGKILL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = kill(-1, SIGKILL));
