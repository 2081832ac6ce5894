/*Hostile: rc = setrlimit(RLIMIT_NOFILE, &r) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/resource.h>
HOSTILE(struct rlimit r; getrlimit(RLIMIT_NOFILE, &r); r.rlim_cur = r.rlim_max = r.rlim_max * 2;
        rc = setrlimit(RLIMIT_NOFILE, &r));
