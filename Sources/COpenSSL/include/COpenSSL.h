// COpenSSL: the parts of libcrypto that OSSCrypto uses (EVP digests, HMAC,
// base64), and the test PKI osslocal writes for --tls-self-signed. Only
// non-deprecated OpenSSL 3 entry points.
#ifndef COPENSSL_H
#define COPENSSL_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stddef.h>

/// One-shot HMAC. `md_name` is "SHA1" or "SHA256". Returns the MAC length, 0 on error.
size_t COpenSSL_hmac(const char *md_name, const void *key, size_t key_len,
                     const void *data, size_t data_len, unsigned char *out, size_t out_cap);

/// Writes `ca.pem`, `server.pem` and `server-key.pem` into `dir`: a CA and a server
/// certificate it signed for `san` ("DNS:localhost,IP:127.0.0.1"), valid from
/// `valid_from` to `valid_to` seconds from now. 0 on success; -1 with a message in `err`.
int COpenSSL_write_test_pki(const char *dir, const char *san, long valid_from, long valid_to, char *err, size_t err_len);

#endif
