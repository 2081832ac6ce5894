/*Hostile: rc = kill(getppid(), SIGKILL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = kill(getppid(), SIGKILL));
