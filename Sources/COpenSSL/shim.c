#include "COpenSSL.h"

size_t COpenSSL_hmac(const char *md_name, const void *key, size_t key_len,
                     const void *data, size_t data_len, unsigned char *out, size_t out_cap) {
    const EVP_MD *md = EVP_get_digestbyname(md_name);
    unsigned int len = 0;
    if (md == NULL || out_cap < (size_t)EVP_MD_get_size(md)) return 0;
    /* HMAC() with a zero-length key needs a non-NULL pointer. */
    static const unsigned char empty = 0;
    if (HMAC(md, key_len ? key : &empty, (int)key_len, data, data_len, out, &len) == NULL) return 0;
    return len;
}
