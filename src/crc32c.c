/*
 * crc32c.c - CRC-32C with an SSE4.2 fast path (see crc32c.h).
 */
#include <string.h>

#include "crc32c.h"
#include "sluice/banned.h"

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static int crc32c_state; /* 0 unknown, 1 software, 2 hardware */

static void crc32c_init_table(void)
{
    uint32_t i, j, c;

    for (i = 0; i < 256; i++) {
        c = i;
        for (j = 0; j < 8; j++) {
            c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
        }
        crc32c_table[0][i] = c;
    }
    for (i = 0; i < 256; i++) {
        c = crc32c_table[0][i];
        for (j = 1; j < 8; j++) {
            c = crc32c_table[0][c & 0xff] ^ (c >> 8);
            crc32c_table[j][i] = c;
        }
    }
}

uint32_t sl_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t w;

    if (__atomic_load_n(&crc32c_state, __ATOMIC_ACQUIRE) == 0) {
        crc32c_init_table();
    }
    crc = ~crc;
    while (n >= 8) {
        memcpy(&w, s, 8);
        w ^= crc;
        crc = crc32c_table[7][w & 0xff] ^ crc32c_table[6][(w >> 8) & 0xff] ^
              crc32c_table[5][(w >> 16) & 0xff] ^
              crc32c_table[4][(w >> 24) & 0xff] ^
              crc32c_table[3][(w >> 32) & 0xff] ^
              crc32c_table[2][(w >> 40) & 0xff] ^
              crc32c_table[1][(w >> 48) & 0xff] ^ crc32c_table[0][w >> 56];
        s += 8;
        n -= 8;
    }
    while (n-- > 0) {
        crc = crc32c_table[0][(crc ^ *s++) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t c = ~crc, w;

    while (n >= 8) {
        memcpy(&w, s, 8);
        c = __builtin_ia32_crc32di(c, w);
        s += 8;
        n -= 8;
    }
    while (n-- > 0) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *s++);
    }
    return ~(uint32_t)c;
}

static bool crc32c_cpu_has_sse42(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t crc32c_hw(uint32_t crc, const void *p, size_t n)
{
    return sl_crc32c_sw(crc, p, n);
}

static bool crc32c_cpu_has_sse42(void)
{
    return false;
}
#endif

static int crc32c_select(void)
{
    int s = __atomic_load_n(&crc32c_state, __ATOMIC_ACQUIRE);

    if (s != 0) {
        return s;
    }
    crc32c_init_table();
    s = crc32c_cpu_has_sse42() ? 2 : 1;
    __atomic_store_n(&crc32c_state, s, __ATOMIC_RELEASE);
    return s;
}

uint32_t sl_crc32c(uint32_t crc, const void *p, size_t n)
{
    if (crc32c_select() == 2) {
        return crc32c_hw(crc, p, n);
    }
    return sl_crc32c_sw(crc, p, n);
}

bool sl_crc32c_hw(void)
{
    return crc32c_select() == 2;
}
