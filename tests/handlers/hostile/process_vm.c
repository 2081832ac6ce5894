/*Hostile: rc = process_vm_readv(getppid(), &l, 1, &r, 1, 0) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/uio.h>
HOSTILE(char b[8]; struct iovec l = {b, 8}, r = {(void *)0x400000, 8};
        rc = process_vm_readv(getppid(), &l, 1, &r, 1, 0));
