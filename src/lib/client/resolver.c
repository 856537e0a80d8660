/*
 * client/resolver.c - Entity B's PSK resolver: psk_identity -> key and binding.
 *
 * Layer: client. Composes store (the sealed cache, store/cse.c), the
 * fetchCredentials client of client/fetch.c (certificate or PSK TLS to the
 * MEF), codec and the MAF client of client/maf.c. No socket
 * or GnuTLS type leaks out: the public API hands the key to the caller's
 * buffer only, for its TLS stack.
 *
 * @spec TS-0003 8.2.2.3 (MAF-based SAEF, Association Security Handshake):
 * Entity B recognises the MAF-FQDN after the last '@', runs MAF Key
 * Retrieval, uses Kc only for SUID 32, keeps it until its expirationTime and
 * fails handshakes afterwards. @spec TS-0003 8.2.2.1 (PSK SAEF) with a Kpsa
 * provisioned through the MEF (8.3.2.1 "Use of Remotely Provisioned
 * Credential"): Entity B fetches it as Enrolment Target with SUID 22.
 *
 * Concurrency: the cache connection and the counters are shared by every
 * caller (a CSE resolves from many handshake threads): the cache under
 * `lock`, retrievals one at a time under `fetch_lock` (which also owns the
 * MAF client and its device store). A thread that waited for fetch_lock
 * looks at the cache again, so concurrent handshakes with one new identity
 * cause one retrieval.
 *
 * Two tiers: the sealed SQLite cache is the durable copy (it survives a
 * restart); in front of it an in-memory table (`hot`, under a read-write
 * lock) answers the handshakes that follow, so a cached key costs a hash
 * lookup instead of a read transaction and an AES-GCM open under the single
 * store lock. Keys there are secrets on the secure heap, wiped when an entry
 * leaves. Expiry is checked on every use in both tiers; an expired entry
 * leaves the hot table and takes the store path, which erases the row and
 * refuses (TS-0003 8.2.2.3).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "client/client_int.h"
#include "client/fetch.h"
#include "codec/keyreg_msg.h"
#include "codec/mef_msg.h"
#include "crypto/seal.h"
#include "proto/ids.h"
#include "store/store.h"
#include "tls/tls.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/time.h"

#define CSE_DB           "cse.db"
#define KPSA_MAX         64
#define PSK_MIN          16
#define PSK_MAX          64
#define EVENT_MAX        4096
#define PATH_MAX_LEN     4096
#define SUID_SAEF_LOCAL  12u /* pre-provisioned symmetric key for an SAEF */
#define SUID_SAEF_MEF    22u /* RSPF-provisioned symmetric key for an SAEF */
#define SUID_SAEF_MAF    32u /* MAF-distributed symmetric key for an SAEF */
#define CACHE_SOURCE_MAF 1u
#define CACHE_SOURCE_MEF 2u
#define HOT_BUCKETS      1024u /* power of two */
#define HOT_MAX          8192u /* entries; beyond this the store alone answers */

struct kpsa_entry {
    char *id;
    char *peer_id;
    int64_t expires; /* 0: none */
    struct m2msec_secret *key;
};

/* One key of the in-memory tier (see the head of this file). */
struct hot_entry {
    struct hot_entry *next;
    char *key_id;
    char *peer_id; /* may be NULL */
    unsigned source;
    unsigned suid;
    int64_t expires;
    struct m2msec_secret *key;
};

struct m2msec_resolver {
    pthread_rwlock_t hot_lock; /* hot, nhot */
    struct hot_entry *hot[HOT_BUCKETS];
    size_t nhot;
    pthread_mutex_t lock;       /* db */
    pthread_mutex_t fetch_lock; /* retrievals; maf and its store */
    struct m2msec_config *cfg;  /* one reference */
    struct m2msec_client *maf;  /* Entity B as MAF client; NULL without a MAF */
    struct m2msec_db *db;       /* the cache */
    char *cse_id;
    char *mef;
    char *mef_fqdn;
    char *mef_cert;
    char *mef_key;
    char *mef_ca;
    char *mef_psk_id;              /* with mef_psk: fetch over TLS-PSK instead of mef_cert */
    struct m2msec_secret *mef_psk; /* on the secure heap; wiped on free */
    struct kpsa_entry kpsa[KPSA_MAX];
    size_t nkpsa;
    m2msec_event_cb event_cb;
    void *event_arg;
    atomic_int debug_events; /* m2msec_resolver_set_event_debug */
    atomic_int in_use;       /* set by the first resolve: configuration is over */
    _Atomic uint64_t counters[M2MSEC_RESOLVER_COUNTER_MAX];
    struct m2msec_error err;
};

struct m2msec_psk_info {
    enum m2msec_psk_source source;
    unsigned suid;
    int64_t expires;
    int cache_hit;
    int has_peer;
    const char *reason;
    char key_id[M2MSEC_PSK_IDENTITY_MAX + 1];
    char peer_id[M2MSEC_ID_MAX + 1];
    char cred_id[M2MSEC_ID_MAX + 1];
    struct m2msec_error err;
};

enum id_kind {
    KIND_MALFORMED = 0,
    KIND_MAF,
    KIND_MEF,
    KIND_LOCAL,
};

M2MSEC_API const char *
m2msec_psk_source_name(enum m2msec_psk_source s)
{
    switch (s) {
    case M2MSEC_PSK_SOURCE_NONE:
        return "none";
    case M2MSEC_PSK_SOURCE_MAF:
        return "maf";
    case M2MSEC_PSK_SOURCE_MEF:
        return "mef";
    case M2MSEC_PSK_SOURCE_LOCAL:
        return "local";
    case M2MSEC_PSK_SOURCE_CERT:
        return "cert";
    }
    return "none";
}

/*
 * Event lines
 */

/* Plain tokens go out as they are; anything else quoted, with \" \\ and \xNN. */
static int
log_value(struct m2msec_buf *line, const char *v, struct m2msec_error *err)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "._-@/:+,";
    size_t n = 0;
    size_t i = 0;

    if (v == NULL) {
        return m2msec_buf_append_str(line, "-", err);
    }
    n = strlen(v);
    if (n > 0 && strspn(v, plain) == n) {
        return m2msec_buf_append(line, v, n, err);
    }
    if (m2msec_buf_append_str(line, "\"", err) == -1) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        int rc = 0;

        if (ch == '"' || ch == '\\') {
            rc = m2msec_buf_appendf(line, err, "\\%c", ch);
        } else if (ch < 0x20 || ch > 0x7e) {
            rc = m2msec_buf_appendf(line, err, "\\x%02x", ch);
        } else {
            rc = m2msec_buf_append(line, &v[i], 1, err);
        }
        if (rc == -1) {
            return -1;
        }
    }
    return m2msec_buf_append_str(line, "\"", err);
}

