/*
 * mefd/boot.c - the PKI-based bootstrap of seed 002 at the infrastructure node.
 *
 * Layer: daemon (mefd). Three parts:
 *
 * - `mefd bootclass add|list|remove`: node classes. A class names a
 *   certificate flavour (device: manufacturer-issued device certificates;
 *   node-id: enterprise-issued node certificates), the identities it covers
 *   (an exact identifier or a prefix of the canonical one), its own trust
 *   anchors and CRLs, what the root credential is for (maf:<MAF-FQDN> or
 *   cse:<CSE-ID>) and its lifetime. Configuration decides who gets what
 *   (seed 002 editor's note): a valid chain without a class gets nothing.
 * - mefd_boot_match: on a certificate session of serve.c, the class the
 *   verified certificate belongs to (its identity matches AND its chain leads
 *   to that class's anchors).
 * - POST /mef/bootstrap: a fresh 32-byte root credential, stored sealed
 *   (replacing the node's previous one) before the answer, sent wrapped with
 *   AES-256 key wrap (RFC 3394) under RootCredentialWrapKey, the session's
 *   RFC 5705 export (label EXPORTER-oneM2M-RootCredentialWrap, 32 bytes, no
 *   context). The identifier "<32 hex>@<MEF-FQDN>" lives in the KeID
 *   namespace, so the target named by the purpose fetches the credential
 *   through fetchCredentials (fetch.c) like any provisioned key.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "client/bootstrap.h"
#include "codec/json.h"
#include "crypto/kdf.h"
#include "crypto/keywrap.h"
#include "crypto/rand.h"
#include "http/http.h"
#include "log.h"
#include "mefd.h"
#include "proto/ids.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define BOOT_NAME_MAX     63
#define BOOT_LIFETIME_MAX (10ULL * 366 * 24 * 3600)

/* The flavours of seed 002 x.1.2.1.1: manufacturer device and enterprise node certificates. */
static const struct {
    const char *name;
    enum m2msec_cert_flavour f;
} boot_flavours[] = {
    { "device", M2MSEC_CERT_DEVICE },
    { "node-id", M2MSEC_CERT_NODE_ID },
};
#define N_BOOT_FLAVOURS (sizeof(boot_flavours) / sizeof(boot_flavours[0]))

void
mefd_boot_match_clear(struct mefd_boot_match *m)
{
    m2msec_bootclass_rec_free(m->cls);
    m2msec_free(m->node);
    memset(m, 0, sizeof(*m));
}

/* 1 when the canonical identifier value is one the class covers. */
static int
class_covers(const struct m2msec_bootclass_rec *k, const char *value)
{
    if (k->cert_id != NULL) {
        return strcmp(value, k->cert_id) == 0; /* public */
    }
    return k->id_prefix != NULL && strncmp(value, k->id_prefix, strlen(k->id_prefix)) == 0;
}

