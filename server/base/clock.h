#ifndef TC_SERVER_BASE_CLOCK_H
#define TC_SERVER_BASE_CLOCK_H

#include <stdint.h>

/* The wall clock every layer stamps decisions, expiries and versions with.
 * It lives in base/ so that the core, the registrar and the ports read the
 * same clock without reaching up into the composition root. */

/* Wall clock (CLOCK_REALTIME) in ms since the epoch. Any thread. */
uint64_t tc_now_ms(void);

#endif