void
resolver_event(struct m2msec_resolver *r, const char *event, ...)
{
    struct m2msec_buf line;
    struct m2msec_error e = { 0 };
    const char *k = NULL;
    const char *v = NULL;
    va_list ap;
    int ok = 1;

    if (r == NULL || r->event_cb == NULL) {
        return;
    }
    m2msec_buf_init(&line, EVENT_MAX);
    ok = m2msec_buf_appendf(&line, &e, "event=%s", event) == 0;
    va_start(ap, event);
    while (ok && (k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        ok = m2msec_buf_appendf(&line, &e, " %s=", k) == 0 && log_value(&line, v, &e) == 0;
    }
    va_end(ap);
    if (ok) {
        r->event_cb(r->event_arg, (const char *)line.data);
    }
    m2msec_buf_free(&line);
}

const char *
resolver_cse_id(const struct m2msec_resolver *r)
{
    return r->cse_id;
}

static void
count(struct m2msec_resolver *r, enum m2msec_resolver_counter which)
{
    atomic_fetch_add_explicit(&r->counters[which], 1, memory_order_relaxed);
}

M2MSEC_API uint64_t
m2msec_resolver_counter(const struct m2msec_resolver *r, enum m2msec_resolver_counter which)
{
    if (r == NULL || (unsigned)which >= (unsigned)M2MSEC_RESOLVER_COUNTER_MAX) {
        return 0;
    }
    return atomic_load_explicit(&r->counters[which], memory_order_relaxed);
}

/* The counters as text, for the end of an event line. */
struct counters_text {
    char resolved[24];
    char retrievals[24];
    char hits[24];
    char refusals[24];
};

static void
counters_text(const struct m2msec_resolver *r, struct counters_text *t)
{
    snprintf(t->resolved, sizeof(t->resolved), "%llu",
             (unsigned long long)m2msec_resolver_counter(r, M2MSEC_RESOLVER_RESOLVED));
    snprintf(t->retrievals, sizeof(t->retrievals), "%llu",
             (unsigned long long)m2msec_resolver_counter(r, M2MSEC_RESOLVER_RETRIEVALS));
    snprintf(t->hits, sizeof(t->hits), "%llu",
             (unsigned long long)m2msec_resolver_counter(r, M2MSEC_RESOLVER_CACHE_HITS));
    snprintf(t->refusals, sizeof(t->refusals), "%llu",
             (unsigned long long)m2msec_resolver_counter(r, M2MSEC_RESOLVER_REFUSALS));
}

static void
time_text(int64_t t, char out[M2MSEC_TIMESTAMP_LEN])
{
    if (t <= 0 || m2msec_timestamp_format(t, out) == -1) {
        m2msec_strlcpy(out, "-", M2MSEC_TIMESTAMP_LEN);
    }
}

/*
 * Object life cycle and configuration
 */

M2MSEC_API struct m2msec_resolver *
m2msec_resolver_new(void)
{
    struct m2msec_resolver *r = m2msec_calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        m2msec_free(r);
        return NULL;
    }
    if (pthread_mutex_init(&r->fetch_lock, NULL) != 0) {
        pthread_mutex_destroy(&r->lock);
        m2msec_free(r);
        return NULL;
    }
    if (pthread_rwlock_init(&r->hot_lock, NULL) != 0) {
        pthread_mutex_destroy(&r->fetch_lock);
        pthread_mutex_destroy(&r->lock);
        m2msec_free(r);
        return NULL;
    }
    return r;
}

static void hot_clear(struct m2msec_resolver *r);

/* Forget the MEF source, whichever credential it had. */
static void
mef_clear(struct m2msec_resolver *r)
{
    m2msec_free(r->mef);
    m2msec_free(r->mef_fqdn);
    m2msec_free(r->mef_cert);
    m2msec_free(r->mef_key);
    m2msec_free(r->mef_ca);
    m2msec_free(r->mef_psk_id);
    m2msec_secret_free(r->mef_psk);
    r->mef = NULL;
    r->mef_fqdn = NULL;
    r->mef_cert = NULL;
    r->mef_key = NULL;
    r->mef_ca = NULL;
    r->mef_psk_id = NULL;
    r->mef_psk = NULL;
}

M2MSEC_API void
m2msec_resolver_free(struct m2msec_resolver *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < r->nkpsa; i++) {
        m2msec_free(r->kpsa[i].id);
        m2msec_free(r->kpsa[i].peer_id);
        m2msec_secret_free(r->kpsa[i].key);
    }
    m2msec_client_free(r->maf);
    m2msec_db_close(r->db);
    m2msec_config_unref(r->cfg);
    m2msec_free(r->cse_id);
    mef_clear(r);
    hot_clear(r);
    pthread_rwlock_destroy(&r->hot_lock);
    pthread_mutex_destroy(&r->fetch_lock);
    pthread_mutex_destroy(&r->lock);
    m2msec_free(r);
}

M2MSEC_API const char *
m2msec_resolver_error(const struct m2msec_resolver *r)
{
    return r->err.msg;
}

M2MSEC_API enum m2msec_err
m2msec_resolver_error_code(const struct m2msec_resolver *r)
{
    return r->err.code;
}

M2MSEC_API void
m2msec_resolver_set_event_cb(struct m2msec_resolver *r, m2msec_event_cb cb, void *arg)
{
    r->event_cb = cb;
    r->event_arg = arg;
}

/* Setters run before the resolver is shared between threads. */
static int
writable(struct m2msec_resolver *r)
{
    m2msec_error_clear(&r->err);
    if (atomic_load(&r->in_use)) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_STATE,
                                 "the resolver is in use and can no longer change");
    }
    return 0;
}

/* The cache lives beside the device store, sealed under the same KEK. */
static struct m2msec_db *
open_cache(const char *dir, struct m2msec_error *err)
{
    struct m2msec_db *dev = NULL;
    struct m2msec_secret *kek = NULL;
    struct m2msec_db *db = NULL;
    char path[PATH_MAX_LEN + 16];

    if (strlen(dir) > PATH_MAX_LEN) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "state directory path too long");
        return NULL;
    }
    /* Creates the directory and the KEK when Entity B has not enrolled (KpsaIDs only). */
    dev = client_state_open(dir, 1, err);
    if (dev == NULL) {
        return NULL;
    }
    m2msec_db_close(dev);
    (void)snprintf(path, sizeof(path), "%s/%s", dir, M2MSEC_STATE_KEK);
    kek = m2msec_kek_load(path, err);
    if (kek == NULL) {
        return NULL;
    }
    (void)snprintf(path, sizeof(path), "%s/%s", dir, CSE_DB);
    db = m2msec_db_open(path, M2MSEC_SCHEMA_CSE, kek, err);
    m2msec_secret_free(kek);
    return db;
}

