/*Hostile: rc = bind(1, (struct sockaddr *)&a, sizeof(a)) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/socket.h>
#include <sys/un.h>
HOSTILE(struct sockaddr_un a = {.sun_family = AF_UNIX};
        rc = bind(1, (struct sockaddr *)&a, sizeof(a)));
