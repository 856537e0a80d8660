/*
 * mefd/target.c - `mefd target add|list|remove` and `mefd pki issue`.
 *
 * Layer: daemon (mefd). Like the Enrolee commands these work on the store
 * directly and are safe while `mefd serve` runs: the target service looks
 * the target up at every connection, so an added or removed target takes
 * effect at the next one.
 *
 * @spec TS-0003 8.3.2.1 "Use of Remotely Provisioned Credential": the MEF
 * decides which Enrolment Target may fetch which Enrolee's keys for which
 * SUID. A target here is: its id (the Enrolment-Target-ID: a MAF's FQDN, or an
 * Enrolee B's CSE-ID / AE-ID), how it authenticates (the FQDN its TLS client
 * certificate carries, or a PSK identity and key for TLS-PSK), the SUIDs it
 * may fetch, the derivation (10.3.7, or 10.3.2 / 10.3.3 for legacy peers,
 * DEFECT-7) and an optional cap on the credential lifetime. A PSK is stored
 * sealed and never printed: list and show give its key check value.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "crypto/kdf.h"
#include "mefd.h"
#include "proto/ids.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define SUIDS_TEXT_MAX 32

/* Sort a few SUIDs ascending (the stored list is canonical). */
static void
suids_sort(unsigned *v, size_t n)
{
    size_t i = 0;
    size_t j = 0;
    unsigned t = 0;

    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
            t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    }
}

/*
 * The SUIDs of --suid (repeatable, comma-separated) checked against the id:
 * the kind of target follows from them, and the id must be of that kind.
 * Writes the canonical list ("22,23") to text. 0, or -1 after printing why.
 */
static int
target_suids(const char *id, const char *csv, int legacy, char *text, size_t textsz)
{
    unsigned v[MEFD_TARGET_SUIDS_MAX];
    size_t n = 0;
    size_t i = 0;
    size_t off = 0;
    int maf = 0;

    if (mefd_suids_parse(csv, v, &n) == -1) {
        mefd_fail("--suid '%s': SUIDs of Ke-derived credentials are 21 to 25, each once", csv);
        return -1;
    }
    suids_sort(v, n);
    maf = v[0] == 21;
    if (maf && n > 1) {
        mefd_fail("--suid: 21 (a MAF) cannot be combined with 22..25 (an Enrolee B)");
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (!mefd_suid_fits(id, v[i])) {
            mefd_fail(maf ? "--id '%s': SUID 21 is for a MAF, whose id is its FQDN"
                          : "--id '%s': SUIDs 22..25 are for an Enrolee B, whose id is a "
                            "CSE-ID or AE-ID",
                      id);
            return -1;
        }
    }
    if (legacy && (n != 1 || v[0] > 22)) {
        mefd_fail("--legacy: TS-0003 10.3.2 / 10.3.3 define keys for SUID 21 or 22 only");
        return -1;
    }
    for (i = 0; i < n; i++) {
        off += (size_t)snprintf(text + off, textsz - off, "%s%u", i > 0 ? "," : "", v[i]);
    }
    return 0;
}

/*
 * A MAF's FQDN names it whatever the case (the service compares MAF ids so):
 * refuse a second MAF target whose id differs only in case. Ids of an Enrolee
 * B are compared exactly, here as there.
 */
static int
fqdn_id_taken(struct m2msec_db *db, const char *id, char **taken, struct m2msec_error *err)
{
    struct m2msec_target_rec **list = NULL;
    size_t n = 0;
    size_t i = 0;

    *taken = NULL;
    if (m2msec_mef_target_list(db, &list, &n, err) == -1) {
        return -1;
    }
    for (i = 0; i < n && *taken == NULL; i++) {
        if (strcmp(list[i]->suids, "21") == 0 && m2msec_fqdn_equal(list[i]->id, id)) {
            *taken = m2msec_strdup(list[i]->id);
        }
    }
    m2msec_target_list_free(list);
    return 0;
}

/*
 * --psk-id and --psk-file: an identity the store accepts (printable ASCII, no
 * space, bounded) and a key file holding 16..64 bytes in hex. 0 with *key
 * set, or -1 after printing why.
 */
