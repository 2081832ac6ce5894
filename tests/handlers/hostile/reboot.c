/*Hostile: rc = syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
