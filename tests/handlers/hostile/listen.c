/*Hostile: rc = listen(3, 1) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/socket.h>
HOSTILE(rc = listen(3, 1));