static int
psk_id_check(const char *psk_id, const char *psk_file, struct m2msec_secret **key)
{
    struct m2msec_error err = { 0 };
    size_t n = strlen(psk_id);
    size_t i = 0;
    size_t klen = 0;

    for (i = 0; i < n; i++) {
        if (psk_id[i] < 0x21 || psk_id[i] > 0x7e) {
            break;
        }
    }
    if (n == 0 || n > M2MSEC_TARGET_PSK_ID_MAX || i != n) {
        mefd_fail("--psk-id '%s': 1..%d printable ASCII characters without space", psk_id,
                  M2MSEC_TARGET_PSK_ID_MAX);
        return -1;
    }
    *key = m2msec_secret_load_hex_file(psk_file, &err);
    if (*key == NULL) {
        mefd_fail("--psk-file: %s", m2msec_error_msg(&err));
        return -1;
    }
    klen = m2msec_secret_len(*key);
    if (klen < M2MSEC_TARGET_PSK_MIN || klen > M2MSEC_TARGET_PSK_MAX) {
        mefd_fail("--psk-file %s: %zu bytes, a target PSK has %d to %d", psk_file, klen,
                  M2MSEC_TARGET_PSK_MIN, M2MSEC_TARGET_PSK_MAX);
        m2msec_secret_free(*key);
        *key = NULL;
        return -1;
    }
    return 0;
}