M2MSEC_API int
m2msec_resolver_configure(struct m2msec_resolver *r, struct m2msec_config *cfg)
{
    struct m2msec_client *c = NULL;
    struct m2msec_db *db = NULL;
    int rv = -1;

    if (writable(r) == -1) {
        goto out;
    }
    if (r->cfg != NULL) {
        m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_STATE, "resolver already configured");
        goto out;
    }
    if (cfg == NULL || cfg->state_dir == NULL) {
        m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "the resolver needs a configuration with a state directory");
        goto out;
    }
    db = open_cache(cfg->state_dir, &r->err);
    if (db == NULL) {
        m2msec_error_wrap(&r->err, "opening Entity B's key cache");
        goto out;
    }
    if (cfg->maf != NULL) {
        /* Entity B retrieves keys as the registered MAF client of this state directory. */
        c = m2msec_client_new();
        if (c == NULL) {
            m2msec_error_setx(&r->err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (m2msec_client_configure(c, cfg) == -1) {
            m2msec_error_copy(&r->err, &c->err);
            goto out;
        }
    }
    cfg->refs++;
    cfg->frozen = 1;
    r->cfg = cfg;
    r->db = db;
    db = NULL;
    r->maf = c;
    c = NULL;
    rv = 0;
out:
    m2msec_client_free(c);
    m2msec_db_close(db);
    return rv;
}

M2MSEC_API int
m2msec_resolver_set_cse_id(struct m2msec_resolver *r, const char *cse_id)
{
    char *v = NULL;

    if (writable(r) == -1) {
        return -1;
    }
    if (cse_id == NULL || !m2msec_cse_id_valid(cse_id)) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Entity B's id must be a CSE-ID (e.g. /cse-b)");
    }
    v = m2msec_strdup(cse_id);
    if (v == NULL) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    m2msec_free(r->cse_id);
    r->cse_id = v;
    return 0;
}

M2MSEC_API int
m2msec_resolver_set_mef(struct m2msec_resolver *r, const char *hostport, const char *fqdn,
                        const char *cert_file, const char *key_file, const char *ca_file)
{
    char host[256];
    char port[16];
    char *v[5] = { NULL, NULL, NULL, NULL, NULL };
    size_t i;

    if (writable(r) == -1) {
        return -1;
    }
    if (hostport == NULL || strlen(hostport) > 300 ||
        m2msec_hostport_split(hostport, host, sizeof(host), port, sizeof(port), &r->err) == -1) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "MEF address must be host:port");
    }
    if (fqdn == NULL || !m2msec_fqdn_valid(fqdn)) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "the MEF FQDN must be a host name");
    }
    if (cert_file == NULL || key_file == NULL || ca_file == NULL) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "fetching from the MEF needs a certificate, its key and the "
                                 "MEF's trust anchor");
    }
    v[0] = m2msec_strdup(hostport);
    v[1] = m2msec_strdup(fqdn);
    v[2] = m2msec_strdup(cert_file);
    v[3] = m2msec_strdup(key_file);
    v[4] = m2msec_strdup(ca_file);
    for (i = 0; i < 5; i++) {
        if (v[i] == NULL) {
            for (i = 0; i < 5; i++) {
                m2msec_free(v[i]);
            }
            return m2msec_error_setx(&r->err, M2MSEC_ERR_NOMEM, "out of memory");
        }
    }
    mef_clear(r);
    r->mef = v[0];
    r->mef_fqdn = v[1];
    r->mef_cert = v[2];
    r->mef_key = v[3];
    r->mef_ca = v[4];
    return 0;
}

/* A PSK identity the MEF stores for a target: printable ASCII without space, bounded. */
static int
target_psk_id_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL) {
        return 0;
    }
    for (; s[n] != '\0'; n++) {
        if (n == M2MSEC_TARGET_PSK_ID_MAX || s[n] < 0x21 || s[n] > 0x7e) {
            return 0;
        }
    }
    return n > 0;
}

