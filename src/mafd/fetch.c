/*
 * mafd/fetch.c - the MAF as Enrolment Target: fetchCredentials from a MEF.
 *
 * Layer: daemon (mafd). Runs inside the PSK lookup of a client's handshake
 * (the worker blocks; other connections are served by other workers). One
 * request per connection through the library's shared client
 * (client/fetch.h): mutual TLS with the MAF's FQDN certificate, the MEF
 * verified against mef_ca with its FQDN, or TLS-PSK with the identity and key
 * mefs.conf gives for that MEF; then GET /fetchCredentials/<KeID>/21 with
 * X-M2M-Origin = the MAF FQDN (the target id the MEF is configured with).
 */
#include <string.h>

#include "client/fetch.h"
#include "codec/mef_msg.h"
#include "mafd.h"
#include "util/mem.h"

#define FETCH_SUID 21u

void
mafd_fetched_clear(struct mafd_fetched *f)
{
    m2msec_secret_free(f->km);
    m2msec_free(f->enrolee_id);
    memset(f, 0, sizeof(*f));
}

int
mafd_fetch_km(const struct mafd_dir *d, const struct mafd_mef *mef, const char *keid,
              struct mafd_fetched *out, struct m2msec_error *err)
{
    struct client_fetch_opts o;
    struct m2msec_fetch_resp fr = { 0 };
    int rv = -1;

    memset(out, 0, sizeof(*out));
    memset(&o, 0, sizeof(o));
    o.hostport = mef->hostport;
    o.mef_fqdn = mef->fqdn;
    o.origin = d->cfg.fqdn;
    o.timeout_ms = atomic_load(&d->live.io_timeout_ms);
    /* @spec TS-0003 8.3.2.1: the target authenticates to the MEF with its own credentials. */
    if (mef->psk != NULL) {
        o.psk_id = mef->psk_id;
        o.psk = mef->psk;
    } else {
        o.cert_file = d->cfg.cert_path;
        o.key_file = d->cfg.key_path;
        o.ca_file = d->mef_ca;
    }
    if (client_fetch_credentials(&o, keid, FETCH_SUID, &fr, err) == -1) {
        goto out;
    }
    out->km = fr.credential;
    fr.credential = NULL;
    out->enrolee_id = fr.enrolee_id;
    fr.enrolee_id = NULL;
    out->lifetime = fr.lifetime;
    rv = 0;
out:
    m2msec_fetch_resp_clear(&fr);
    return rv;
}
