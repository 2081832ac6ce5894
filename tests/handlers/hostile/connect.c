/*Hostile: rc = connect(1, (struct sockaddr *)&a, sizeof(a)) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/socket.h>
#include <sys/un.h>
HOSTILE(struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%.100s", arg);
        rc = connect(1, (struct sockaddr *)&a, sizeof(a)));
