/*Hostile: } rc = p (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(pid_t p = fork(); if (p == 0) { _exit(0); } rc = p);