M2MSEC_API int
m2msec_resolver_set_mef_psk(struct m2msec_resolver *r, const char *hostport, const char *fqdn,
                            const char *psk_id, const char *psk_file)
{
    struct m2msec_secret *k = NULL;
    char host[256];
    char port[16];
    char *v[3] = { NULL, NULL, NULL };
    size_t klen = 0;
    size_t i;
    int rv = -1;

    if (writable(r) == -1) {
        return -1;
    }
    if (hostport == NULL || strlen(hostport) > 300 ||
        m2msec_hostport_split(hostport, host, sizeof(host), port, sizeof(port), &r->err) == -1) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "MEF address must be host:port");
    }
    if (fqdn == NULL || !m2msec_fqdn_valid(fqdn)) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "the MEF FQDN must be a host name");
    }
    if (!target_psk_id_valid(psk_id)) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "the PSK identity must be 1..%d printable ASCII characters "
                                 "without space",
                                 M2MSEC_TARGET_PSK_ID_MAX);
    }
    if (psk_file == NULL) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT, "PSK file missing");
    }
    k = m2msec_secret_load_hex_file(psk_file, &r->err);
    if (k == NULL) {
        return -1;
    }
    klen = m2msec_secret_len(k);
    if (klen < PSK_MIN || klen > PSK_MAX) {
        m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "%.128s: the PSK has %zu bytes, expected %d..%d", psk_file, klen, PSK_MIN,
                          PSK_MAX);
        goto out;
    }
    v[0] = m2msec_strdup(hostport);
    v[1] = m2msec_strdup(fqdn);
    v[2] = m2msec_strdup(psk_id);
    for (i = 0; i < 3; i++) {
        if (v[i] == NULL) {
            m2msec_error_setx(&r->err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    mef_clear(r);
    r->mef = v[0];
    r->mef_fqdn = v[1];
    r->mef_psk_id = v[2];
    r->mef_psk = k;
    k = NULL;
    memset(v, 0, sizeof(v));
    rv = 0;
out:
    for (i = 0; i < 3; i++) {
        m2msec_free(v[i]);
    }
    m2msec_secret_free(k);
    return rv;
}

/* A psk_identity we are prepared to look at: printable ASCII, bounded. */
static int
identity_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL) {
        return 0;
    }
    n = strnlen(s, M2MSEC_PSK_IDENTITY_MAX + 1);
    if (n == 0 || n > M2MSEC_PSK_IDENTITY_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x21 || ch > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* Two KpsaIDs name the same key: equal text, or equal as "<rel>@<fqdn>" (FQDN case-insensitive). */
static int
kpsa_id_equal(const char *a, const char *b)
{
    struct m2msec_keyref ra;
    struct m2msec_keyref rb;
    struct m2msec_error scratch = { 0 };

    if (strcmp(a, b) == 0) { /* public: identifiers */
        return 1;
    }
    if (m2msec_keyref_parse(a, &ra, &scratch) == -1 ||
        m2msec_keyref_parse(b, &rb, &scratch) == -1) {
        return 0;
    }
    return strcmp(ra.rel, rb.rel) == 0 /* public */ && m2msec_fqdn_equal(ra.fqdn, rb.fqdn);
}

M2MSEC_API int
m2msec_resolver_add_kpsa(struct m2msec_resolver *r, const char *kpsa_id, const uint8_t *key,
                         size_t key_len, const char *peer_id, int64_t expires)
{
    struct kpsa_entry e = { 0 };
    char cred[M2MSEC_ID_MAX + 1];
    size_t i;

    if (writable(r) == -1) {
        return -1;
    }
    if (!identity_valid(kpsa_id) ||
        m2msec_credential_id_format(M2MSEC_CRED_SAEF_SYMM, kpsa_id, cred, sizeof(cred), &r->err) ==
                -1) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "KpsaID must be printable ASCII (TS-0003 10.5: <rel>@<FQDN>)");
    }
    if (peer_id == NULL || !m2msec_entity_id_valid(peer_id)) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "the peer of KpsaID %s must be a CSE-ID or AE-ID", kpsa_id);
    }
    if (key == NULL || key_len < PSK_MIN || key_len > PSK_MAX) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT, "Kpsa must be %d..%d bytes",
                                 PSK_MIN, PSK_MAX);
    }
    if (expires < 0) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT, "negative expiry");
    }
    if (r->nkpsa == KPSA_MAX) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_TOO_LARGE, "at most %d KpsaIDs", KPSA_MAX);
    }
    for (i = 0; i < r->nkpsa; i++) {
        if (kpsa_id_equal(r->kpsa[i].id, kpsa_id)) {
            return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT, "KpsaID %s given twice",
                                     kpsa_id);
        }
    }
    e.id = m2msec_strdup(kpsa_id);
    e.peer_id = m2msec_strdup(peer_id);
    e.key = m2msec_secret_from(key, key_len, &r->err);
    if (e.id == NULL || e.peer_id == NULL || e.key == NULL) {
        m2msec_free(e.id);
        m2msec_free(e.peer_id);
        m2msec_secret_free(e.key);
        return m2msec_error_setx(&r->err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    e.expires = expires;
    r->kpsa[r->nkpsa++] = e;
    return 0;
}

M2MSEC_API int
m2msec_resolver_add_kpsa_file(struct m2msec_resolver *r, const char *kpsa_id, const char *path,
                              const char *peer_id, int64_t expires)
{
    struct m2msec_secret *k = NULL;
    int rv = -1;

    if (writable(r) == -1) {
        return -1;
    }
    if (path == NULL) {
        return m2msec_error_setx(&r->err, M2MSEC_ERR_INVALID_ARGUMENT, "no key file");
    }
    k = m2msec_secret_load_hex_file(path, &r->err);
    if (k == NULL) {
        m2msec_error_wrap(&r->err, "Kpsa for %s", kpsa_id != NULL ? kpsa_id : "?");
        return -1;
    }
    rv = m2msec_resolver_add_kpsa(r, kpsa_id, m2msec_secret_bytes(k), m2msec_secret_len(k), peer_id,
                                  expires);
    m2msec_secret_free(k);
    return rv;
}

/*
 * Resolution results
 */

M2MSEC_API struct m2msec_psk_info *
m2msec_psk_info_new(void)
{
    return m2msec_calloc(1, sizeof(struct m2msec_psk_info));
}

M2MSEC_API void
m2msec_psk_info_free(struct m2msec_psk_info *info)
{
    m2msec_free(info);
}

M2MSEC_API enum m2msec_psk_source
m2msec_psk_info_source(const struct m2msec_psk_info *info)
{
    return info->source;
}

M2MSEC_API const char *
m2msec_psk_info_key_id(const struct m2msec_psk_info *info)
{
    return info->key_id[0] != '\0' ? info->key_id : NULL;
}

M2MSEC_API const char *
m2msec_psk_info_peer_id(const struct m2msec_psk_info *info)
{
    return info->has_peer ? info->peer_id : NULL;
}

M2MSEC_API const char *
m2msec_psk_info_credential_id(const struct m2msec_psk_info *info)
{
    return info->cred_id[0] != '\0' ? info->cred_id : NULL;
}

M2MSEC_API unsigned
m2msec_psk_info_suid(const struct m2msec_psk_info *info)
{
    return info->suid;
}

M2MSEC_API int64_t
m2msec_psk_info_expires(const struct m2msec_psk_info *info)
{
    return info->expires;
}

M2MSEC_API int
m2msec_psk_info_cache_hit(const struct m2msec_psk_info *info)
{
    return info->cache_hit;
}

M2MSEC_API const char *
m2msec_psk_info_reason(const struct m2msec_psk_info *info)
{
    return info->reason;
}

M2MSEC_API const char *
m2msec_psk_info_error(const struct m2msec_psk_info *info)
{
    return info->err.msg;
}

M2MSEC_API enum m2msec_err
m2msec_psk_info_error_code(const struct m2msec_psk_info *info)
{
    return info->err.code;
}

M2MSEC_API int
m2msec_psk_info_rsc(const struct m2msec_psk_info *info)
{
    return info->err.rsc;
}

static void
info_reset(struct m2msec_psk_info *info)
{
    memset(info, 0, sizeof(*info));
}

/* Record a refusal: its log token, error code, the source's status and a message. */
static int refuse(struct m2msec_psk_info *info, const char *reason, enum m2msec_err code, int rsc,
                  const char *fmt, ...) M2MSEC_PRINTF(5, 6);

static int
refuse(struct m2msec_psk_info *info, const char *reason, enum m2msec_err code, int rsc,
       const char *fmt, ...)
{
    char msg[M2MSEC_ERROR_MSG_LEN];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    info->reason = reason;
    return m2msec_error_setr(&info->err, code, rsc, "%s", msg);
}

/* A retrieval that failed: refused by the source (its status kept), or not completed. */
static int
refuse_retrieval(struct m2msec_psk_info *info, const struct m2msec_error *e, const char *what)
{
    if (e->code == M2MSEC_ERR_REFUSED) {
        return refuse(info, "retrieval_refused", M2MSEC_ERR_AUTH, e->rsc, "%s: %s", what, e->msg);
    }
    return refuse(info, "retrieval_failed", M2MSEC_ERR_AUTH, 0, "%s: %s", what, e->msg);
}

/* What the session is bound to (TS-0003 8.2.1: the peer's id, else the Credential-ID). */
static int
info_bind(struct m2msec_psk_info *info, enum m2msec_psk_source source, unsigned suid,
          int64_t expires, const char *peer_id)
{
    struct m2msec_error e = { 0 };

    info->source = source;
    info->suid = suid;
    info->expires = expires;
    info->has_peer = 0;
    if (peer_id != NULL && m2msec_strlcpy(info->peer_id, peer_id, sizeof(info->peer_id)) == 0) {
        info->has_peer = 1;
    }
    /* @spec TS-0003 10.4: type 12, a symmetric key in an SAEF (KpsaID or Key Identifier). */
    if (m2msec_credential_id_format(M2MSEC_CRED_SAEF_SYMM, info->key_id, info->cred_id,
                                    sizeof(info->cred_id), &e) == -1) {
        return refuse(info, "malformed", M2MSEC_ERR_AUTH, 0,
                      "no Credential-ID can be formed from this identity: %s", e.msg);
    }
    return 0;
}

/*
 * Sources
 */

static enum id_kind
classify(const struct m2msec_resolver *r, const char *identity)
{
    struct m2msec_keyref ref;
    struct m2msec_keid keid;
    struct m2msec_error scratch = { 0 };

    if (m2msec_keyref_parse(identity, &ref, &scratch) == -1) {
        return KIND_LOCAL;
    }
    /* @spec TS-0003 8.2.2.3: the MAF-FQDN part names the MAF holding Kc. */
    if (r->maf != NULL && m2msec_fqdn_equal(ref.fqdn, r->cfg->maf_fqdn)) {
        return m2msec_keyreg_rel_valid(ref.rel) ? KIND_MAF : KIND_MALFORMED;
    }
    /* @spec TS-0003 10.3.4: a KeID names its MEF after the '@'. */
    if (r->mef_fqdn != NULL && m2msec_fqdn_equal(ref.fqdn, r->mef_fqdn)) {
        return m2msec_keid_parse(identity, &keid, &scratch) == 0 ? KIND_MEF : KIND_MALFORMED;
    }
    return KIND_LOCAL;
}

/* @spec TS-0003 8.2.2.1: a pre-provisioned KpsaID (SUID 12). */
static int
resolve_local(struct m2msec_resolver *r, const char *identity, struct m2msec_secret **key,
              struct m2msec_psk_info *info)
{
    const struct kpsa_entry *e = NULL;
    char ts[M2MSEC_TIMESTAMP_LEN];
    size_t i;

    for (i = 0; i < r->nkpsa; i++) {
        if (kpsa_id_equal(r->kpsa[i].id, identity)) {
            e = &r->kpsa[i];
            break;
        }
    }
    if (e == NULL) {
        return refuse(info, "unknown", M2MSEC_ERR_AUTH, 0, "unknown psk_identity");
    }
    if (e->expires != 0 && e->expires <= m2msec_now()) {
        time_text(e->expires, ts);
        return refuse(info, "expired", M2MSEC_ERR_EXPIRED, 0, "KpsaID %s expired at %s", e->id, ts);
    }
    if (info_bind(info, M2MSEC_PSK_SOURCE_LOCAL, SUID_SAEF_LOCAL, e->expires, e->peer_id) == -1) {
        return -1;
    }
    *key = m2msec_secret_dup(e->key, &info->err);
    if (*key == NULL) {
        info->reason = "internal";
        return -1;
    }
    count(r, M2MSEC_RESOLVER_LOCAL);
    return 0;
}

/*
 * The in-memory tier. Identities compare ASCII case-insensitively, as in the
 * store (the FQDN part is a host name; relative ids are hex).
 */
static unsigned
hot_hash(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    const unsigned char *p;

    for (p = (const unsigned char *)id; *p != '\0'; p++) {
        unsigned char ch = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + ('a' - 'A')) : *p;

        h = (h ^ ch) * 16777619u;
    }
    return h & (HOT_BUCKETS - 1u);
}

