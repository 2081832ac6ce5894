/* Test handler: what a constructor and LM_INIT may do before the seal.
 * Records the effective uid seen by a constructor and by init, and the
 * errno of init's attempt to open the file named by $PROBE (the broker's
 * store, in its 0700 state dir). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <lamina/handler.h>

static long ctor_uid = -1, init_uid = -1;
static int open_errno = -1;

__attribute__((constructor)) static void probe_ctor(void)
{
    ctor_uid = (long)geteuid();
}

static int setup(const lm_env *env)
{
    (void)env;
    init_uid = (long)geteuid();
    const char *p = getenv("PROBE");
    int fd = p != NULL ? open(p, O_RDONLY) : -1;
    open_errno = fd >= 0 ? 0 : errno;
    if (fd >= 0) {
        close(fd);
    }
    return 0;
}
LM_INIT(setup);

static int report(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res, "{\"ctor_uid\":%ld,\"init_uid\":%ld,\"open_errno\":%d}",
                              ctor_uid, init_uid, open_errno);
}
LM_HANDLER(report);
