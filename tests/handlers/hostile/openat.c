/*Hostile: rc = openat(AT_FDCWD, arg, O_RDONLY) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = openat(AT_FDCWD, arg, O_RDONLY));
