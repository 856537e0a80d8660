/*
 * tls/certid.c - certificate identifiers per flavour: validation, canonical
 * forms, the subjectAltName encodings, RFC 6920 names and Credential-IDs.
 *
 * Layer: tls (internal helpers, no GnuTLS and no I/O). The encodings chosen
 * for the flavours TS-0003 leaves open are recorded here and in
 * docs/PROTOCOL.md:
 *
 * @spec TS-0003 8.1.2.5 / 10.1.1.7 CSE-ID: "a FQDN in the subjectAltName"
 * equal to the public domain name form of the CSE-ID: a dNSName, compared as
 * DNS names compare (ASCII case-insensitive). URIs are not consulted.
 * @spec TS-0003 8.1.2.5 / 10.1.1.5 AE-ID: a URI equal to the Absolute AE-ID in
 * full URI form, "<scheme>://<sp-fqdn>[:port]/<path>" (RFC 5280 wants a
 * scheme; the SP FQDN is the host that the issuer's name constraints see).
 * Scheme and host compare case-insensitively (RFC 3986 s.6.2.2.1), the rest
 * byte for byte (AE-IDs are case-sensitive). No userinfo.
 * @spec TS-0003 8.1.2.5 / 10.1.1.8 Node-ID: a URN in a SAN URI. An OID Node-ID
 * (TS-0001 annex H) is carried as "urn:oid:<OID>" (RFC 3061); a Node-ID that
 * is a URN already (urn:imei:..., urn:uuid:..., urn:dev:...) as itself. Only
 * URNs: an https:// URI is an AE-ID's form, never a Node-ID. The "urn"
 * scheme and the namespace compare case-insensitively (RFC 8141), the rest
 * byte for byte.
 * @spec TS-0003 10.1.1.4.1 device: an otherName whose type-id is the M2M
 * Device Indication ID arc (M2MSEC_M2M_DEVICE_INDICATION_OID) and whose value
 * is the rest of the OID M2M Device ID (manufacturer, model, serial number,
 * optional expanded arc) as a DER RELATIVE-OID, the ASN.1 type of "the rest
 * of an OID". The identifier is the whole dotted M2M Device ID.
 */

#include <stdio.h>
#include <string.h>

#include "tls/certid.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"

#define FQDN_MAX     253
#define ARC_MAX      UINT64_C(0xffffffffffffff) /* 56 bits: 8 base-128 bytes at most */
#define OID_ARCS_MAX 32
#define HWID_ARCS    4u /* the indication arc's own arcs */
#define DER_RELOID   0x0d

static int
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Printable ASCII without space, 1..M2MSEC_CERT_ID_MAX bytes, and never a wildcard. */
static int
token_ok(const char *s)
{
    size_t n = strnlen(s, M2MSEC_CERT_ID_MAX + 1);
    size_t i;

    if (n == 0 || n > M2MSEC_CERT_ID_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '*') {
            return 0;
        }
    }
    return 1;
}

static int
copy_lower(const char *s, size_t n, char *out, size_t outsz)
{
    size_t i;

    if (n + 1 > outsz) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        out[i] = lower(s[i]);
    }
    out[n] = '\0';
    return 0;
}

/* Arcs of a dotted OID into arcs[]; -1 unless every arc is canonical decimal <= ARC_MAX. */
static int
oid_arcs(const char *s, size_t len, uint64_t *arcs, size_t max, size_t *n)
{
    size_t i = 0;
    size_t start;

    *n = 0;
    if (len == 0) {
        return -1;
    }
    while (i <= len) {
        start = i;
        while (i < len && s[i] != '.') {
            if (!is_digit(s[i])) {
                return -1;
            }
            i++;
        }
        if (*n >= max || m2msec_parse_u64(s + start, i - start, ARC_MAX, &arcs[*n]) != 0) {
            return -1;
        }
        (*n)++;
        i++; /* past the dot, or past the end */
    }
    return 0;
}

int
m2msec_certid_oid_valid(const char *s)
{
    uint64_t arcs[OID_ARCS_MAX];
    size_t n = 0;

    if (s == NULL || oid_arcs(s, strlen(s), arcs, OID_ARCS_MAX, &n) != 0 || n < 2) {
        return 0;
    }
    /* X.660: the first arc is 0, 1 or 2; under 0 and 1 the second is below 40. */
    return arcs[0] <= 2 && (arcs[0] == 2 || arcs[1] < 40);
}

/* ---- URIs ---- */

/* Length of an RFC 3986 scheme at the start of s ("" when there is none before ':'). */
static size_t
scheme_len(const char *s)
{
    size_t i = 0;

    if (!is_alpha(s[0])) {
        return 0;
    }
    while (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') {
        i++;
    }
    return s[i] == ':' ? i : 0;
}

