/*
 * proto/ids.h - TS-0003 identifiers: parse, format, validate, compare.
 *
 * Layer: proto (I/O-free). Rules applied everywhere (SPEC-DIGEST 2.4):
 * split "<relative>@<fqdn>" at the LAST '@'; FQDNs compare ASCII
 * case-insensitively; hex relative parts compare case-insensitively and are
 * emitted lowercase.
 */
#ifndef M2MSEC_PROTO_IDS_H
#define M2MSEC_PROTO_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define M2MSEC_FQDN_MAX   253
#define M2MSEC_RELID_MAX  128 /* relative part of KmID / KpsaID / Key Identifier */
#define M2MSEC_ID_MAX     512 /* CSE-ID, AE-ID, KpmID, Credential-ID, labels */
#define M2MSEC_KEID_MAX   (32 + 1 + M2MSEC_FQDN_MAX + 1)
#define M2MSEC_KEYREF_MAX (M2MSEC_RELID_MAX + 1 + M2MSEC_FQDN_MAX + 1)

/* LDH labels of 1..63, total <= 253, at least one character, no trailing dot. 1 valid. */
int m2msec_fqdn_valid(const char *s);
int m2msec_fqdn_equal(const char *a, const char *b);

/* @spec TS-0003 10.3.4 KeID = hex(RelativeKeID) "@" MEF-FQDN */
struct m2msec_keid {
    uint8_t rel[16];
    char fqdn[M2MSEC_FQDN_MAX + 1];
};
int m2msec_keid_parse(const char *s, struct m2msec_keid *out, struct m2msec_error *err);
int m2msec_keid_format(const uint8_t rel[16], const char *fqdn, char *out, size_t outsz,
                       struct m2msec_error *err);
/* 1 when both name the same key (hex and FQDN case-insensitive). */
int m2msec_keid_equal(const struct m2msec_keid *a, const struct m2msec_keid *b);

/*
 * @spec TS-0003 10.3.5 (Key Identifier), 10.5 (KpsaID), 10.6 (KmID)
 * "<relative>@<fqdn>", relative part: letters, digits, '.', '_', '-' (sec:relKeyID).
 */
struct m2msec_keyref {
    char rel[M2MSEC_RELID_MAX + 1];
    char fqdn[M2MSEC_FQDN_MAX + 1];
};
int m2msec_keyref_parse(const char *s, struct m2msec_keyref *out, struct m2msec_error *err);
int m2msec_keyref_format(const char *rel, const char *fqdn, char *out, size_t outsz,
                         struct m2msec_error *err);
int m2msec_keyref_equal(const struct m2msec_keyref *a, const struct m2msec_keyref *b);

/*
 * oneM2M entity identifiers (TS-0001 7.2): CSE-ID "/<cse>" (SP-relative) or
 * "//<sp>/<cse>" (absolute); AE-ID "C..."/"S..." (AE-ID-Stem), "/<cse>/C..."
 * (SP-relative) or "//<sp>/<cse>/C..." (absolute). Characters are URI
 * unreserved plus '/', length <= M2MSEC_ID_MAX. 1 valid.
 */
int m2msec_cse_id_valid(const char *s);
int m2msec_ae_id_valid(const char *s);
/* CSE-ID or AE-ID. */
int m2msec_entity_id_valid(const char *s);
/* KpmID: opaque but bounded printable ASCII (0x21..0x7e), 1..M2MSEC_ID_MAX. */
int m2msec_kpm_id_valid(const char *s);

/* @spec TS-0003 10.4 Credential-ID = "<credIDTypeID>-<value>" */
enum m2msec_cred_type {
    M2MSEC_CRED_KPM = 10,
    M2MSEC_CRED_KM = 11,
    M2MSEC_CRED_SAEF_SYMM = 12,
    M2MSEC_CRED_RAW_PK = 30,
    M2MSEC_CRED_DEVICE_CERT = 31,
    M2MSEC_CRED_CSE_CERT = 32,
    M2MSEC_CRED_AE_CERT = 33,
    M2MSEC_CRED_NODE_CERT = 34,
};
int m2msec_credential_id_format(unsigned type, const char *value, char *out, size_t outsz,
                                struct m2msec_error *err);
/* *value points into s. DEFECT-16: the value part is accepted verbatim. */
int m2msec_credential_id_parse(const char *s, unsigned *type, const char **value,
                               struct m2msec_error *err);

/* m2m:suid values (TS-0004 6.3.4.2.39). 1 when the value is defined. */
int m2msec_suid_valid(unsigned suid);

#endif
