/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of chunk frames.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once with
 * cpuid) and a slicing-by-8 table otherwise.  No Debian package provides a
 * C crc32c (zlib's crc32 is the other polynomial), hence this file.
 * Thread-safe.
 */
#ifndef SLUICE_CRC32C_H
#define SLUICE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Extends <crc> (0 to start) over <n> bytes at <p>. */
uint32_t sl_crc32c(uint32_t crc, const void *p, size_t n);

/* The portable implementation, for tests. */
uint32_t sl_crc32c_sw(uint32_t crc, const void *p, size_t n);

/* True when the hardware path is in use. */
bool sl_crc32c_hw(void);

#endif
