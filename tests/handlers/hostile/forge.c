/* Forged protocol (S5): write garbage, a 2^62 length prefix and a framed
 * fake NEXT with a foreign request id straight onto every socket fd. */
#include <sys/stat.h>
#include "hostile.h"
static void forge(int fd)
{
    static const unsigned char garbage[] = "\x00\x53\x50\x00\x00\x30\x00\x00garbage";
    unsigned char huge[9] = {0x01, 0x40, 0, 0, 0, 0, 0, 0, 0};
    /* SP/IPC frame: type 1, 8-byte length, 4-byte request id, msgpack
     * {"op":"next","result":{"rid":"00000000-0000-0000-0000-000000000000"}} */
    unsigned char fake[128];
    const char body[] = "\x82\xa2op\xa4next\xa6result\x81\xa3rid\xd9\x24"
                        "00000000-0000-0000-0000-000000000000";
    size_t bl = sizeof(body) - 1, n = 0;
    fake[n++] = 1;
    for (int i = 7; i >= 0; i--) {
        fake[n++] = (unsigned char)(((bl + 4) >> (8 * i)) & 0xff);
    }
    fake[n++] = 0x80;
    fake[n++] = 0;
    fake[n++] = 0;
    fake[n++] = 7;
    memcpy(fake + n, body, bl);
    n += bl;
    (void)!write(fd, fake, n);
    (void)!write(fd, garbage, sizeof(garbage) - 1);
    (void)!write(fd, huge, sizeof(huge));
}
HOSTILE(for (int fd = 3; fd < 64; fd++) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
        forge(fd);
        rc++;
    }
});
