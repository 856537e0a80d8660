/*
 * store/reg.c - what the MEF and MAF Client Registration stores share.
 *
 * Layer: store (private, declared in store_int.h). mef.c and maf.c keep their
 * registrations in tables of their own schema kind; the rules they share live
 * here, and each caller passes one of its own static statements (SQL is never
 * built at run time, so the cache keys stay the statements' addresses).
 */
#include <stdint.h>

#include <sqlite3.h>

#include "store/store_int.h"
#include "util/error.h"

int
m2msec_db_hex32(const char *s)
{
    size_t i;

    for (i = 0; i < 32; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[32] == '\0';
}

/*
 * @spec TS-0003 8.3.5.2.3 and 8.8.2.3: one live registration per administrating
 * stakeholder per client. FQDNs compare ASCII case-insensitively (the
 * statement's COLLATE NOCASE).
 */
int
m2msec_db_reg_conflict(struct m2msec_db *db, const char *sql_conflict, const char *owner,
                       const char *admin_fqdn, int64_t now, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_conflict, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, owner, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, admin_fqdn, err) == -1 ||
        m2msec_db_bind_int64(db, st, 3, now, err) == -1) {
        goto out;
    }
    found = m2msec_db_step_row(db, st, "checking registrations", err);
    if (found == -1) {
        goto out;
    }
    if (found) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT,
                          "a registration for %s exists", admin_fqdn);
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}