int
mefd_boot_match(struct m2msec_db *db, struct m2msec_tls_conn *tls, struct mefd_boot_match *m)
{
    struct m2msec_error err = { 0 };
    struct m2msec_bootclass_rec **list = NULL;
    char cred[M2MSEC_CERT_CRED_ID_MAX];
    size_t n = 0, i, j;
    int rv = 1;

    memset(m, 0, sizeof(*m));
    m->reason = "no node class covers the identity this certificate carries";
    if (m2msec_mef_bootclass_list(db, &list, &n, &err) == -1) {
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "bootclass_list", "error",
                      m2msec_error_msg(&err), NULL);
        return -1;
    }
    for (i = 0; i < N_BOOT_FLAVOURS && rv == 1; i++) {
        if (m2msec_tls_peer_credential_id(tls, boot_flavours[i].f, cred, sizeof(cred), &err) ==
            -1) {
            continue; /* no identity of this flavour in the certificate */
        }
        for (j = 0; j < n && rv == 1; j++) {
            const struct m2msec_bootclass_rec *k = list[j];

            if (strcmp(k->flavour, boot_flavours[i].name) != 0 || !class_covers(k, cred + 3)) {
                continue;
            }
            /* @spec seed 002 x.1.2.1.2 step 2.2: the chain must lead to THIS class's roots. */
            if (m2msec_tls_peer_chain_verify(tls, (const char *const *)k->cert_cas, k->ncert_cas,
                                             (const char *const *)k->cert_crls, k->ncert_crls,
                                             &err) == -1) {
                m->reason = "the identity is a class's, the chain does not lead to its anchors";
                (void)m2msec_strlcpy(m->refused_class, k->name, sizeof(m->refused_class));
                continue;
            }
            m->node = m2msec_strdup(cred);
            if (m->node == NULL) {
                rv = -1;
                break;
            }
            m->cls = list[j];
            list[j] = list[n - 1];
            list[n - 1] = NULL;
            m->reason = NULL;
            m->refused_class[0] = '\0';
            rv = 0;
        }
    }
    m2msec_bootclass_list_free(list);
    return rv;
}

static int
boot_error(struct srv_response *resp, const struct m2msec_error *err)
{
    int rsc = err->rsc != 0 ? err->rsc : M2MSEC_RSC_INTERNAL_SERVER_ERROR;

    if (rsc >= 5000) {
        srv_log_event(SRV_LOG_ERR, "internal_error", "op", "bootstrap", "error",
                      m2msec_error_msg(err), NULL);
        return srv_response_error(resp, rsc, "internal error");
    }
    return srv_response_error(resp, rsc, "%s", m2msec_error_msg(err));
}

/*
 * @spec seed 002 x.1.2.1.2 steps 3 and 4: export RootCredentialWrapKey, make
 * the root credential, keep it (durable first), send it AES-256 key-wrapped.
 */
int
mefd_boot_handle(struct mefd_boot_session *bs, const struct m2msec_http_msg *req,
                 struct srv_response *resp)
{
    const struct m2msec_bootclass_rec *k = bs->match->cls;
    struct m2msec_error err = { 0 };
    struct m2msec_rootcred_rec rec = { 0 };
    struct m2msec_boot_resp r = { 0 };
    struct m2msec_secret *wrap = NULL;
    struct m2msec_secret *key = NULL;
    uint8_t exported[M2MSEC_ROOT_WRAP_KEY_LEN];
    char id[M2MSEC_KEID_MAX];
    char eid[M2MSEC_BOOT_ENROLEE_ID_LEN];
    char kcv[M2MSEC_KCV_HEX_LEN];
    char ts[M2MSEC_TIMESTAMP_LEN];
    size_t wlen = 0;
    int64_t now = m2msec_now();

