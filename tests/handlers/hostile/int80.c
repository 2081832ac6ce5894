/*Hostile: rc = r (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(long r; const char *sh = "/bin/sh"; __asm__ volatile("int $0x80"
                                                             : "=a"(r)
                                                             : "a"(11), "b"(sh), "c"(0), "d"(0)
                                                             : "memory");
        rc = r);
