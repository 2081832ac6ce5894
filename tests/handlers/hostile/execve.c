/*Hostile: rc = execve("/bin/sh", av, NULL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(char *av[] = {"/bin/sh", "-c", "id", NULL}; rc = execve("/bin/sh", av, NULL));
