/*Hostile: rc = setuid(0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = setuid(0));