static void
hot_entry_free(struct hot_entry *e)
{
    if (e == NULL) {
        return;
    }
    m2msec_free(e->key_id);
    m2msec_free(e->peer_id);
    m2msec_secret_free(e->key);
    m2msec_free(e);
}

static void
hot_clear(struct m2msec_resolver *r)
{
    size_t b;

    for (b = 0; b < HOT_BUCKETS; b++) {
        while (r->hot[b] != NULL) {
            struct hot_entry *e = r->hot[b];

            r->hot[b] = e->next;
            hot_entry_free(e);
        }
    }
    r->nhot = 0;
}

/*
 * A live key of the hot tier: 0 with *key (a copy) and info bound; 1 not there
 * or expired (the caller then takes the store path); -1 out of memory.
 */
static int
hot_get(struct m2msec_resolver *r, const char *identity, struct m2msec_secret **key,
        struct m2msec_psk_info *info)
{
    struct hot_entry *e;
    int rv = 1;

    pthread_rwlock_rdlock(&r->hot_lock);
    for (e = r->hot[hot_hash(identity)]; e != NULL; e = e->next) {
        if (m2msec_ascii_caseeq(e->key_id, identity)) {
            break;
        }
    }
    if (e != NULL && e->expires > m2msec_now()) {
        enum m2msec_psk_source src =
                e->source == CACHE_SOURCE_MAF ? M2MSEC_PSK_SOURCE_MAF : M2MSEC_PSK_SOURCE_MEF;

        *key = m2msec_secret_dup(e->key, &info->err);
        if (*key == NULL) {
            info->reason = "internal";
            rv = -1;
        } else if (info_bind(info, src, e->suid, e->expires, e->peer_id) == -1) {
            m2msec_secret_free(*key);
            *key = NULL;
            rv = -1;
        } else {
            info->cache_hit = 1;
            rv = 0;
        }
    }
    pthread_rwlock_unlock(&r->hot_lock);
    if (rv == 0) {
        count(r, M2MSEC_RESOLVER_CACHE_HITS);
    }
    return rv;
}

/*
 * The steady-state path: a live key of the hot tier copied straight into the
 * caller's buffer under the read lock (no secret allocated on the way). 0 hit,
 * 1 not there or expired (the caller takes the store path), -1 failure.
 */
static int
hot_copy(struct m2msec_resolver *r, const char *identity, uint8_t *psk, size_t psk_size,
         size_t *psk_len, struct m2msec_psk_info *info)
{
    struct hot_entry *e;
    int rv = 1;

    pthread_rwlock_rdlock(&r->hot_lock);
    for (e = r->hot[hot_hash(identity)]; e != NULL; e = e->next) {
        if (m2msec_ascii_caseeq(e->key_id, identity)) {
            break;
        }
    }
    if (e != NULL && e->expires > m2msec_now()) {
        enum m2msec_psk_source src =
                e->source == CACHE_SOURCE_MAF ? M2MSEC_PSK_SOURCE_MAF : M2MSEC_PSK_SOURCE_MEF;
        size_t n = m2msec_secret_len(e->key);

        if (n > psk_size) {
            rv = refuse(info, "internal", M2MSEC_ERR_TOO_LARGE, 0,
                        "PSK buffer of %zu bytes too small", psk_size);
        } else if (info_bind(info, src, e->suid, e->expires, e->peer_id) == -1) {
            rv = -1;
        } else {
            memcpy(psk, m2msec_secret_bytes(e->key), n);
            *psk_len = n;
            info->cache_hit = 1;
            rv = 0;
        }
    }
    pthread_rwlock_unlock(&r->hot_lock);
    if (rv == 0) {
        count(r, M2MSEC_RESOLVER_CACHE_HITS);
    }
    return rv;
}

