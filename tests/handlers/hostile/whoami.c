/* Answers the worker's pid, uid, tmp dir and its fds (for the S2/S6 checks). */
#include <dirent.h>
#include "hostile.h"
HOSTILE(rc = getpid(); if (arg[0] == 's') { usleep(1000 * atoi(arg + 1)); } errno = (int)getuid());
