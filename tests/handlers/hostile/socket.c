/*Hostile: } (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/socket.h>
HOSTILE(rc = socket(atoi(arg), SOCK_STREAM, 0);
        if (rc < 0 && errno != 0) { rc = socket(atoi(arg), SOCK_DGRAM, 0); });
