/*Hostile: rc = kill(atoi(arg), SIGKILL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = kill(atoi(arg), SIGKILL));