static void
hot_remove(struct m2msec_resolver *r, const char *identity)
{
    struct hot_entry **pp;

    pthread_rwlock_wrlock(&r->hot_lock);
    for (pp = &r->hot[hot_hash(identity)]; *pp != NULL; pp = &(*pp)->next) {
        if (m2msec_ascii_caseeq((*pp)->key_id, identity)) {
            struct hot_entry *e = *pp;

            *pp = e->next;
            hot_entry_free(e);
            r->nhot--;
            break;
        }
    }
    pthread_rwlock_unlock(&r->hot_lock);
}

/* Remember a key the store holds (best effort: a full table or no memory only costs speed). */
static void
hot_put(struct m2msec_resolver *r, const char *identity, unsigned source, unsigned suid,
        int64_t expires, const char *peer_id, const struct m2msec_secret *key)
{
    struct m2msec_error e = { 0 };
    struct hot_entry *n = m2msec_calloc(1, sizeof(*n));

    if (n == NULL) {
        return;
    }
    n->key_id = m2msec_strdup(identity);
    n->peer_id = peer_id != NULL ? m2msec_strdup(peer_id) : NULL;
    n->key = m2msec_secret_dup(key, &e);
    n->source = source;
    n->suid = suid;
    n->expires = expires;
    if (n->key_id == NULL || (peer_id != NULL && n->peer_id == NULL) || n->key == NULL) {
        hot_entry_free(n);
        return;
    }
    hot_remove(r, identity);
    pthread_rwlock_wrlock(&r->hot_lock);
    if (r->nhot < HOT_MAX) {
        unsigned b = hot_hash(identity);

        n->next = r->hot[b];
        r->hot[b] = n;
        r->nhot++;
        n = NULL;
    }
    pthread_rwlock_unlock(&r->hot_lock);
    hot_entry_free(n);
}

/* Drop what has expired by now; the store sweep erases the rows. */
static void
hot_sweep(struct m2msec_resolver *r, int64_t now)
{
    size_t b;

    pthread_rwlock_wrlock(&r->hot_lock);
    for (b = 0; b < HOT_BUCKETS; b++) {
        struct hot_entry **pp = &r->hot[b];

        while (*pp != NULL) {
            struct hot_entry *e = *pp;

            if (e->expires <= now) {
                *pp = e->next;
                hot_entry_free(e);
                r->nhot--;
            } else {
                pp = &e->next;
            }
        }
    }
    pthread_rwlock_unlock(&r->hot_lock);
}

/* 0 found (expired or not), 1 absent, -1 store failure. */
static int
cache_get(struct m2msec_resolver *r, const char *identity, struct m2msec_cse_key_rec **rec,
          struct m2msec_error *err)
{
    int rv = -1;

    pthread_mutex_lock(&r->lock);
    rv = m2msec_cse_key_get(r->db, identity, 1, rec, err);
    pthread_mutex_unlock(&r->lock);
    if (rv == -1 && m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
        m2msec_error_clear(err);
        return 1;
    }
    return rv;
}

static int
cache_put(struct m2msec_resolver *r, const struct m2msec_cse_key_rec *rec, struct m2msec_error *err)
{
    int rv = -1;

    pthread_mutex_lock(&r->lock);
    rv = m2msec_cse_key_put(r->db, rec, err);
    pthread_mutex_unlock(&r->lock);
    return rv;
}

/* @spec TS-0003 8.2.2.3 (last step), 10.7: past its lifetime a key is erased, not kept. */
static void
cache_erase(struct m2msec_resolver *r, const char *identity, const char *why)
{
    struct m2msec_error e = { 0 };
    size_t n = 0;
    int rc = 0;

    hot_remove(r, identity);
    pthread_mutex_lock(&r->lock);
    rc = m2msec_cse_key_delete(r->db, identity, m2msec_now(), &n, &e);
    pthread_mutex_unlock(&r->lock);
    if (rc == -1) {
        resolver_event(r, "store_error", "identity", identity, "error", e.msg, NULL);
        return;
    }
    if (n > 0) {
        count(r, M2MSEC_RESOLVER_ERASED);
        resolver_event(r, "psk_erased", "identity", identity, "reason", why, NULL);
    }
}

static int
from_cache(struct m2msec_resolver *r, struct m2msec_cse_key_rec *rec, struct m2msec_secret **key,
           struct m2msec_psk_info *info)
{
    enum m2msec_psk_source src =
            rec->source == CACHE_SOURCE_MAF ? M2MSEC_PSK_SOURCE_MAF : M2MSEC_PSK_SOURCE_MEF;

    if (info_bind(info, src, rec->suid, rec->expires, rec->peer_id) == -1) {
        return -1;
    }
    info->cache_hit = 1;
    hot_put(r, rec->key_id, rec->source, rec->suid, rec->expires, rec->peer_id, rec->key);
    *key = rec->key;
    rec->key = NULL;
    count(r, M2MSEC_RESOLVER_CACHE_HITS);
    return 0;
}

/*
 * GET /fetchCredentials/<KeID>/22 as Enrolment Target (client/fetch.c, the
 * same exchange mafd makes for SUID 21), over mutual TLS with Entity B's
 * certificate or TLS-PSK with the key configured for it at the MEF.
 */
static int
fetch_kpsa(const struct m2msec_resolver *r, const char *keid, struct m2msec_fetch_resp *fr,
           struct m2msec_error *err)
{
    struct client_fetch_opts o;

    memset(&o, 0, sizeof(o));
    o.hostport = r->mef;
    o.mef_fqdn = r->mef_fqdn;
    o.origin = r->cse_id;
    o.timeout_ms = r->cfg->timeout_ms;
    /* @spec TS-0003 8.3.2.1: the target authenticates to the MEF with its own credentials. */
    if (r->mef_psk != NULL) {
        o.psk_id = r->mef_psk_id;
        o.psk = r->mef_psk;
    } else {
        o.cert_file = r->mef_cert;
        o.key_file = r->mef_key;
        o.ca_file = r->mef_ca;
    }
    return client_fetch_credentials(&o, keid, SUID_SAEF_MEF, fr, err);
}

/* Keep what a source returned, then hand the key out. */
static int
keep(struct m2msec_resolver *r, unsigned source, struct m2msec_secret **key,
     struct m2msec_psk_info *info)
{
    struct m2msec_cse_key_rec rec = { 0 };
    struct m2msec_error e = { 0 };

