/*
 * tls/certid.h - certificate identifiers per flavour: validation, canonical
 * forms, subjectAltName encodings, RFC 6920 names and Credential-IDs.
 *
 * Layer: tls, internal to src/lib/tls (x509.c, pki.c) and its tests. Pure
 * string and DER work: no GnuTLS type, no I/O.
 *
 * @spec TS-0003 8.1.2.1, 8.1.2.5, 10.1.1.4-10.1.1.8 where each flavour's
 * identifier sits in the subjectAltName (the choices are recorded in certid.c
 * and docs/PROTOCOL.md "Certificate information and flavours"):
 *   FQDN     dNSName, or the host of a URI; DNS case rules
 *   CSE-ID   dNSName equal to the public domain name form of the CSE-ID
 *   AE-ID    URI equal to the Absolute AE-ID in full URI form
 *   Node-ID  URI: "urn:oid:<OID>" for an OID Node-ID, else the Node-ID URN
 *   device   otherName, type-id the M2M Device Indication ID arc, value the
 *            rest of the OID M2M Device ID as a DER RELATIVE-OID
 * A canonical form is what two equal identifiers have byte for byte; the
 * exact match of 8.1.2.5 is strcmp on canonical forms. Nothing with '*'
 * is ever an identifier (no wildcards, 10.1.1.5-10.1.1.8).
 */
#ifndef M2MSEC_TLS_CERTID_H
#define M2MSEC_TLS_CERTID_H

#include <stddef.h>
#include <stdint.h>

#include "tls/x509.h"
#include "util/error.h"

/* Where a subjectAltName value came from. */
enum m2msec_certid_kind {
    M2MSEC_CERTID_DNS = 1,  /* dNSName */
    M2MSEC_CERTID_URI = 2,  /* uniformResourceIdentifier */
    M2MSEC_CERTID_HWID = 3, /* otherName decoded to a dotted M2M Device ID */
};

/*
 * Check a configured identifier of flavour f (FQDN, CSE_ID, AE_ID, NODE_ID,
 * DEVICE, RAW) and write its canonical form to out. -1 with a reason in why.
 */
int m2msec_certid_canon(enum m2msec_cert_flavour f, const char *id, char *out, size_t outsz,
                        char *why, size_t whysz);

/*
 * Is the subjectAltName value (of kind) an identifier of flavour f? 1 with
 * its canonical form in out; 0 when it is of another kind, malformed, has a
 * wildcard, or does not fit.
 */
int m2msec_certid_of_san(enum m2msec_cert_flavour f, enum m2msec_certid_kind kind,
                         const char *value, char *out, size_t outsz);

/* A dotted OID: at least two arcs, decimal without leading zeros, first arc 0..2. */
int m2msec_certid_oid_valid(const char *s);

/*
 * Device hardware instance identifier <-> SAN otherName. The identifier is
 * the dotted OID M2M Device ID: M2MSEC_M2M_DEVICE_INDICATION_OID, then the
 * manufacturer, model and serial number arcs and an optional expanded arc.
 * encode: the DER RELATIVE-OID value of the otherName (its type-id is the
 * indication OID). decode: 0 and the dotted identifier when type_oid is the
 * indication OID and der a well-formed RELATIVE-OID of 3..4 arcs.
 */
int m2msec_certid_hwid_encode(const char *hwid, uint8_t *der, size_t dersz, size_t *derlen,
                              struct m2msec_error *err);
int m2msec_certid_hwid_decode(const char *type_oid, const uint8_t *der, size_t len, char *out,
                              size_t outsz);

/*
 * @spec TS-0003 10.1.2 a trusted public key identifier: RFC 6920
 * "ni:///<alg>;<base64url>" with alg sha-256 (32 bytes), sha-256-128 (16) or
 * sha-256-120 (15); no authority, no query. The digest lands in digest
 * (32 bytes of room) and its length in *len.
 */
int m2msec_certid_ni_parse(const char *s, uint8_t digest[32], size_t *len);

#endif
