/*
 * proto/exchange.h - the Enrolment Exchange of the PPSK / certificate RSPF, I/O-free.
 *
 * Layer: proto. Shared by mefd (plans the instructions, validates reports) and
 * libm2msec (decides how to answer an instruction). No clock, no I/O: callers
 * pass times in.
 *
 * @spec TS-0003 8.3.2.1 "Enrolment Exchange": the Enrolee indicates what it is
 * prepared to do (table 8.3.2.1-1); the MEF answers with instructions in the
 * order certificate enrolment, MAF enrolment (one per MAF), remote management
 * (tables 8.3.2.1-2..4), each followed by a report from the Enrolee; then the
 * MEF signals the end and closes the session. Which instructions are sent is
 * the intersection of the Enrolee's indications and the MEF's per-Enrolee
 * policy (the processing is left open by NOTE 4 of 8.3.2.1).
 *
 * @spec seed 000 steps 5-10 [PROJECT]: an IBC enrolment instruction comes
 * last, when the Enrolee indicated ibcEnrolmentInd and the MEF has a PKG
 * (policy->ibc); the Enrolee then requests its credential in the same step
 * (m2msec_exchange_ibc_claim) before it reports.
 */
#ifndef M2MSEC_PROTO_EXCHANGE_H
#define M2MSEC_PROTO_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "codec/mef_msg.h"
#include "util/error.h"

#define M2MSEC_EXCHANGE_MAX_INSTR 10
#define M2MSEC_EXCHANGE_ID_LEN    32

/* Paths of our HTTP mapping (docs/PROTOCOL.md). One table, here. */
#define M2MSEC_PATH_MEF_BASE  "mef"
#define M2MSEC_PATH_ENROLMENT "enrolment"
#define M2MSEC_PATH_REG       "reg"
#define M2MSEC_PATH_REG_CFG   "cfg"
#define M2MSEC_PATH_MAF_BASE  "maf"
#define M2MSEC_PATH_IBC       "ibc" /* POST /mef/enrolment/<exchangeID>/ibc [PROJECT] */
#define M2MSEC_PATH_PKG       "pkg" /* GET /mef/pkg [PROJECT] */

struct m2msec_exchange {
    char id[M2MSEC_EXCHANGE_ID_LEN + 1];
    struct m2msec_instruction instr[M2MSEC_EXCHANGE_MAX_INSTR];
    size_t ninstr;
    unsigned step;     /* 1-based step of the last response sent */
    unsigned failures; /* instructions the Enrolee reported as failed */
    int ended;
    unsigned ibc_issued; /* step whose IBC credential was issued (0: none yet) */
};

/*
 * MEF side. Plan the instructions for an Enrolee: policy intersected with the
 * indications. id is the exchange id to use (caller-generated, random).
 * ke_expires bounds the lifetime offered with a MAF enrolment (TS-0003 10.7).
 */
int m2msec_exchange_plan(struct m2msec_exchange *x, const char *id,
                         const struct m2msec_enrolee_policy *policy,
                         const struct m2msec_enrol_req *ind, int64_t ke_expires,
                         struct m2msec_error *err);
/*
 * Fill resp (exchange id, step, instruction or end) for the next step and
 * advance. The caller adds the first-response fields (keID, keExpiry, enroleeID).
 */
int m2msec_exchange_next(struct m2msec_exchange *x, struct m2msec_enrol_resp *resp,
                         struct m2msec_error *err);
/* Validate a report against the current step (rsc 4000 wrong step, 4005 after the end). */
int m2msec_exchange_report(struct m2msec_exchange *x, const struct m2msec_enrol_report *r,
                           struct m2msec_error *err);
void m2msec_exchange_clear(struct m2msec_exchange *x);

/*
 * Enrolee side. Decide the report for a received instruction given what the
 * Enrolee indicated. An instruction the Enrolee did not indicate, or cannot
 * carry out, is reported as a failure with a reason; a MAF enrolment is
 * accepted (its parameters are kept for MAF Client Registration); a remote
 * management instruction is acknowledged.
 */
int m2msec_exchange_answer(const struct m2msec_enrol_req *ind, const struct m2msec_instruction *in,
                           unsigned step, struct m2msec_enrol_report *report,
                           struct m2msec_error *err);

/*
 * MEF side, IBC enrolment [PROJECT; seed 000 step 8]: 0 when step is the
 * current step and its instruction is an IBC enrolment not yet answered with a
 * credential (then marked issued); -1 otherwise (rsc 4000 wrong step or not an
 * IBC enrolment, 4105 already issued, 4005 after the end). A failed issuance
 * can be retried with m2msec_exchange_ibc_unmark.
 */
int m2msec_exchange_ibc_claim(struct m2msec_exchange *x, unsigned step, struct m2msec_error *err);
void m2msec_exchange_ibc_unmark(struct m2msec_exchange *x);

/* Build the three MAF URIs of a MAF Enrolment instruction from a MAF base URI. */
int m2msec_maf_instruction(const char *maf_base_uri, int64_t lifetime,
                           struct m2msec_instruction *out, struct m2msec_error *err);

#endif
