/*Hostile: rc = kill(0, SIGKILL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = kill(0, SIGKILL));
