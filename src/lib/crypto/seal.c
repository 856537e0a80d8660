/*
 * crypto/seal.c - AES-256-GCM sealing of secrets at rest, and KEK files.
 *
 * Layer: crypto (OpenSSL EVP; util below, nothing above). A sealed blob is
 * version (0x01) || nonce (12, random) || ciphertext || tag (16). The version
 * byte is authenticated together with the caller's AAD, so neither can be
 * changed without the tag failing. Every way a blob can be wrong (short,
 * unknown version, tampered, wrong AAD, wrong KEK) gives the same
 * M2MSEC_ERR_AUTH error so the caller's answer is no oracle.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/rand.h"
#include "crypto/seal.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define SEAL_VERSION   0x01
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN   16
/* A KEK file is 64 hex digits and a newline; allow some stray whitespace, no more. */
#define KEK_FILE_MAX 256

static const char auth_failed[] = "sealed value failed authentication";

static int
check_kek(const struct m2msec_secret *kek, struct m2msec_error *err)
{
    if (kek == NULL || m2msec_secret_len(kek) != M2MSEC_KEK_LEN) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KEK must be %d bytes",
                                 M2MSEC_KEK_LEN);
    }
    return 0;
}

int
m2msec_seal(const struct m2msec_secret *kek, const uint8_t *aad, size_t aadlen,
            const struct m2msec_secret *plain, uint8_t **out, size_t *outlen,
            struct m2msec_error *err)
{
    static const uint8_t version = SEAL_VERSION;
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t *blob = NULL;
    size_t plen = 0;
    size_t bloblen = 0;
    int n = 0;
    int rv = -1;

    if (check_kek(kek, err) == -1) {
        goto out;
    }
    if (plain == NULL || (aad == NULL && aadlen != 0)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "seal: missing input");
        goto out;
    }
    plen = m2msec_secret_len(plain);
    /* OpenSSL takes int lengths; secrets are bounded far below this anyway. */
    if (aadlen > INT_MAX || plen > INT_MAX - M2MSEC_SEAL_OVERHEAD) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "seal: input too large");
        goto out;
    }
    bloblen = M2MSEC_SEAL_OVERHEAD + plen;
    blob = m2msec_malloc(bloblen);
    if (blob == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "seal: out of memory");
        goto out;
    }
    blob[0] = SEAL_VERSION;
    /* A random 96-bit nonce per seal: a KEK seals far fewer than 2^32 values. */
    if (m2msec_rand_bytes(blob + 1, SEAL_NONCE_LEN, err) == -1) {
        goto out;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "seal: allocating cipher context");
        goto out;
    }
    /* GCM's default IV length is the 12 bytes we use. */
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, m2msec_secret_bytes(kek), blob + 1) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, &version, 1) != 1 ||
        (aadlen > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1) ||
        EVP_EncryptUpdate(ctx, blob + 1 + SEAL_NONCE_LEN, &n, m2msec_secret_bytes(plain),
                          (int)plen) != 1 ||
        (size_t)n != plen || EVP_EncryptFinal_ex(ctx, blob + 1 + SEAL_NONCE_LEN + plen, &n) != 1 ||
        n != 0 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN,
                            blob + 1 + SEAL_NONCE_LEN + plen) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "seal: AES-256-GCM encryption failed");
        goto out;
    }
    *out = blob;
    *outlen = bloblen;
    blob = NULL;
    rv = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (blob != NULL) {
        m2msec_wipe(blob, bloblen);
        m2msec_free(blob);
    }
    return rv;
}

int
m2msec_unseal(const struct m2msec_secret *kek, const uint8_t *aad, size_t aadlen, const uint8_t *in,
              size_t inlen, struct m2msec_secret **out, struct m2msec_error *err)
{
    static const uint8_t version = SEAL_VERSION;
    EVP_CIPHER_CTX *ctx = NULL;
    struct m2msec_secret *plain = NULL;
    uint8_t tag[SEAL_TAG_LEN];
    size_t clen = 0;
    int n = 0;
    int rv = -1;

    memset(tag, 0, sizeof(tag));
    if (check_kek(kek, err) == -1) {
        goto out;
    }
    if ((in == NULL && inlen != 0) || (aad == NULL && aadlen != 0)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "unseal: missing input");
        goto out;
    }
    if (aadlen > INT_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "unseal: AAD too large");
        goto out;
    }
    /*
     * Shape checks (lengths and version are public) fail like a bad tag: a
     * blob we did not produce is simply not authentic. Empty secrets cannot
     * be sealed, so a blob needs at least one ciphertext byte.
     */
    if (inlen <= M2MSEC_SEAL_OVERHEAD || inlen - M2MSEC_SEAL_OVERHEAD > M2MSEC_SECRET_MAX ||
        in[0] != SEAL_VERSION) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s", auth_failed);
        goto out;
    }
    clen = inlen - M2MSEC_SEAL_OVERHEAD;
    plain = m2msec_secret_new(clen, err);
    if (plain == NULL) {
        goto out;
    }
    /* The tag control takes a non-const buffer. */
    memcpy(tag, in + 1 + SEAL_NONCE_LEN + clen, SEAL_TAG_LEN);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "unseal: allocating cipher context");
        goto out;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, m2msec_secret_bytes(kek), in + 1) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, &version, 1) != 1 ||
        (aadlen > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1) ||
        EVP_DecryptUpdate(ctx, m2msec_secret_bytes_mut(plain), &n, in + 1 + SEAL_NONCE_LEN,
                          (int)clen) != 1 ||
        (size_t)n != clen ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "unseal: AES-256-GCM decryption failed");
        goto out;
    }
    /* Final compares the tag in constant time; failure is the only authentication signal. */
    if (EVP_DecryptFinal_ex(ctx, m2msec_secret_bytes_mut(plain) + clen, &n) != 1) {
        ERR_clear_error();
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s", auth_failed);
        goto out;
    }
    *out = plain;
    plain = NULL;
    rv = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    /* Frees and cleanses whatever was decrypted before the tag check failed. */
    m2msec_secret_free(plain);
    return rv;
}

