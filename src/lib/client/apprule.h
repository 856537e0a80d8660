/*
 * client/apprule.h - Entity B's serviceSubscribedAppRule-shaped table: which
 * App-IDs and AE-IDs a credential may register as an AE.
 *
 * Layer: client, I/O-free apart from m2msec_apprule_load_file. Used by the
 * reference Entity B (client/cse.c); unit-tested by tests/unit/test_apprule.c.
 *
 * @spec TS-0003 8.2.1 (Entity B determines the AE-IDs allowed for a
 * Credential-ID from <serviceSubscribedAppRule> resources; seed 004 8.2.1)
 * and 8.3.1.2 NOTE 3/4: one rule has the TS-0004 short names apci
 * (applicableCredIDs: exact Credential-IDs of TS-0003 10.4, kept verbatim),
 * aai (allowedApp-IDs) and aae (allowedAEs). App-ID and AE-ID entries are
 * exact values or patterns ending in one '*' that matches any rest ("C*",
 * "Rmyapp*"; "*" alone matches everything); a '*' anywhere else is refused.
 * A registration (Credential-ID, App-ID, AE-ID) is allowed when one rule lists
 * the Credential-ID and matches both ids.
 */
#ifndef M2MSEC_CLIENT_APPRULE_H
#define M2MSEC_CLIENT_APPRULE_H

#include <stddef.h>

#include "util/error.h"

#define M2MSEC_APPRULE_MAX      256 /* rules in one table */
#define M2MSEC_APPRULE_LIST_MAX 32  /* entries in one apci / aai / aae list */
#define M2MSEC_APPRULE_LINE_MAX 4096

struct m2msec_apprule_table;

struct m2msec_apprule_table *m2msec_apprule_table_new(void);
void m2msec_apprule_table_free(struct m2msec_apprule_table *t);
size_t m2msec_apprule_count(const struct m2msec_apprule_table *t);

/*
 * Add one rule. Every list needs 1..M2MSEC_APPRULE_LIST_MAX entries:
 * Credential-IDs "<type>-<value>" (10.4: a decimal type then '-'), App-ID and
 * AE-ID patterns as above; each entry printable ASCII without space or ',',
 * at most M2MSEC_ID_MAX bytes. INVALID_ARGUMENT naming the bad entry, or
 * TOO_LARGE when the table is full.
 */
int m2msec_apprule_add(struct m2msec_apprule_table *t, const char *const *cred_ids, size_t ncred,
                       const char *const *app_ids, size_t napp, const char *const *ae_ids,
                       size_t nae, struct m2msec_error *err);
/*
 * Add the rule written "CRED-IDS:APP-IDS:AE-IDS", each a comma-separated
 * list. Split at the last two ':' (Credential-IDs such as 30-ni:///... and
 * Absolute AE-IDs in URI form contain ':'; App-IDs and AE-ID patterns do not).
 */
int m2msec_apprule_add_spec(struct m2msec_apprule_table *t, const char *spec,
                            struct m2msec_error *err);
/*
 * One rule per line in the form of m2msec_apprule_add_spec; blank lines and
 * lines starting with '#' are skipped; surrounding blanks are trimmed. On a
 * bad line the error names path:line, and no rule of the file is kept.
 */
int m2msec_apprule_load_file(struct m2msec_apprule_table *t, const char *path,
                             struct m2msec_error *err);

/* 1 when the pattern is well formed (see above), else 0. */
int m2msec_apprule_pattern_valid(const char *p);
/* 1 when value matches pattern (exact, or the prefix before a final '*'). */
int m2msec_apprule_pattern_match(const char *pattern, const char *value);
/*
 * 1 when one rule lists cred_id and allows both app_id and ae_id; 0
 * otherwise (also for NULL arguments or an empty table).
 */
int m2msec_apprule_allows(const struct m2msec_apprule_table *t, const char *cred_id,
                          const char *app_id, const char *ae_id);

#endif
