/*
 * mefd/commit.c - group commit of Enrolment Keys.
 *
 * Layer: daemon (mefd), over store and srv/log. Every enrolment must have its
 * Ke durable before the response that reveals the KeID (TS-0003 8.3.2.1; see
 * serve.c). Done one transaction per enrolment, each Ke costs an fsync and the
 * workers queue up behind SQLite's single writer. Here one committer thread
 * with its own store connection writes whatever the workers have queued (up to
 * COMMIT_BATCH_MAX items) as one transaction with one COMMIT, while each worker
 * blocks until the transaction holding its item has committed. There is no
 * artificial delay: a batch forms from the requests that arrive while the
 * previous commit is in flight, so a lone enrolment commits at once.
 *
 * Requests live on the caller's stack (the caller waits for the answer), so the
 * queue holds pointers. Lifetime: start before the workers run; stop after
 * they stopped (what is queued is committed first; later requests fail at
 * once); free once no thread can call mefd_ke_commit any more.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "mefd.h"
#include "util/mem.h"

/* Items per transaction: bounds the time the write lock is held. */
#define COMMIT_BATCH_MAX 64
/* Requests waiting for the committer. Each worker has at most one outstanding,
 * so with the default worker count the queue is never full. */
#define COMMIT_QUEUE_MAX 256

struct commit_req {
    struct m2msec_ke_put put; /* the committer fills put.rv and put.err */
    int done;
};

struct mefd_committer {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* committer: work queued or stop requested */
    pthread_cond_t space_cv; /* callers: room in the queue */
    pthread_cond_t done_cv;  /* callers: a batch finished */
    struct commit_req *queue[COMMIT_QUEUE_MAX];
    size_t qhead;
    size_t qlen;
    int stopping; /* no new requests; the thread exits once the queue is empty */
    int started;  /* thread running (joined by stop) */
    pthread_t th;
    struct m2msec_db *db; /* used by the committer thread only */
    /* The batch being committed: the committer's own, outside the lock. */
    struct commit_req *taken[COMMIT_BATCH_MAX];
    struct m2msec_ke_put items[COMMIT_BATCH_MAX];
};

