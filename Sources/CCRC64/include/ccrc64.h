// Carry-less multiplication (PCLMULQDQ) folding for CRC-64/XZ, used by OSSCrypto.
#ifndef CCRC64_H
#define CCRC64_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has PCLMULQDQ (x86-64), else 0: then CCRC64_fold must not be called.
int CCRC64_supported(void);

/// Folds `blocks` (>= 1) blocks of 128 bytes at `p`, with the raw (not inverted) CRC
/// register `crc` of what came before, into 16 bytes written to `out`: the raw CRC,
/// from a zero register, of those 16 bytes equals the raw CRC of everything folded.
void CCRC64_fold(uint64_t crc, const uint8_t *p, size_t blocks, uint8_t out[16]);

#endif
