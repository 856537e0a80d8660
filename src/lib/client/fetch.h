/*
 * client/fetch.h - the Enrolment Target's fetchCredentials client (internal).
 *
 * Layer: client (private to libm2msec and the daemons built from its
 * sources). One exchange shared by every Enrolment Target: mafd fetching Km
 * (SUID 21) and Entity B's resolver fetching Kpsa (SUID 22).
 */
#ifndef M2MSEC_CLIENT_FETCH_H
#define M2MSEC_CLIENT_FETCH_H

#include "codec/mef_msg.h"
#include "util/error.h"
#include "util/secret.h"

/*
 * How the target reaches and authenticates to the MEF's Enrolment Target
 * service. Exactly one credential: a certificate (cert_file, key_file, with
 * the MEF's certificate verified against ca_file for the name mef_fqdn), or a
 * PSK (psk_id, psk: a key configured for this target at the MEF; the MEF is
 * then authenticated by knowing it). Everything is borrowed for the call.
 */
struct client_fetch_opts {
    const char *hostport; /* the MEF's target service, "host:port" */
    const char *mef_fqdn; /* SNI, Host header, and the name in the MEF's certificate */
    const char *origin;   /* X-M2M-Origin: the target id the MEF is configured with */
    unsigned timeout_ms;  /* connect, handshake and each read or write; 0: the default */
    const char *cert_file;
    const char *key_file;
    const char *ca_file;
    const char *psk_id;
    const struct m2msec_secret *psk;
};

/*
 * @spec TS-0003 8.3.2.1 "Use of Remotely Provisioned Credential": GET
 * /fetchCredentials/<keid>/<suid> on one connection. 0 with *out filled
 * (the caller clears it with m2msec_fetch_resp_clear) when the MEF answered
 * 2000 with Status true. -1 otherwise, *out cleared: M2MSEC_ERR_REFUSED with
 * err->rsc = the MEF's status when it refused; any other code when the
 * exchange itself failed (connection, handshake, a response that does not
 * echo our X-M2M-RI or cannot be decoded).
 */
int client_fetch_credentials(const struct client_fetch_opts *o, const char *keid, unsigned suid,
                             struct m2msec_fetch_resp *out, struct m2msec_error *err);

#endif
