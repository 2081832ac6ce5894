/*
 * runtime/loader.c — load a handler .so the way redis loads modules:
 * dlopen(RTLD_NOW|RTLD_LOCAL), one named entry point, a versioned ABI stamp,
 * dlerror() reported, dlclose on every failure path.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "runtime.h"

int loader_open(rt_handler *h, const char *path, char *why, size_t whylen)
{
    memset(h, 0, sizeof(*h));
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *e = dlerror();
        snprintf(why, whylen, "cannot load handler: %s", e != NULL ? e : "unknown error");
        return -1;
    }
    const uint32_t *abi = dlsym(dl, LM_SYM_ABI);
    if (abi == NULL) {
        snprintf(why, whylen,
                 "handler has no Lamina ABI stamp (symbol %s missing): build it with "
                 "LM_HANDLER(fn) from <lamina/handler.h>",
                 LM_SYM_ABI);
        goto fail;
    }
    if (*abi != LM_ABI_VERSION) {
        snprintf(why, whylen,
                 "handler was built against Lamina SDK ABI version %u, this runtime supports "
                 "version %u: rebuild it against the installed SDK",
                 *abi, LM_ABI_VERSION);
        goto fail;
    }
    h->handler = (lm_handler_fn)dlsym(dl, LM_SYM_HANDLER);
    if (h->handler == NULL) {
        snprintf(why, whylen, "handler entry point %s not found: declare LM_HANDLER(fn)",
                 LM_SYM_HANDLER);
        goto fail;
    }
    h->init = (lm_init_fn)dlsym(dl, LM_SYM_INIT);
    h->dl = dl;
    return 0;
fail:
    dlclose(dl);
    return -1;
}