    rec.key_id = info->key_id;
    rec.source = source;
    rec.suid = info->suid;
    rec.peer_id = info->has_peer ? info->peer_id : NULL;
    rec.cred_id = info->cred_id;
    rec.created = m2msec_now();
    rec.expires = info->expires;
    rec.key = *key;
    if (cache_put(r, &rec, &e) == -1) {
        m2msec_secret_free(*key);
        *key = NULL;
        m2msec_error_copy(&info->err, &e);
        info->reason = "internal";
        return -1;
    }
    hot_put(r, rec.key_id, source, rec.suid, rec.expires, rec.peer_id, *key);
    return 0;
}

/* @spec TS-0003 8.2.2.3 (Association Security Handshake) with 8.8.2.8 Key Retrieval. */
static int
retrieve_maf(struct m2msec_resolver *r, const char *identity, struct m2msec_secret **key,
             struct m2msec_psk_info *info)
{
    struct m2msec_keyreg_get_resp rs = { 0 };
    struct m2msec_error e = { 0 };
    size_t klen = 0;
    int rv = -1;

    count(r, M2MSEC_RESOLVER_RETRIEVALS);
    resolver_event(r, "psk_retrieval", "identity", identity, "source", "maf", NULL);
    if (client_maf_key_retrieve(r->maf, identity, &rs, &e) == -1) {
        refuse_retrieval(info, &e, "MAF Key Retrieval");
        goto out;
    }
    /* DEFECT-23: the request carries no SUID; the target checks the one returned. */
    if (rs.suid != SUID_SAEF_MAF) {
        refuse(info, "suid_mismatch", M2MSEC_ERR_AUTH, 0,
               "key registered for SUID %u, not the MAF-based SAEF (%u)", rs.suid, SUID_SAEF_MAF);
        goto out;
    }
    klen = m2msec_secret_len(rs.key_value);
    if (klen < PSK_MIN || klen > PSK_MAX || rs.source_id == NULL) {
        refuse(info, "retrieval_failed", M2MSEC_ERR_AUTH, 0, "MAF returned an unusable key");
        goto out;
    }
    /* @spec TS-0003 8.2.2.3: psk = Kc (all of it, DEFECT-13); lifetime = expirationTime. */
    if (info_bind(info, M2MSEC_PSK_SOURCE_MAF, SUID_SAEF_MAF, rs.et, rs.source_id) == -1) {
        goto out;
    }
    *key = rs.key_value;
    rs.key_value = NULL;
    if (keep(r, CACHE_SOURCE_MAF, key, info) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_keyreg_get_resp_clear(&rs);
    return rv;
}

/* @spec TS-0003 8.2.2.1 with a Kpsa the MEF derives for this target (8.3.2.1, 10.3.7). */
static int
retrieve_mef(struct m2msec_resolver *r, const char *identity, struct m2msec_secret **key,
             struct m2msec_psk_info *info)
{
    struct m2msec_fetch_resp fr = { 0 };
    struct m2msec_error e = { 0 };
    size_t klen = 0;
    int rv = -1;

    if (r->cse_id == NULL) {
        refuse(info, "not_configured", M2MSEC_ERR_AUTH, 0,
               "Entity B has no CSE-ID to fetch Kpsa with");
        goto out;
    }
    count(r, M2MSEC_RESOLVER_RETRIEVALS);
    resolver_event(r, "psk_retrieval", "identity", identity, "source", "mef", NULL);
    if (fetch_kpsa(r, identity, &fr, &e) == -1) {
        refuse_retrieval(info, &e, "fetchCredentials");
        goto out;
    }
    klen = m2msec_secret_len(fr.credential);
    if (klen < PSK_MIN || klen > PSK_MAX || fr.enrolee_id == NULL) {
        refuse(info, "retrieval_failed", M2MSEC_ERR_AUTH, 0, "MEF returned an unusable key");
        goto out;
    }
    if (fr.lifetime <= m2msec_now()) {
        refuse(info, "expired", M2MSEC_ERR_EXPIRED, 0, "MEF returned a Kpsa already expired");
        goto out;
    }
    if (info_bind(info, M2MSEC_PSK_SOURCE_MEF, SUID_SAEF_MEF, fr.lifetime, fr.enrolee_id) == -1) {
        goto out;
    }
    *key = fr.credential;
    fr.credential = NULL;
    if (keep(r, CACHE_SOURCE_MEF, key, info) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_fetch_resp_clear(&fr);
    return rv;
}

/*
 * A Kc this cache erased at its expiry (swept while nobody used it) is refused
 * as expired without asking the MAF again. 1 no record, -1 refused or failed.
 */
static int
tombstone(struct m2msec_resolver *r, const char *identity, struct m2msec_psk_info *info)
{
    struct m2msec_error e = { 0 };
    char ts[M2MSEC_TIMESTAMP_LEN];
    int64_t expired = 0;
    int rc = 0;

    pthread_mutex_lock(&r->lock);
    rc = m2msec_cse_expired_get(r->db, identity, &expired, &e);
    pthread_mutex_unlock(&r->lock);
    if (rc == -1 && m2msec_error_code(&e) == M2MSEC_ERR_NOT_FOUND) {
        return 1;
    }
    if (rc == -1) {
        m2msec_error_copy(&info->err, &e);
        info->reason = "internal";
        return -1;
    }
    time_text(expired, ts);
    return refuse(info, "expired", M2MSEC_ERR_EXPIRED, 0,
                  "Kc lifetime ended at %s: a new MAF Key Registration is needed", ts);
}

/* A key from the MAF or the MEF: the cache while it lives, else a retrieval. */
static int
resolve_remote(struct m2msec_resolver *r, enum id_kind kind, const char *identity,
               struct m2msec_secret **key, struct m2msec_psk_info *info)
{
    struct m2msec_cse_key_rec *rec = NULL;
    char ts[M2MSEC_TIMESTAMP_LEN];
    int locked = 0;
    int rc = 0;
    int rv = -1;