/*
 * AE-ID: "<scheme>://<fqdn>[:<port>]/<path>", no userinfo, non-empty path.
 * Canonical: scheme and host lowercased.
 */
static int
ae_id_canon(const char *s, char *out, size_t outsz)
{
    size_t sl = scheme_len(s);
    const char *host;
    const char *end;
    const char *p;
    char fqdn[FQDN_MAX + 1];
    size_t hl;
    size_t used;

    if (!token_ok(s) || sl == 0 || strncmp(s + sl, "://", 3) != 0) {
        return -1;
    }
    host = s + sl + 3;
    end = host + strcspn(host, ":/?#@");
    if (*end == '@') {
        return -1; /* userinfo would let "sp.example@evil" read as another host */
    }
    hl = (size_t)(end - host);
    if (hl == 0 || hl > FQDN_MAX) {
        return -1;
    }
    memcpy(fqdn, host, hl);
    fqdn[hl] = '\0';
    if (!m2msec_x509_fqdn_valid(fqdn)) {
        return -1;
    }
    p = end;
    if (*p == ':') {
        p++;
        if (!is_digit(*p)) {
            return -1;
        }
        while (is_digit(*p)) {
            p++;
        }
    }
    /* The AE-ID itself is the path: "/" then at least one character. */
    if (p[0] != '/' || p[1] == '\0' || strchr(s, '#') != NULL) {
        return -1;
    }
    used = (size_t)(end - s);
    if (copy_lower(s, used, out, outsz) != 0 || strlen(end) + used + 1 > outsz) {
        return -1;
    }
    memcpy(out + used, end, strlen(end) + 1);
    return 0;
}

/*
 * Node-ID: a dotted OID stays as it is; "urn:oid:<OID>" becomes the OID;
 * other URNs keep their form with "urn:" and the namespace lowercased.
 */
static int
node_id_canon(const char *s, int from_san, char *out, size_t outsz)
{
    size_t sl;
    size_t nl = 0;
    const char *rest;

    if (!token_ok(s)) {
        return -1;
    }
    if (!from_san && m2msec_certid_oid_valid(s)) {
        return m2msec_strlcpy(out, s, outsz);
    }
    sl = scheme_len(s);
    if (sl != 3 || !m2msec_ascii_caseeqn(s, "urn", 3)) {
        return -1;
    }
    rest = s + sl + 1;
    /* RFC 8141: "urn:" NID ":" NSS, the NID case-insensitive. */
    nl = strcspn(rest, ":");
    if (nl == 0 || rest[nl] != ':' || rest[nl + 1] == '\0') {
        return -1;
    }
    if (nl == 3 && m2msec_ascii_caseeqn(rest, "oid", 3)) {
        return m2msec_certid_oid_valid(rest + 4) ? m2msec_strlcpy(out, rest + 4, outsz) : -1;
    }
    nl++; /* with its ':' */
    if (copy_lower(s, sl + 1 + nl, out, outsz) != 0 || sl + 1 + strlen(rest) + 1 > outsz) {
        return -1;
    }
    memcpy(out + sl + 1 + nl, rest + nl, strlen(rest + nl) + 1);
    return 0;
}

/* Device: the whole dotted M2M Device ID under the indication arc, 3..4 arcs below it. */
static int
hwid_valid(const char *s)
{
    uint64_t arcs[OID_ARCS_MAX];
    size_t n = 0;
    size_t plen = strlen(M2MSEC_M2M_DEVICE_INDICATION_OID);

    if (!token_ok(s) || strncmp(s, M2MSEC_M2M_DEVICE_INDICATION_OID, plen) != 0 || s[plen] != '.' ||
        oid_arcs(s + plen + 1, strlen(s + plen + 1), arcs, OID_ARCS_MAX, &n) != 0) {
        return 0;
    }
    return n >= 3 && n <= 4;
}

/* ---- canonical forms ---- */

