// A throwaway PKI for osslocal's --tls-self-signed: a CA and a server certificate
// it signs, written as PEM files. Test infrastructure, not a certificate authority:
// P-256 keys, SHA-256 signatures, the extensions TLS clients check.
#include "COpenSSL.h"
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ex == NULL) return 0;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok;
}

/* A certificate for `key` named `cn`, signed by `issuer`/`issuer_key` (itself when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial,
                       long valid_from, long valid_to, const char *san) {
    X509 *c = X509_new();
    if (c == NULL) return NULL;
    int ok = X509_set_version(c, 2)
        && ASN1_INTEGER_set(X509_get_serialNumber(c), serial)
        && X509_gmtime_adj(X509_getm_notBefore(c), valid_from) != NULL
        && X509_gmtime_adj(X509_getm_notAfter(c), valid_to) != NULL
        && X509_set_pubkey(c, key)
        && X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0)
        && X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(c));
    X509 *signer = issuer ? issuer : c;
    if (ok && san == NULL) {
        ok = add_ext(c, signer, NID_basic_constraints, "critical,CA:TRUE")
            && add_ext(c, signer, NID_key_usage, "critical,keyCertSign,cRLSign")
            && add_ext(c, signer, NID_subject_key_identifier, "hash");
    } else if (ok) {
        ok = add_ext(c, signer, NID_basic_constraints, "critical,CA:FALSE")
            && add_ext(c, signer, NID_key_usage, "critical,digitalSignature,keyEncipherment")
            && add_ext(c, signer, NID_ext_key_usage, "serverAuth")
            && add_ext(c, signer, NID_subject_alt_name, san)
            && add_ext(c, signer, NID_authority_key_identifier, "keyid");
    }
    if (ok) ok = X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static int write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return 0;
    FILE *f = fopen(path, "w");
    if (f == NULL) return 0;
    int ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok;
}

int COpenSSL_write_test_pki(const char *dir, const char *san, long valid_from, long valid_to, char *err, size_t err_len) {
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *server_key = EVP_EC_gen("P-256");
    X509 *ca = NULL, *server = NULL;
    const char *failed = NULL;
    if (ca_key == NULL || server_key == NULL) failed = "cannot make keys";
    if (!failed && (ca = make_cert(ca_key, "osslocal test CA", NULL, NULL, 1, -3600, valid_to, NULL)) == NULL)
        failed = "cannot make the CA certificate";
    if (!failed && (server = make_cert(server_key, "localhost", ca, ca_key, 2, valid_from, valid_to, san)) == NULL)
        failed = "cannot make the server certificate (is the subject alternative name well formed?)";
    if (!failed && !(write_pem(dir, "ca.pem", ca, NULL) && write_pem(dir, "server.pem", server, NULL)
                     && write_pem(dir, "server-key.pem", NULL, server_key)))
        failed = "cannot write the PEM files";
    if (failed) snprintf(err, err_len, "%s", failed);
    X509_free(ca);
    X509_free(server);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(server_key);
    return failed ? -1 : 0;
}