    if (*bs->done) {
        m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_CONFLICT,
                          "a root credential was already issued in this session");
        goto fail;
    }
    if (m2msec_boot_req_decode(req->body.data, req->body.len, &err) == -1) {
        goto fail;
    }
    /* @spec seed 002 x.1.2.1.2 step 3 (label and length are this project's: PROTOCOL.md 13). */
    if (m2msec_tls_export(bs->tls, M2MSEC_LABEL_ROOT_WRAP, exported, sizeof(exported), &err) ==
                -1 ||
        (wrap = m2msec_secret_from(exported, sizeof(exported), &err)) == NULL ||
        (key = m2msec_secret_random(M2MSEC_ROOT_KEY_LEN, &err)) == NULL ||
        m2msec_rand_bytes(rec.rel, sizeof(rec.rel), &err) == -1 ||
        m2msec_keid_format(rec.rel, bs->fqdn, id, sizeof(id), &err) == -1 ||
        m2msec_boot_enrolee_id(bs->match->node, eid, &err) == -1 ||
        m2msec_keywrap(wrap, key, r.wrapped, sizeof(r.wrapped), &wlen, &err) == -1 ||
        m2msec_key_check_value(key, kcv, &err) == -1) {
        err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        goto fail;
    }
    rec.node = bs->match->node;
    rec.class_name = k->name;
    rec.enrolee_id = eid;
    rec.purpose = k->purpose;
    rec.created = now;
    rec.expires = now + (int64_t)k->lifetime_s;
    rec.key = key;
    /* Durable before the credential leaves this process; replaces the node's previous one. */
    if (m2msec_mef_rootcred_put(bs->db, &rec, &err) == -1) {
        if (m2msec_error_code(&err) == M2MSEC_ERR_NOT_FOUND) {
            m2msec_error_setr(&err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                              "the node class of this session was removed");
        } else {
            err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        }
        goto fail;
    }
    *bs->done = 1;
    r.root_id = id;
    r.lifetime = rec.expires;
    r.purpose = k->purpose;
    r.enrolee_id = eid;
    r.node_id = bs->match->node;
    if (m2msec_boot_resp_encode(&r, &resp->body, &err) == -1) {
        err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        goto fail;
    }
    resp->rsc = M2MSEC_RSC_CREATED;
    (void)m2msec_timestamp_format(rec.expires, ts);
    srv_log_event(SRV_LOG_NOTICE, "root_credential_issued", "node", bs->match->node, "class",
                  k->name, "id", id, "purpose", k->purpose, "enrolee_id", eid, "expires", ts, "kcv",
                  kcv, NULL);
    m2msec_wipe(exported, sizeof(exported));
    m2msec_secret_free(wrap);
    m2msec_secret_free(key);
    return 0;
fail:
    m2msec_wipe(exported, sizeof(exported));
    m2msec_secret_free(wrap);
    m2msec_secret_free(key);
    return boot_error(resp, &err);
}

/*
 * `mefd bootclass ...`
 */

static int
boot_flavour_valid(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < N_BOOT_FLAVOURS; i++) {
        if (strcmp(name, boot_flavours[i].name) == 0) {
            return 1;
        }
    }
    return 0;
}

static enum m2msec_cert_flavour
boot_flavour_of(const char *name)
{
    size_t i;

    for (i = 0; i < N_BOOT_FLAVOURS; i++) {
        if (strcmp(name, boot_flavours[i].name) == 0) {
            return boot_flavours[i].f;
        }
    }
    return M2MSEC_CERT_UNSET;
}

