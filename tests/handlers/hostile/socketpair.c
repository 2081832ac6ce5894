/*Hostile: rc = socketpair(AF_UNIX, SOCK_STREAM, 0, sv) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/socket.h>
HOSTILE(int sv[2]; rc = socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
