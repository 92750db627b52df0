/* adler32.c - Adler-32 (RFC 1950), the checksum of opcode 0x1C (checksummed stream).
 * Written here so the extension links nothing (zlib.adler32 would need a Python call). */
#include "marshal.h"

uint32_t
evm_adler32(const unsigned char *p, Py_ssize_t n)
{
    /* 5552 is the largest block for which the sums cannot overflow 32 bits before the modulo. */
    uint32_t a = 1, b = 0;
    while (n > 0) {
        Py_ssize_t block = n < 5552 ? n : 5552;
        n -= block;
        while (block--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return (b << 16) | a;
}