    rc = hot_get(r, identity, key, info);
    if (rc != 1) {
        rv = rc;
        goto out;
    }
    rc = cache_get(r, identity, &rec, &info->err);
    if (rc == -1) {
        info->reason = "internal";
        goto out;
    }
    if (rc == 0 && rec->expires > m2msec_now()) {
        rv = from_cache(r, rec, key, info);
        goto out;
    }
    if (rc == 0) {
        time_text(rec->expires, ts);
        cache_erase(r, rec->key_id, "expired");
        if (kind == KIND_MAF) {
            /* @spec TS-0003 8.2.2.3: after the Kc lifetime Entity A needs a new MAF Handshake. */
            refuse(info, "expired", M2MSEC_ERR_EXPIRED, 0,
                   "Kc lifetime ended at %s: a new MAF Key Registration is needed", ts);
            goto out;
        }
        /* A Kpsa may be fetched again: the MEF answers while the Enrolee's Ke lives. */
        m2msec_cse_key_rec_free(rec);
        rec = NULL;
    } else if (kind == KIND_MAF) {
        rc = tombstone(r, identity, info);
        if (rc != 1) {
            goto out;
        }
    }
    pthread_mutex_lock(&r->fetch_lock);
    locked = 1;
    /* Another handshake may have retrieved it while this one waited. */
    rc = cache_get(r, identity, &rec, &info->err);
    if (rc == -1) {
        info->reason = "internal";
        goto out;
    }
    if (rc == 0 && rec->expires > m2msec_now()) {
        rv = from_cache(r, rec, key, info);
        goto out;
    }
    rv = kind == KIND_MAF ? retrieve_maf(r, identity, key, info)
                          : retrieve_mef(r, identity, key, info);
out:
    if (locked) {
        pthread_mutex_unlock(&r->fetch_lock);
    }
    m2msec_cse_key_rec_free(rec);
    return rv;
}

M2MSEC_API void
m2msec_resolver_set_event_debug(struct m2msec_resolver *r, int on)
{
    if (r != NULL) {
        atomic_store(&r->debug_events, on != 0);
    }
}

int
resolver_debug_events(const struct m2msec_resolver *r)
{
    return r != NULL && atomic_load(&r->debug_events);
}

M2MSEC_API int
m2msec_resolver_resolve(struct m2msec_resolver *r, const char *identity, uint8_t *psk,
                        size_t psk_size, size_t *psk_len, struct m2msec_psk_info *info)
{
    struct m2msec_secret *key = NULL;
    struct counters_text ct;
    char ts[M2MSEC_TIMESTAMP_LEN];
    char suid[8];
    char rsc[8];
    enum id_kind kind = KIND_MALFORMED;
    int rc = -1;
    int rv = -1;

    if (psk_len != NULL) {
        *psk_len = 0;
    }
    if (info == NULL) {
        return -1;
    }
    info_reset(info);
    if (r == NULL || r->db == NULL || psk == NULL || psk_len == NULL) {
        refuse(info, "not_configured", M2MSEC_ERR_INVALID_STATE, 0,
               "resolver not configured, or no output buffer");
        goto out;
    }
    atomic_store(&r->in_use, 1);
    if (!identity_valid(identity)) {
        refuse(info, "malformed", M2MSEC_ERR_AUTH, 0, "psk_identity is not printable ASCII");
        goto out;
    }
    m2msec_strlcpy(info->key_id, identity, sizeof(info->key_id));
    kind = classify(r, identity);
    switch (kind) {
    case KIND_MALFORMED:
        rc = refuse(info, "malformed", M2MSEC_ERR_AUTH, 0,
                    "psk_identity names our MAF or MEF but is not a valid Key Identifier / KeID");
        break;
    case KIND_MAF:
    case KIND_MEF:
        rc = hot_copy(r, identity, psk, psk_size, psk_len, info);
        if (rc == 0) {
            count(r, M2MSEC_RESOLVER_RESOLVED);
            rv = 0;
            goto out;
        }
        if (rc == 1) {
            rc = resolve_remote(r, kind, identity, &key, info);
        }
        break;
    case KIND_LOCAL:
        rc = resolve_local(r, identity, &key, info);
        break;
    }
    if (rc == -1) {
        goto out;
    }
    if (m2msec_secret_len(key) > psk_size) {
        refuse(info, "internal", M2MSEC_ERR_TOO_LARGE, 0, "PSK buffer of %zu bytes too small",
               psk_size);
        goto out;
    }
    memcpy(psk, m2msec_secret_bytes(key), m2msec_secret_len(key));
    *psk_len = m2msec_secret_len(key);
    count(r, M2MSEC_RESOLVER_RESOLVED);
    rv = 0;
out:
    if (rv == -1 && r != NULL) {
        count(r, M2MSEC_RESOLVER_REFUSALS);
    }
    /* A cache hit is the steady state: counted always, reported only when asked. */
    if (r != NULL && r->event_cb != NULL &&
        (rv != 0 || !info->cache_hit || atomic_load(&r->debug_events))) {
        counters_text(r, &ct);
        if (rv == 0) {
            time_text(info->expires, ts);
            (void)snprintf(suid, sizeof(suid), "%u", info->suid);
            resolver_event(r, "psk_resolved", "identity", info->key_id, "source",
                           m2msec_psk_source_name(info->source), "cache",
                           info->source == M2MSEC_PSK_SOURCE_LOCAL ? "local"
                           : info->cache_hit                       ? "hit"
                                                                   : "retrieved",
                           "peer", info->has_peer ? info->peer_id : NULL, "credential_id",
                           info->cred_id, "suid", suid, "expires", ts, "resolved", ct.resolved,
                           "retrievals", ct.retrievals, "cache_hits", ct.hits, "refusals",
                           ct.refusals, NULL);
        } else {
            (void)snprintf(rsc, sizeof(rsc), "%d", info->err.rsc);
            resolver_event(r, "psk_refused", "identity",
                           info->key_id[0] != '\0' ? info->key_id : identity, "reason",
                           info->reason != NULL ? info->reason : "internal", "rsc", rsc, "error",
                           info->err.msg, "resolved", ct.resolved, "retrievals", ct.retrievals,
                           "cache_hits", ct.hits, "refusals", ct.refusals, NULL);
        }
    }
    m2msec_secret_free(key);
    return rv;
}

M2MSEC_API int
m2msec_resolver_sweep(struct m2msec_resolver *r, size_t *erased)
{
    struct m2msec_error e = { 0 };
    char n_s[24];
    size_t n = 0;
    int rv = -1;

    if (erased != NULL) {
        *erased = 0;
    }
    if (r == NULL || r->db == NULL) {
        return -1;
    }
    hot_sweep(r, m2msec_now());
    pthread_mutex_lock(&r->lock);
    rv = m2msec_cse_sweep(r->db, m2msec_now(), &n, &e);
    pthread_mutex_unlock(&r->lock);
    if (rv == -1) {
        resolver_event(r, "store_error", "error", e.msg, NULL);
        return -1;
    }
    if (n > 0) {
        atomic_fetch_add_explicit(&r->counters[M2MSEC_RESOLVER_ERASED], n, memory_order_relaxed);
        (void)snprintf(n_s, sizeof(n_s), "%zu", n);
        resolver_event(r, "psk_swept", "erased", n_s, NULL);
    }
    if (erased != NULL) {
        *erased = n;
    }
    return 0;
}

M2MSEC_API int
m2msec_resolver_cached(struct m2msec_resolver *r, size_t *n)
{
    struct m2msec_error e = { 0 };
    int rv = -1;

    if (n != NULL) {
        *n = 0;
    }
    if (r == NULL || r->db == NULL || n == NULL) {
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    rv = m2msec_cse_key_count(r->db, n, &e);
    pthread_mutex_unlock(&r->lock);
    return rv;
}
