/* Hostile (issue 10): a constructor runs another program.  The load layer
 * traps execve: the worker dies during init, reporting the name. */
#include "hostile.h"

__attribute__((constructor)) static void escape(void)
{
    char *argv[] = {"/bin/true", NULL};
    execve("/bin/true", argv, NULL);
}

HOSTILE(rc = 0);
