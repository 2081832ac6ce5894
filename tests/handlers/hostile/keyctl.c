/*Hostile: rc = syscall(SYS_keyctl, 1  JOIN_SESSION_KEYRING , 0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, 0));
