/*Hostile: rc = personality(READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/personality.h>
HOSTILE(rc = personality(READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE));