int
m2msec_certid_canon(enum m2msec_cert_flavour f, const char *id, char *out, size_t outsz, char *why,
                    size_t whysz)
{
    uint8_t digest[32];
    size_t dlen = 0;
    const char *what = "identifier";
    int r = -1;

    if (id == NULL) {
        (void)snprintf(why, whysz, "identifier missing");
        return -1;
    }
    switch (f) {
    case M2MSEC_CERT_FQDN:
    case M2MSEC_CERT_CSE_ID:
        what = f == M2MSEC_CERT_FQDN ? "FQDN" : "CSE-ID (public domain name form)";
        if (m2msec_x509_fqdn_valid(id)) {
            r = copy_lower(id, strlen(id), out, outsz);
        }
        break;
    case M2MSEC_CERT_AE_ID:
        what = "AE-ID (absolute URI \"scheme://sp-fqdn/ae-id\")";
        r = ae_id_canon(id, out, outsz);
        break;
    case M2MSEC_CERT_NODE_ID:
        what = "Node-ID (dotted OID or URN)";
        r = node_id_canon(id, 0, out, outsz);
        break;
    case M2MSEC_CERT_DEVICE:
        what = "hardware instance id (OID M2M Device ID " M2MSEC_M2M_DEVICE_INDICATION_OID
               ".<manufacturer>.<model>.<serial>[.<expanded>])";
        if (hwid_valid(id)) {
            r = m2msec_strlcpy(out, id, outsz);
        }
        break;
    case M2MSEC_CERT_RAW:
        what = "public key identifier (ni:///sha-256;...)";
        if (m2msec_certid_ni_parse(id, digest, &dlen) == 0) {
            r = m2msec_strlcpy(out, id, outsz);
        }
        break;
    case M2MSEC_CERT_UNSET:
    case M2MSEC_CERT_ANY:
    default:
        (void)snprintf(why, whysz, "no identifier for this flavour");
        return -1;
    }
    if (r != 0) {
        (void)snprintf(why, whysz, "\"%.64s\" is not a valid %s", id, what);
        return -1;
    }
    return 0;
}

int
m2msec_certid_of_san(enum m2msec_cert_flavour f, enum m2msec_certid_kind kind, const char *value,
                     char *out, size_t outsz)
{
    if (value == NULL || !token_ok(value)) {
        return 0;
    }
    switch (f) {
    case M2MSEC_CERT_CSE_ID:
        return kind == M2MSEC_CERTID_DNS && m2msec_x509_fqdn_valid(value) &&
               copy_lower(value, strlen(value), out, outsz) == 0;
    case M2MSEC_CERT_AE_ID:
        return kind == M2MSEC_CERTID_URI && ae_id_canon(value, out, outsz) == 0;
    case M2MSEC_CERT_NODE_ID:
        return kind == M2MSEC_CERTID_URI && node_id_canon(value, 1, out, outsz) == 0;
    case M2MSEC_CERT_DEVICE:
        return kind == M2MSEC_CERTID_HWID && hwid_valid(value) &&
               m2msec_strlcpy(out, value, outsz) == 0;
    case M2MSEC_CERT_FQDN:
        /* The URI-host reading of FQDN certificates stays in x509.c (fqdn_matches). */
        return kind == M2MSEC_CERTID_DNS && m2msec_x509_fqdn_valid(value) &&
               copy_lower(value, strlen(value), out, outsz) == 0;
    case M2MSEC_CERT_UNSET:
    case M2MSEC_CERT_ANY:
    case M2MSEC_CERT_RAW:
    default:
        return 0;
    }
}

/* ---- device identifiers in otherName ---- */

int
m2msec_certid_hwid_encode(const char *hwid, uint8_t *der, size_t dersz, size_t *derlen,
                          struct m2msec_error *err)
{
    uint64_t arcs[OID_ARCS_MAX];
    uint8_t tmp[10];
    size_t plen = strlen(M2MSEC_M2M_DEVICE_INDICATION_OID);
    size_t n = 0;
    size_t len = 2; /* tag and short length */
    size_t i;
    size_t k;
    uint64_t v;

    if (hwid == NULL || !hwid_valid(hwid)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "\"%.64s\" is not an OID M2M Device ID under %s",
                                 hwid != NULL ? hwid : "", M2MSEC_M2M_DEVICE_INDICATION_OID);
    }
    (void)oid_arcs(hwid + plen + 1, strlen(hwid + plen + 1), arcs, OID_ARCS_MAX, &n);
    for (i = 0; i < n; i++) {
        /* base 128, most significant group first, bit 8 set on all but the last */
        k = 0;
        v = arcs[i];
        do {
            tmp[k++] = (uint8_t)(v & 0x7f);
            v >>= 7;
        } while (v != 0);
        if (len + k > dersz || len + k > 127 + 2) {
            return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "device identifier too long");
        }
        while (k > 0) {
            k--;
            der[len++] = (uint8_t)(tmp[k] | (k > 0 ? 0x80 : 0));
        }
    }
    der[0] = DER_RELOID;
    der[1] = (uint8_t)(len - 2);
    *derlen = len;
    return 0;
}

