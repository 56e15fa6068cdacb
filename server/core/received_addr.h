#ifndef TC_SERVER_CORE_RECEIVED_ADDR_H
#define TC_SERVER_CORE_RECEIVED_ADDR_H

#include <stddef.h>
#include <stdint.h>

/* A binding's received address in binary: the registrar writes it as
 * "udp:1.2.3.4:5060" or "tcp:[2001:db8::1]:5060" (inet_ntop's text, the
 * transport first); kept as 6 or 18 bytes (address, then port, network
 * order) when formatting them gives the same text back, byte for byte. */

#define RECEIVED_ADDR_TEXT 0  /* keep the text */
#define RECEIVED_ADDR_IPV4 1  /* 6 bytes */
#define RECEIVED_ADDR_IPV6 2  /* 18 bytes */
#define RECEIVED_ADDR_MAX  64 /* the longest text, NUL included */

/* The binary form of text (len bytes, no NUL inside) for a binding of
 * transport tcp (true) or udp: writes out (18 bytes) and returns
 * RECEIVED_ADDR_IPV4 or _IPV6, or RECEIVED_ADDR_TEXT when the text is not
 * exactly what received_addr_format() would give back. */
unsigned received_addr_pack(const char *text, size_t len, int tcp, uint8_t *out);

/* The bytes of a kind (6, 18; 0 for RECEIVED_ADDR_TEXT). */
size_t received_addr_size(unsigned kind);

/* The text of a packed address into buf (RECEIVED_ADDR_MAX bytes). */
void received_addr_format(unsigned kind, const uint8_t *bytes, int tcp, char *buf);

#endif