/* Write all of buf, retrying short writes and EINTR. */
static int
write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);

        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

int
m2msec_kek_create(const char *path, struct m2msec_error *err)
{
    uint8_t key[M2MSEC_KEK_LEN];
    char text[2 * M2MSEC_KEK_LEN + 2];
    int fd = -1;
    int created = 0;
    int rv = -1;

    memset(text, 0, sizeof(text));
    if (path == NULL || path[0] == '\0') {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KEK file: no path");
        goto out;
    }
    if (m2msec_rand_priv_bytes(key, sizeof(key), err) == -1) {
        goto out;
    }
    if (m2msec_hex_encode(key, sizeof(key), text, sizeof(text)) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "KEK file: hex encoding failed");
        goto out;
    }
    text[2 * M2MSEC_KEK_LEN] = '\n';
    /* O_EXCL: never overwrite an existing KEK, it would orphan every sealed value. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "creating KEK file %s", path);
        goto out;
    }
    created = 1;
    /* The umask may only narrow 0600, but make the owner's read right certain for kek_load. */
    if (fchmod(fd, 0600) == -1) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "setting mode of KEK file %s", path);
        goto out;
    }
    if (write_all(fd, text, 2 * M2MSEC_KEK_LEN + 1) == -1) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "writing KEK file %s", path);
        goto out;
    }
    if (fsync(fd) == -1) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "syncing KEK file %s", path);
        goto out;
    }
    if (close(fd) == -1) {
        fd = -1;
        m2msec_error_set(err, M2MSEC_ERR_IO, "closing KEK file %s", path);
        goto out;
    }
    fd = -1;
    rv = 0;
out:
    if (fd != -1) {
        close(fd);
    }
    /* Do not leave a partial KEK behind: the next create would refuse to replace it. */
    if (rv == -1 && created) {
        unlink(path);
    }
    m2msec_wipe(key, sizeof(key));
    m2msec_wipe(text, sizeof(text));
    return rv;
}

struct m2msec_secret *
m2msec_kek_load(const char *path, struct m2msec_error *err)
{
    struct m2msec_secret *kek = NULL;
    struct m2msec_secret *result = NULL;
    char text[KEK_FILE_MAX + 1];
    struct stat st;
    size_t len = 0;
    int fd = -1;

    if (path == NULL || path[0] == '\0') {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KEK file: no path");
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        /* NOT_FOUND lets a daemon tell "run init first" apart from an I/O error. */
        m2msec_error_set(err, errno == ENOENT ? M2MSEC_ERR_NOT_FOUND : M2MSEC_ERR_IO,
                         "opening KEK file %s", path);
        goto out;
    }
    /* fstat the descriptor we read from, so the file checked is the file used. */
    if (fstat(fd, &st) == -1) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "stat of KEK file %s", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KEK file %s is not a regular file",
                          path);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "KEK file %s has mode %04o: it must not be accessible by group or "
                          "others (chmod 600 it)",
                          path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    /* Read up to one byte more than allowed, to notice an oversized file. */
    while (len < sizeof(text) - 1) {
        ssize_t r = read(fd, text + len, sizeof(text) - 1 - len);

        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            m2msec_error_set(err, M2MSEC_ERR_IO, "reading KEK file %s", path);
            goto out;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
    }
    if (len >= KEK_FILE_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "KEK file %s is too large: expected %d hex digits", path,
                          2 * M2MSEC_KEK_LEN);
        goto out;
    }
    kek = m2msec_secret_from_hex(text, len, err);
    if (kek == NULL) {
        m2msec_error_wrap(err, "KEK file %s", path);
        goto out;
    }
    if (m2msec_secret_len(kek) != M2MSEC_KEK_LEN) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "KEK file %s holds %zu bytes, expected %d", path, m2msec_secret_len(kek),
                          M2MSEC_KEK_LEN);
        goto out;
    }
    result = kek;
    kek = NULL;
out:
    if (fd != -1) {
        close(fd);
    }
    m2msec_wipe(text, sizeof(text));
    m2msec_secret_free(kek);
    return result;
}
