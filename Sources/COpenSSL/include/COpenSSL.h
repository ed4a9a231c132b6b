// COpenSSL: the parts of libcrypto that OSSCrypto uses (EVP digests, HMAC,
// base64). Only non-deprecated OpenSSL 3 entry points.
#ifndef COPENSSL_H
#define COPENSSL_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stddef.h>

/// One-shot HMAC. `md_name` is "SHA1" or "SHA256". Returns the MAC length, 0 on error.
size_t COpenSSL_hmac(const char *md_name, const void *key, size_t key_len,
                     const void *data, size_t data_len, unsigned char *out, size_t out_cap);

#endif