int
m2msec_certid_hwid_decode(const char *type_oid, const uint8_t *der, size_t len, char *out,
                          size_t outsz)
{
    size_t used;
    size_t i;
    size_t narcs = 0;
    uint64_t v = 0;
    int start = 1;
    int n;

    if (type_oid == NULL || strcmp(type_oid, M2MSEC_M2M_DEVICE_INDICATION_OID) != 0 ||
        der == NULL || len < 3 || der[0] != DER_RELOID || der[1] > 127 ||
        (size_t)der[1] != len - 2 || (der[len - 1] & 0x80) != 0) {
        return -1;
    }
    if (m2msec_strlcpy(out, M2MSEC_M2M_DEVICE_INDICATION_OID, outsz) != 0) {
        return -1;
    }
    used = strlen(out);
    for (i = 2; i < len; i++) {
        /* X.690 8.20.2: no leading 0x80 in an arc (minimal encoding). */
        if (start && der[i] == 0x80) {
            return -1;
        }
        if (v > (ARC_MAX >> 7)) {
            return -1;
        }
        v = (v << 7) | (der[i] & 0x7f);
        start = 0;
        if ((der[i] & 0x80) == 0) {
            n = snprintf(out + used, outsz - used, ".%llu", (unsigned long long)v);
            if (n < 0 || (size_t)n >= outsz - used) {
                return -1;
            }
            used += (size_t)n;
            narcs++;
            v = 0;
            start = 1;
        }
    }
    return narcs >= 3 && narcs <= 4 ? 0 : -1;
}

/* ---- RFC 6920 names ---- */

int
m2msec_certid_ni_parse(const char *s, uint8_t digest[32], size_t *len)
{
    static const struct {
        const char *name;
        size_t bytes;
    } algs[] = {
        { "sha-256", 32 },
        { "sha-256-128", 16 },
        { "sha-256-120", 15 },
    };
    char b64[48];
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    const char *alg;
    const char *val;
    size_t alen;
    size_t vlen;
    size_t want;
    size_t i;
    size_t a;
    int rv = -1;

    if (s == NULL || !token_ok(s) || strlen(s) < 6 || !m2msec_ascii_caseeqn(s, "ni:///", 6)) {
        return -1;
    }
    alg = s + 6;
    val = strchr(alg, ';');
    if (val == NULL) {
        return -1;
    }
    alen = (size_t)(val - alg);
    val++;
    vlen = strlen(val);
    for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        if (alen == strlen(algs[a].name) && memcmp(alg, algs[a].name, alen) == 0) {
            break;
        }
    }
    if (a == sizeof(algs) / sizeof(algs[0])) {
        return -1;
    }
    want = algs[a].bytes;
    /* Unpadded base64url of want bytes, then standard base64 with padding to decode. */
    if (vlen != (want * 4 + 2) / 3 || vlen + 3 >= sizeof(b64)) {
        return -1;
    }
    for (i = 0; i < vlen; i++) {
        char c = val[i];

        if (c == '+' || c == '/' || c == '=') {
            return -1;
        }
        b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (i % 4 != 0) {
        b64[i++] = '=';
    }
    b64[i] = '\0';
    if (m2msec_b64_decode(b64, i, &raw, &rawlen, NULL) != 0 || rawlen != want) {
        goto out;
    }
    memcpy(digest, raw, want);
    *len = want;
    rv = 0;
out:
    m2msec_free(raw);
    return rv;
}

/* ---- Credential-IDs ---- */

/*
 * @spec TS-0003 10.4, 12.3.2.1 "<credIDTypeID>-<value>" for the certificate
 * flavours used in TLS: 30 raw public key (public key identifier), 31 device
 * (hardware instance id), 32 CSE-ID, 33 AE-ID, 34 Node-ID. The numbers are
 * those of proto/ids.h (M2MSEC_CRED_RAW_PK ... M2MSEC_CRED_NODE_CERT), which
 * tls may not include; test_x509 checks the two agree. Values are the
 * canonical identifiers, kept verbatim (DEFECT-16: ni: names and URIs hold
 * characters 10.4's list omits).
 */
int
m2msec_x509_credential_id(enum m2msec_cert_flavour f, const char *identity, char *out, size_t outsz,
                          struct m2msec_error *err)
{
    char canon[M2MSEC_CERT_ID_MAX + 1];
    char why[160];
    unsigned type;
    int n;

    switch (f) {
    case M2MSEC_CERT_RAW:
        type = 30;
        break;
    case M2MSEC_CERT_DEVICE:
        type = 31;
        break;
    case M2MSEC_CERT_CSE_ID:
        type = 32;
        break;
    case M2MSEC_CERT_AE_ID:
        type = 33;
        break;
    case M2MSEC_CERT_NODE_ID:
        type = 34;
        break;
    case M2MSEC_CERT_UNSET:
    case M2MSEC_CERT_ANY:
    case M2MSEC_CERT_FQDN:
    default:
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "no Credential-ID type for this certificate flavour");
    }
    if (out == NULL ||
        m2msec_certid_canon(f, identity, canon, sizeof(canon), why, sizeof(why)) != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "Credential-ID: %s",
                                 out == NULL ? "no output buffer" : why);
    }
    n = snprintf(out, outsz, "%u-%s", type, canon);
    if (n < 0 || (size_t)n >= outsz) {
        if (outsz > 0) {
            out[0] = '\0';
        }
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE,
                                 "Credential-ID: output buffer too small");
    }
    return 0;
}
