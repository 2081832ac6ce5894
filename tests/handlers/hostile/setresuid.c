/*Hostile: rc = setresuid(0, 0, 0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = setresuid(0, 0, 0));
