/*
 * store/maf_cert.h - mafd's certificate clients (TS-0003 8.8.2.2), an
 * addition to the MAF store of store/maf.c.
 *
 * Layer: store. A MAF client that authenticates with a certificate has no
 * Km and no KmID (8.8.2.2: those belong to the PSK MAF Handshake), but its
 * MAF Client Registrations and key registrations need an owner row. It gets
 * a maf_client row of its own kind: suid column M2MSEC_MAF_SUID_CERT (not a
 * TS-0004 SUID: the column tells the client kinds apart), keid column = its
 * Credential-ID (10.4; "3x-...", never a KeID), kmid_rel an internal owner
 * key that is never sent, and a random Km sealed like any other that nobody
 * holds. mafd refuses PSK handshakes naming such a row (serve.c), so that Km
 * is never used; no schema change is needed.
 */
#ifndef M2MSEC_STORE_MAF_CERT_H
#define M2MSEC_STORE_MAF_CERT_H

#include <stdint.h>

#include "store/store.h"
#include "util/error.h"

#define M2MSEC_MAF_SUID_CERT 30u

/*
 * The owner row of the certificate client cred_id, created from fresh
 * (kmid_rel: 32 lowercase hex; client_id; km; expires; created) when there is
 * no live one, in one transaction. kmid_rel receives the row's key. 
 * INVALID_ARGUMENT for malformed input.
 */
int m2msec_maf_cert_client(struct m2msec_db *db, const char *cred_id,
                           const struct m2msec_maf_client_rec *fresh, int64_t now,
                           char kmid_rel[33], struct m2msec_error *err);

#endif
