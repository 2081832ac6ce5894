/* Resource: spin forever (R3); the broker's clock must end it. */
#include "hostile.h"
HOSTILE(volatile unsigned long x = 0; for (;;) { x++; });
