/*Hostile: rc = ioctl(0, TIOCSTI, &c) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/ioctl.h>
HOSTILE(char c = 'x'; rc = ioctl(0, TIOCSTI, &c));
