/*Hostile: rc = sched_setscheduler(0, SCHED_FIFO, &sp) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sched.h>
HOSTILE(struct sched_param sp = {.sched_priority = 1}; rc = sched_setscheduler(0, SCHED_FIFO, &sp));
