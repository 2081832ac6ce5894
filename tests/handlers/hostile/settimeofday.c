/*Hostile: rc = settimeofday(&tv, NULL) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/time.h>
HOSTILE(struct timeval tv = {0, 0}; rc = settimeofday(&tv, NULL));
