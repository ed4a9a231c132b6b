// CRC-64/XZ by folding: eight 16-byte lanes advance 128 bytes per step by
// carry-less multiplication with x^1023 and x^1087 mod P (bit-reflected), then
// fold into one lane; the caller finishes those 16 bytes with its table. The
// method is Intel's ("Fast CRC Computation for Generic Polynomials Using
// PCLMULQDQ"); the constants are K_n = reverse64(x^n mod P), P = x^64 +
// 0x42F0E1EBA9EA3693, computed by the script in the comment at the end.
// OSSCrypto checks the result against the table-driven CRC in its tests.
#include "ccrc64.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

// Distance 128k bits (k = 1...8): the factors for a lane's high and low halves.
static const uint64_t K[8][2] = {
    {0xdabe95afc7875f40ULL, 0xe05dd497ca393ae4ULL}, /* 128 bits: x^127, x^191 */
    {0x3be653a30fe1af51ULL, 0x60095b008a9efa44ULL}, /* 256 bits: x^255, x^319 */
    {0x69a35d91c3730254ULL, 0xb5ea1af9c013aca4ULL}, /* 384 bits: x^383, x^447 */
    {0x081f6054a7842df4ULL, 0x6ae3efbb9dd441f3ULL}, /* 512 bits: x^511, x^575 */
    {0x0e31d519421a63a5ULL, 0x2e30203212cac325ULL}, /* 640 bits: x^639, x^703 */
    {0xe4ce2cd55fea0037ULL, 0x2fe3fd2920ce82ecULL}, /* 768 bits: x^767, x^831 */
    {0x947874de595052cbULL, 0x9e735cb59b4724daULL}, /* 896 bits: x^895, x^959 */
    {0xd7d86b2af73de740ULL, 0x8757d71d4fcc1000ULL}, /* 1024 bits: x^1023, x^1087 */
};

int CCRC64_supported(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_PCLMUL) != 0;
}

__attribute__((target("pclmul,sse2")))
static inline __m128i fold16(__m128i x, const uint64_t k[2]) {
    __m128i f = _mm_set_epi64x((long long)k[0], (long long)k[1]);
    return _mm_xor_si128(_mm_clmulepi64_si128(x, f, 0x11), _mm_clmulepi64_si128(x, f, 0x00));
}

__attribute__((target("pclmul,sse2")))
void CCRC64_fold(uint64_t crc, const uint8_t *p, size_t blocks, uint8_t out[16]) {
    __m128i x[8];
    // Safety: the caller passes `blocks` * 128 readable bytes at p; loads are unaligned.
    for (int i = 0; i < 8; i++) x[i] = _mm_loadu_si128((const __m128i *)(p + 16 * i));
    // The register so far joins the first 8 bytes (a reflected CRC's register is
    // XORed into the bytes it is about to take in).
    x[0] = _mm_xor_si128(x[0], _mm_set_epi64x(0, (long long)crc));
    for (size_t n = 1; n < blocks; n++) {
        p += 128;
        for (int i = 0; i < 8; i++)
            x[i] = _mm_xor_si128(fold16(x[i], K[7]), _mm_loadu_si128((const __m128i *)(p + 16 * i)));
    }
    __m128i r = x[7];
    for (int i = 0; i < 7; i++) r = _mm_xor_si128(r, fold16(x[i], K[6 - i]));
    _mm_storeu_si128((__m128i *)out, r);
}

#else

int CCRC64_supported(void) { return 0; }
void CCRC64_fold(uint64_t crc, const uint8_t *p, size_t blocks, uint8_t out[16]) {
    (void)crc; (void)p; (void)blocks; (void)out;
}

#endif

/* The constants:
   python3 -c '
   P = 0x42F0E1EBA9EA3693
   def xn(n):
       r = 1
       for _ in range(n):
           r <<= 1
           if r >> 64: r = (r ^ P) & (2**64 - 1)
       return r
   rev = lambda x: int(f"{x:064b}"[::-1], 2)
   for k in range(1, 9): print(hex(rev(xn(128*k - 1))), hex(rev(xn(128*k + 63))))'
*/