static int
target_add(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "id", required_argument, NULL, 'i' },
        { "cert-fqdn", required_argument, NULL, 'c' },
        { "psk-id", required_argument, NULL, 'p' },
        { "psk-file", required_argument, NULL, 'P' },
        { "suid", required_argument, NULL, 's' },
        { "legacy", no_argument, NULL, 'L' },
        { "lifetime", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_target_rec rec = { 0 };
    struct m2msec_buf csv;
    const char *dir = NULL, *lifetime = NULL, *psk_file = NULL;
    char *taken = NULL;
    char suids[SUIDS_TEXT_MAX];
    char kcv[M2MSEC_KCV_HEX_LEN];
    int c, rv = 1;

    m2msec_buf_init(&csv, 256);
    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            rec.id = optarg;
            break;
        case 'c':
            rec.cert_fqdn = optarg;
            break;
        case 'p':
            rec.psk_id = optarg;
            break;
        case 'P':
            psk_file = optarg;
            break;
        case 's':
            if (m2msec_buf_appendf(&csv, NULL, "%s%s", csv.len > 0 ? "," : "", optarg) == -1) {
                mefd_fail("--suid: too many values");
                goto out;
            }
            break;
        case 'L':
            rec.legacy = 1;
            break;
        case 't':
            lifetime = optarg;
            break;
        default:
            goto out;
        }
    }
    if (dir == NULL || rec.id == NULL || (rec.cert_fqdn == NULL) == (rec.psk_id == NULL) ||
        (rec.psk_id == NULL) != (psk_file == NULL) || csv.len == 0 || optind != argc) {
        mefd_fail("usage: mefd target add -d DIR --id ID (--cert-fqdn FQDN | --psk-id PSKID "
                  "--psk-file HEXFILE) --suid N[,N]... [--legacy] [--lifetime SECONDS]");
        goto out;
    }
    if (!m2msec_fqdn_valid(rec.id) && !m2msec_entity_id_valid(rec.id)) {
        mefd_fail("--id '%s': not an FQDN (a MAF), CSE-ID or AE-ID (an Enrolee B)", rec.id);
        goto out;
    }
    if (rec.cert_fqdn != NULL && !m2msec_fqdn_valid(rec.cert_fqdn)) {
        mefd_fail("--cert-fqdn '%s': not a valid FQDN", rec.cert_fqdn);
        goto out;
    }
    if (rec.psk_id != NULL && psk_id_check(rec.psk_id, psk_file, &rec.psk) == -1) {
        goto out;
    }
    if (target_suids(rec.id, (const char *)csv.data, rec.legacy, suids, sizeof(suids)) == -1) {
        goto out;
    }
    rec.suids = suids;
    if (lifetime != NULL &&
        m2msec_parse_u64(lifetime, strlen(lifetime), MEFD_EXPIRY_MAX, &rec.lifetime_s) == -1) {
        mefd_fail("--lifetime '%s': seconds between 0 (Ke expiry only) and %llu", lifetime,
                  (unsigned long long)MEFD_EXPIRY_MAX);
        goto out;
    }
    rec.created = m2msec_now();
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (strcmp(rec.suids, "21") == 0 && fqdn_id_taken(db, rec.id, &taken, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (taken != NULL) {
        mefd_fail("target %s exists (FQDNs compare case-insensitively)", taken);
        goto out;
    }
    if (m2msec_mef_target_add(db, &rec, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (rec.psk != NULL) {
        if (m2msec_key_check_value(rec.psk, kcv, &err) == -1) {
            mefd_fail("%s", m2msec_error_msg(&err));
            goto out;
        }
        printf("added target id=%s psk-id=%s psk-kcv=%s suids=%s derivation=%s lifetime=%llus\n",
               rec.id, rec.psk_id, kcv, rec.suids, rec.legacy ? "legacy" : "10.3.7",
               (unsigned long long)rec.lifetime_s);
    } else {
        printf("added target id=%s cert-fqdn=%s suids=%s derivation=%s lifetime=%llus\n", rec.id,
               rec.cert_fqdn, rec.suids, rec.legacy ? "legacy" : "10.3.7",
               (unsigned long long)rec.lifetime_s);
    }
    rv = 0;
out:
    m2msec_secret_free(rec.psk);
    m2msec_free(taken);
    m2msec_buf_free(&csv);
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}

static json_t *
target_json(const struct m2msec_target_rec *t)
{
    unsigned v[MEFD_TARGET_SUIDS_MAX];
    size_t n = 0;
    size_t i = 0;
    json_t *o = json_object();
    json_t *suids = json_array();
    char ts[M2MSEC_TIMESTAMP_LEN];

    if (o == NULL || suids == NULL) {
        json_decref(o);
        json_decref(suids);
        return NULL;
    }
    if (mefd_suids_parse(t->suids, v, &n) == -1) {
        n = 0;
    }
    for (i = 0; i < n; i++) {
        json_array_append_new(suids, json_integer((json_int_t)v[i]));
    }
    m2msec_timestamp_format(t->created, ts);
    json_object_set_new(o, "id", json_string(t->id));
    /* A PSK target shows its identity and key check value, never the key. */
    if (t->psk_id != NULL) {
        json_object_set_new(o, "auth", json_string("psk"));
        json_object_set_new(o, "pskID", json_string(t->psk_id));
        json_object_set_new(o, "pskKCV", json_string(t->psk_kcv != NULL ? t->psk_kcv : ""));
    } else {
        json_object_set_new(o, "auth", json_string("certificate"));
        json_object_set_new(o, "certFQDN", json_string(t->cert_fqdn));
    }
    json_object_set_new(o, "suids", suids);
    json_object_set_new(o, "derivation", json_string(t->legacy ? "legacy" : "10.3.7"));
    json_object_set_new(o, "lifetime", json_integer((json_int_t)t->lifetime_s));
    json_object_set_new(o, "created", json_string(ts));
    return o;
}

/* "cert:FQDN" or "psk:ID kcv=HEX" for the text listing. */
static void
target_print_auth(const struct m2msec_target_rec *t, char *out, size_t outsz)
{
    if (t->psk_id != NULL) {
        (void)snprintf(out, outsz, "psk:%s kcv=%s", t->psk_id,
                       t->psk_kcv != NULL ? t->psk_kcv : "?");
    } else {
        (void)snprintf(out, outsz, "cert:%s", t->cert_fqdn != NULL ? t->cert_fqdn : "?");
    }
}

static int
target_list(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_target_rec **list = NULL;
    json_t *out = NULL;
    json_t *item = NULL;
    const char *dir = NULL;
    char auth[M2MSEC_TARGET_PSK_ID_MAX + M2MSEC_FQDN_MAX + 32];
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
        return mefd_fail("usage: mefd target list -d DIR [--json]");
    }
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL ||
        m2msec_mef_target_list(db, &list, &n, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (as_json) {
        out = json_array();
        for (i = 0; i < n && out != NULL; i++) {
            item = target_json(list[i]);
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
    } else {
        printf("%-32s %-40s %-12s %-10s %s\n", "ID", "AUTHENTICATION", "SUIDS", "DERIVATION",
               "LIFETIME(s)");
        for (i = 0; i < n; i++) {
            target_print_auth(list[i], auth, sizeof(auth));
            printf("%-32s %-40s %-12s %-10s %llu\n", list[i]->id, auth, list[i]->suids,
                   list[i]->legacy ? "legacy" : "10.3.7", (unsigned long long)list[i]->lifetime_s);
        }
    }
    rv = 0;
out:
    json_decref(out);
    m2msec_target_list_free(list);
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}

/* `mefd target show -d DIR --id ID [--json]`: one target, its key check value, never its key. */
static int
target_show(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "id", required_argument, NULL, 'i' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_target_rec *t = NULL;
    json_t *o = NULL;
    const char *dir = NULL, *id = NULL;
    char ts[M2MSEC_TIMESTAMP_LEN];
    int c, as_json = 0, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || id == NULL || optind != argc) {
        return mefd_fail("usage: mefd target show -d DIR --id ID [--json]");
    }
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL ||
        m2msec_mef_target_get(db, id, &t, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (as_json) {
        o = target_json(t);
        if (o == NULL) {
            mefd_fail("out of memory");
            goto out;
        }
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        m2msec_timestamp_format(t->created, ts);
        printf("id=%s\n", t->id);
        if (t->psk_id != NULL) {
            printf("auth=psk\npsk-id=%s\npsk-kcv=%s\n", t->psk_id,
                   t->psk_kcv != NULL ? t->psk_kcv : "");
        } else {
            printf("auth=certificate\ncert-fqdn=%s\n", t->cert_fqdn);
        }
        printf("suids=%s\nderivation=%s\nlifetime=%llu\ncreated=%s\n", t->suids,
               t->legacy ? "legacy" : "10.3.7", (unsigned long long)t->lifetime_s, ts);
    }
    rv = 0;
out:
    json_decref(o);
    m2msec_target_rec_free(t);
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}

int
mefd_cmd_target(int argc, char **argv)
{
    if (argc < 2) {
        return mefd_fail("usage: mefd target add|list|show|remove -d DIR ...");
    }
    if (strcmp(argv[1], "add") == 0) {
        return target_add(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "list") == 0) {
        return target_list(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "show") == 0) {
        return target_show(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "remove") == 0) {
        return mefd_remove_cmd(argc - 1, argv + 1, "id", "target", "", m2msec_mef_target_remove);
    }
    return mefd_fail("unknown target command '%s' (add, list, show, remove)", argv[1]);
}

/*
 * `mefd pki issue`: an FQDN certificate (TS-0003 10.1.1.6; server and client
 * use) from the development CA of `mefd init --dev-pki`, e.g. for a target.
 */
static int
pki_issue(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },  { "fqdn", required_argument, NULL, 'f' },
        { "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
        { "days", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    const char *dir = NULL, *fqdn = NULL, *cert = NULL, *key = NULL, *days_s = NULL;
    char *ca_cert = NULL, *ca_key = NULL;
    uint64_t days = MEFD_PKI_CERT_DAYS;
    int c, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'f':
            fqdn = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'n':
            days_s = optarg;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || fqdn == NULL || cert == NULL || key == NULL || optind != argc) {
        return mefd_fail("usage: mefd pki issue -d DIR --fqdn FQDN --cert OUT --key OUT "
                         "[--days N]");
    }
    if (!m2msec_fqdn_valid(fqdn)) {
        return mefd_fail("--fqdn '%s': not a valid FQDN", fqdn);
    }
    if (days_s != NULL &&
        (m2msec_parse_u64(days_s, strlen(days_s), M2MSEC_PKI_DAYS_MAX, &days) == -1 || days == 0)) {
        return mefd_fail("--days '%s': 1 to %u", days_s, M2MSEC_PKI_DAYS_MAX);
    }
    ca_cert = mefd_path_join(dir, MEFD_PKI_CA_CERT);
    ca_key = mefd_path_join(dir, MEFD_PKI_CA_KEY);
    if (ca_cert == NULL || ca_key == NULL) {
        mefd_fail("out of memory");
        goto out;
    }
    if (access(ca_cert, R_OK) == -1 || access(ca_key, R_OK) == -1) {
        mefd_fail("%s: no development CA (created by `mefd init --dev-pki`)", dir);
        goto out;
    }
    if (m2msec_pki_issue_fqdn(ca_cert, ca_key, fqdn, cert, key, (unsigned)days, 1, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("issued %s (key %s) for %s, server and client use, %llu days, by %s\n", cert, key, fqdn,
           (unsigned long long)days, ca_cert);
    rv = 0;
out:
    m2msec_free(ca_cert);
    m2msec_free(ca_key);
    return rv;
}

int
mefd_cmd_pki(int argc, char **argv)
{
    if (argc < 2) {
        return mefd_fail("usage: mefd pki issue -d DIR ...");
    }
    if (strcmp(argv[1], "issue") == 0) {
        return pki_issue(argc - 1, argv + 1);
    }
    return mefd_fail("unknown pki command '%s' (issue)", argv[1]);
}