/* A class name: 1..63 of letters, digits, '.', '_', '-'. */
static int
boot_name_valid(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= BOOT_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int
bootclass_add(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "name", required_argument, NULL, 'n' },
        { "cert-flavour", required_argument, NULL, 'f' },
        { "id-prefix", required_argument, NULL, 'p' },
        { "cert-id", required_argument, NULL, 'i' },
        { "cert-ca", required_argument, NULL, 'c' },
        { "crl", required_argument, NULL, 'r' },
        { "purpose", required_argument, NULL, 'P' },
        { "lifetime", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct m2msec_bootclass_rec rec = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    const char *dir = NULL, *name = NULL, *flavour = NULL, *prefix = NULL, *cert_id = NULL;
    const char *purpose = NULL, *lifetime = NULL, *target = NULL;
    char canon[M2MSEC_CERT_CRED_ID_MAX];
    unsigned suid = 0;
    int c, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'f':
            flavour = optarg;
            break;
        case 'p':
            prefix = optarg;
            break;
        case 'i':
            cert_id = optarg;
            break;
        case 'c':
            if (mefd_cert_file_add(&rec.cert_cas, &rec.ncert_cas, optarg, 0) != 0) {
                goto out;
            }
            break;
        case 'r':
            if (mefd_cert_file_add(&rec.cert_crls, &rec.ncert_crls, optarg, 1) != 0) {
                goto out;
            }
            break;
        case 'P':
            purpose = optarg;
            break;
        case 'l':
            lifetime = optarg;
            break;
        default:
            rv = 2;
            goto out;
        }
    }
    if (dir == NULL || name == NULL || flavour == NULL || (prefix == NULL) == (cert_id == NULL) ||
        purpose == NULL || lifetime == NULL || optind != argc) {
        mefd_fail("usage: mefd bootclass add -d DIR --name NAME --cert-flavour device|node-id "
                  "(--id-prefix P | --cert-id ID) --cert-ca FILE [--cert-ca FILE]... "
                  "[--crl FILE]... --purpose maf:<MAF-FQDN>|cse:<CSE-ID> --lifetime SECONDS");
        goto out;
    }
    if (!boot_name_valid(name)) {
        mefd_fail("--name '%s': 1..%d letters, digits, '.', '_', '-'", name, BOOT_NAME_MAX);
        goto out;
    }
    if (!boot_flavour_valid(flavour)) {
        mefd_fail("--cert-flavour '%s': one of %s", flavour, M2MSEC_BOOTCLASS_FLAVOURS);
        goto out;
    }
    if (rec.ncert_cas == 0) {
        mefd_fail("a node class needs --cert-ca (its trust anchors)");
        goto out;
    }
    if (m2msec_boot_purpose_parse(purpose, &suid, &target) == -1) {
        mefd_fail("--purpose '%s': maf:<MAF-FQDN> or cse:<CSE-ID>", purpose);
        goto out;
    }
    if (m2msec_parse_u64(lifetime, strlen(lifetime), BOOT_LIFETIME_MAX, &rec.lifetime_s) == -1 ||
        rec.lifetime_s == 0) {
        mefd_fail("--lifetime '%s': seconds between 1 and %llu", lifetime, BOOT_LIFETIME_MAX);
        goto out;
    }
    if (cert_id != NULL) {
        /* Canonical, as the TLS layer reads it from certificates (after the "NN-" prefix). */
        if (m2msec_x509_credential_id(boot_flavour_of(flavour), cert_id, canon, sizeof(canon),
                                      &err) == -1) {
            mefd_fail("--cert-id '%s': %s", cert_id, m2msec_error_msg(&err));
            goto out;
        }
        rec.cert_id = m2msec_strdup(canon + 3);
    } else {
        /*
         * Prefixes match the canonical identity, in which an OID Node-ID is the
         * bare dotted OID (tls/certid.h): accept the "urn:oid:" form an operator
         * copies from a certificate, rather than keep a prefix that never matches.
         */
        if (strcmp(flavour, "node-id") == 0 && strncmp(prefix, "urn:oid:", 8) == 0 &&
            prefix[8] >= '0' && prefix[8] <= '9') {
            prefix += 8;
        }
        if (prefix[0] == '\0' || strlen(prefix) > M2MSEC_CERT_ID_MAX) {
            mefd_fail("--id-prefix: 1..%d characters", M2MSEC_CERT_ID_MAX);
            goto out;
        }
        rec.id_prefix = m2msec_strdup(prefix);
    }
    rec.name = m2msec_strdup(name);
    rec.flavour = m2msec_strdup(flavour);
    rec.purpose = m2msec_strdup(purpose);
    rec.created = m2msec_now();
    if (rec.name == NULL || rec.flavour == NULL || rec.purpose == NULL ||
        (rec.cert_id == NULL && rec.id_prefix == NULL)) {
        mefd_fail("out of memory");
        goto out;
    }
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL ||
        m2msec_mef_bootclass_add(db, &rec, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("added node class name=%s flavour=%s %s=%s purpose=%s suid=%u lifetime=%llu anchors=%zu "
           "crls=%zu (restart mefd serve for new anchors)\n",
           rec.name, rec.flavour, rec.cert_id != NULL ? "cert-id" : "id-prefix",
           rec.cert_id != NULL ? rec.cert_id : rec.id_prefix, rec.purpose, suid,
           (unsigned long long)rec.lifetime_s, rec.ncert_cas, rec.ncert_crls);
    rv = 0;
out:
    m2msec_db_close(db);
    mefd_dir_close(&d);
    m2msec_free(rec.name);
    m2msec_free(rec.flavour);
    m2msec_free(rec.id_prefix);
    m2msec_free(rec.cert_id);
    m2msec_free(rec.purpose);
    m2msec_strlist_free(rec.cert_cas);
    m2msec_strlist_free(rec.cert_crls);
    return rv;
}