/* Take up to COMMIT_BATCH_MAX queued requests; 0 when stopping with nothing left. */
static size_t
take_batch(struct mefd_committer *c)
{
    size_t n = 0;

    pthread_mutex_lock(&c->mu);
    while (c->qlen == 0 && !c->stopping) {
        pthread_cond_wait(&c->work_cv, &c->mu);
    }
    while (c->qlen > 0 && n < COMMIT_BATCH_MAX) {
        c->taken[n++] = c->queue[c->qhead];
        c->qhead = (c->qhead + 1) % COMMIT_QUEUE_MAX;
        c->qlen--;
    }
    if (n > 0) {
        pthread_cond_broadcast(&c->space_cv);
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Whole-batch failures reach every caller, which logs its own error: DEBUG here. */
static void
log_batch(size_t n, size_t failed, const struct m2msec_error *err, int rv)
{
    char items[24], nfailed[24];

    if (!srv_log_enabled(SRV_LOG_DEBUG)) {
        return;
    }
    (void)snprintf(items, sizeof(items), "%zu", n);
    (void)snprintf(nfailed, sizeof(nfailed), "%zu", failed);
    if (rv == -1) {
        srv_log_event(SRV_LOG_DEBUG, "ke_batch", "items", items, "failed", nfailed, "error",
                      m2msec_error_msg(err), NULL);
    } else {
        srv_log_event(SRV_LOG_DEBUG, "ke_batch", "items", items, "failed", nfailed, NULL);
    }
}

static void *
committer_main(void *arg)
{
    struct mefd_committer *c = arg;
    struct m2msec_error err;
    size_t n, i, failed;
    int rv;

    while ((n = take_batch(c)) > 0) {
        for (i = 0; i < n; i++) {
            c->items[i] = c->taken[i]->put;
        }
        m2msec_error_clear(&err);
        /* The fsync happens here, with the lock released: new requests queue up
         * meanwhile and form the next batch. */
        rv = m2msec_mef_ke_put_batch(c->db, c->items, n, &err);
        failed = 0;
        pthread_mutex_lock(&c->mu);
        for (i = 0; i < n; i++) {
            c->taken[i]->put.rv = c->items[i].rv;
            m2msec_error_copy(&c->taken[i]->put.err, &c->items[i].err);
            c->taken[i]->done = 1;
            if (c->items[i].rv != 0) {
                failed++;
            }
        }
        pthread_cond_broadcast(&c->done_cv);
        pthread_mutex_unlock(&c->mu);
        log_batch(n, failed, &err, rv);
    }
    return NULL;
}

struct mefd_committer *
mefd_committer_start(const struct mefd_dir *d, struct m2msec_error *err)
{
    struct mefd_committer *c = NULL;
    struct mefd_committer *ret = NULL;
    sigset_t block, old;
    int masked = 0;
    int inited = 0;
    int r;

    c = m2msec_calloc(1, sizeof(*c));
    if (c == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "starting the Ke committer");
        goto out;
    }
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "starting the Ke committer: mutex");
        goto out;
    }
    if (pthread_cond_init(&c->work_cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "starting the Ke committer: condvar");
        goto out;
    }
    if (pthread_cond_init(&c->space_cv, NULL) != 0) {
        pthread_cond_destroy(&c->work_cv);
        pthread_mutex_destroy(&c->mu);
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "starting the Ke committer: condvar");
        goto out;
    }
    if (pthread_cond_init(&c->done_cv, NULL) != 0) {
        pthread_cond_destroy(&c->space_cv);
        pthread_cond_destroy(&c->work_cv);
        pthread_mutex_destroy(&c->mu);
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "starting the Ke committer: condvar");
        goto out;
    }
    inited = 1;
    /* Opened here so a store problem stops start-up; the connection is then used
     * by the committer thread alone (SQLite's multi-thread mode allows the move). */
    c->db = mefd_db_open(d, err);
    if (c->db == NULL) {
        goto out;
    }
    /* Like the server's threads: signals go to the main thread, never here. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGPIPE);
    masked = pthread_sigmask(SIG_BLOCK, &block, &old) == 0;
    r = pthread_create(&c->th, NULL, committer_main, c);
    if (masked) {
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (r != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "starting the Ke committer: thread: %s",
                          strerror(r));
        goto out;
    }
    c->started = 1;
    ret = c;
    c = NULL;
out:
    if (c != NULL) {
        m2msec_db_close(c->db);
        if (inited) {
            pthread_cond_destroy(&c->done_cv);
            pthread_cond_destroy(&c->space_cv);
            pthread_cond_destroy(&c->work_cv);
            pthread_mutex_destroy(&c->mu);
        }
        m2msec_free(c);
    }
    return ret;
}

void
mefd_committer_stop(struct mefd_committer *c)
{
    int join;

    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    join = c->started;
    c->started = 0;
    /* The committer drains the queue; callers waiting for room give up. */
    pthread_cond_broadcast(&c->work_cv);
    pthread_cond_broadcast(&c->space_cv);
    pthread_mutex_unlock(&c->mu);
    if (join) {
        (void)pthread_join(c->th, NULL);
    }
}

void
mefd_committer_free(struct mefd_committer *c)
{
    if (c == NULL) {
        return;
    }
    mefd_committer_stop(c);
    m2msec_db_close(c->db);
    pthread_cond_destroy(&c->done_cv);
    pthread_cond_destroy(&c->space_cv);
    pthread_cond_destroy(&c->work_cv);
    pthread_mutex_destroy(&c->mu);
    m2msec_free(c);
}

/* @spec TS-0003 8.3.2.1 Ke is stored (durably) before the KeID is handed out */
int
mefd_ke_commit(struct mefd_committer *c, const char *kpm_id, const uint8_t rel[16],
               const struct m2msec_secret *ke, int64_t created, int64_t expires,
               struct m2msec_error *err)
{
    struct commit_req req;
    int queued = 0;
    int rv = -1;

    memset(&req, 0, sizeof(req));
    if (c == NULL || rel == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Ke commit needs a committer and an id");
    }
    req.put.kpm_id = kpm_id;
    memcpy(req.put.rel, rel, sizeof(req.put.rel));
    req.put.ke = ke;
    req.put.created = created;
    req.put.expires = expires;

    pthread_mutex_lock(&c->mu);
    while (c->qlen == COMMIT_QUEUE_MAX && !c->stopping) {
        pthread_cond_wait(&c->space_cv, &c->mu);
    }
    if (!c->stopping) {
        c->queue[(c->qhead + c->qlen) % COMMIT_QUEUE_MAX] = &req;
        c->qlen++;
        queued = 1;
        pthread_cond_signal(&c->work_cv);
        /* Once queued, the committer answers even while stopping: it drains first. */
        while (!req.done) {
            pthread_cond_wait(&c->done_cv, &c->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);

    if (!queued) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "Ke committer stopped");
        goto out;
    }
    if (req.put.rv != 0) {
        m2msec_error_copy(err, &req.put.err);
        goto out;
    }
    rv = 0;
out:
    return rv;
}
