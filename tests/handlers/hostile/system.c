/*Hostile: } (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = system("id"); if (rc == -1 && errno == 0) { errno = EPERM; });