static json_t *
bootclass_json(const struct m2msec_bootclass_rec *k)
{
    json_t *o = json_object();
    json_t *cas = json_array();
    json_t *crls = json_array();
    size_t i;

    if (o == NULL || cas == NULL || crls == NULL) {
        json_decref(o);
        json_decref(cas);
        json_decref(crls);
        return NULL;
    }
    for (i = 0; i < k->ncert_cas; i++) {
        json_array_append_new(cas, json_string(k->cert_cas[i]));
    }
    for (i = 0; i < k->ncert_crls; i++) {
        json_array_append_new(crls, json_string(k->cert_crls[i]));
    }
    json_object_set_new(o, "name", json_string(k->name));
    json_object_set_new(o, "flavour", json_string(k->flavour));
    if (k->cert_id != NULL) {
        json_object_set_new(o, "certID", json_string(k->cert_id));
    } else {
        json_object_set_new(o, "idPrefix", json_string(k->id_prefix));
    }
    json_object_set_new(o, "purpose", json_string(k->purpose));
    json_object_set_new(o, "lifetime", json_integer((json_int_t)k->lifetime_s));
    json_object_set_new(o, "anchors", cas);
    json_object_set_new(o, "crls", crls);
    return o;
}

static int
bootclass_list(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_bootclass_rec **list = NULL;
    json_t *out = NULL;
    json_t *item = NULL;
    const char *dir = NULL;
    size_t n = 0, i;
    int c, as_json = 0, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || optind != argc) {
        return mefd_fail("usage: mefd bootclass list -d DIR [--json]");
    }
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL ||
        m2msec_mef_bootclass_list(db, &list, &n, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (as_json) {
        out = json_array();
        for (i = 0; i < n && out != NULL; i++) {
            item = bootclass_json(list[i]);
            if (item == NULL || json_array_append_new(out, item) == -1) {
                json_decref(out);
                out = NULL;
            }
        }
        if (out == NULL) {
            mefd_fail("out of memory");
            goto out;
        }
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(out);
    } else {
        printf("%-20s %-8s %-40s %-40s %s\n", "NAME", "FLAVOUR", "IDENTITY", "PURPOSE",
               "LIFETIME(s)");
        for (i = 0; i < n; i++) {
            const struct m2msec_bootclass_rec *k = list[i];

            printf("%-20s %-8s %s%-*s %-40s %llu\n", k->name, k->flavour,
                   k->cert_id != NULL ? "=" : "^", 39,
                   k->cert_id != NULL ? k->cert_id : k->id_prefix, k->purpose,
                   (unsigned long long)k->lifetime_s);
        }
    }
    rv = 0;
out:
    m2msec_bootclass_list_free(list);
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}

int
mefd_cmd_bootclass(int argc, char **argv)
{
    if (argc < 2) {
        return mefd_fail("usage: mefd bootclass add|list|remove -d DIR ...");
    }
    if (strcmp(argv[1], "add") == 0) {
        return bootclass_add(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "list") == 0) {
        return bootclass_list(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "remove") == 0) {
        return mefd_remove_cmd(argc - 1, argv + 1, "name", "bootclass",
                               " (its root credentials erased)", m2msec_mef_bootclass_remove);
    }
    return mefd_fail("unknown bootclass command '%s' (add, list, remove)", argv[1]);
}
