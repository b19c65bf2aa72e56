/* ClearEpoch.pml: `clear security flow session`. xpfd's side is
 * WorkerManager.clearSessions (Sources/Supervisor/Workers.swift, called by the control
 * handler in Sources/Supervisor/Daemon.swift): for every worker block it stores
 * clear_requested + 1, then, until every partition's clear_done equals what it stored
 * or 2 s pass (an error reply naming how many partitions lag), it repeats: reap()
 * (dead workers become EXITED, or FAILED after exit code 2), tick() (restarts the
 * reaped ones that are not FAILED and whose backoff is over: spawn stores STARTING and
 * leaves both clear fields as they are), then per partition: clear_done equals the
 * request, done; else a FAILED worker whose process is reaped (never restarted, so
 * xpfd owns its partition) has its partition cleared by xpfd itself
 * (SessionPartition.removeAll) and clear_done stored; else the partition lags. The
 * worker's side is the loop of Sources/Worker/main.swift: between batches it loads
 * clear_requested and, when it differs from its clear_done, removes every session of
 * its own partition (SessionPartition.removeAll) and stores clear_done = the value
 * loaded; a successor meets a pending request in its first loop iteration, before any
 * batch. Checked by tools/model-check.
 *
 * An earlier version of clearSessions waited only for RUNNING workers and neither
 * reaped nor restarted while it waited: it reported success while a STARTING, EXITED
 * (awaiting restart) or FAILED worker's partition still held sessions that existed at
 * the request. MUTANT_RUNNING_ONLY below reproduces it.
 *
 * Abstraction
 * - NWORKERS workers, RECS session records per partition; a record is LIVE or not (the
 *   insert and remove steps inside the session table are SessionTable.pml's business:
 *   here a removal is one step). A batch may create a session in its partition.
 * - Each step holds one access to a shared word (a request, a done, a worker state, a
 *   record); Spin explores every interleaving of those steps under sequential
 *   consistency. Memory ordering (clear_requested release/acquire, clear_done release/
 *   acquire) is not checked here: that is the ThreadSanitizer stage. xpfd's poll of a
 *   partition is one step: it loads clear_done, then reads its own slot (failed, pid).
 * - xpfd is one single-threaded process: its reap, restart, clear and takeover never
 *   overlap. reap() is one step (waitpid until none: a worker dying during it is reaped
 *   now or next time, as if it died before or after). tick() restarts each due worker
 *   or leaves it to a later tick (the crash-loop backoff); the 2 s timeout is a
 *   nondeterministic give-up after any poll that found a lagging partition. xpfd does
 *   not die here (its workers die with it, R-1.8).
 * - Process death: a worker dies before any of its steps (mid-removal included); at
 *   start-up (before it stores RUNNING) it may instead exit with code 2 (the only place
 *   the worker calls fail(2, ...)): at most MAX_DEATHS deaths of either kind. Its state
 *   stays STARTING/RUNNING until xpfd reaps it (EXITED, or FAILED after code 2); xpfd
 *   restarts an EXITED one at most MAX_RESTARTS times, inside the clear's wait or out
 *   of it, and never a FAILED one. A spawn whose fork/exec fails (EXITED, retried in
 *   1 s) is a worker that dies before its first step.
 *
 * Properties (assert)
 * - Only a partition's owner frees its records: a worker only its own partition's, xpfd
 *   only a partition whose worker process is gone and will not be restarted (and a
 *   successor is never spawned while its predecessor lives).
 * - clear_done never runs ahead of the removals: whenever a partition's clear_done has
 *   reached a request, none of its sessions that existed when that request was raised
 *   is left (checked before every batch).
 * - When xpfd reports success, every session of every partition that existed when the
 *   clear was requested of it is gone, whatever the state of its worker (RUNNING,
 *   STARTING, EXITED awaiting restart, FAILED).
 *
 * Mutants (each must fail verification)
 * - MUTANT_DONE_BEFORE_REMOVAL: the worker stores clear_done, then removes the sessions.
 * - MUTANT_CLEAR_WHOLE_TABLE: the worker removes every LIVE record of the table, not
 *   only its partition's.
 * - MUTANT_RESTART_SKIPS_PENDING: spawn stores clear_done = clear_requested ("a new
 *   worker has nothing pending"), so a restarted worker skips a pending clear.
 * - MUTANT_RUNNING_ONLY: the earlier clearSessions: no reap or restart inside the wait,
 *   success once every RUNNING worker's clear_done equals the request; the other
 *   partitions are not counted.
 * - MUTANT_TAKE_OVER_NOT_RUNNING: xpfd clears a lagging partition itself whenever its
 *   worker's state word is not RUNNING, instead of only a reaped FAILED worker's: it
 *   frees records while a STARTING worker owns them.
 * Not a mutant: xpfd not reaping and restarting inside the wait. A dead worker's
 * partition then lags until the 2 s timeout (an error reply, not a false success), so
 * it verifies clean against these safety properties.
 */
/* mutants: MUTANT_DONE_BEFORE_REMOVAL MUTANT_CLEAR_WHOLE_TABLE MUTANT_RESTART_SKIPS_PENDING MUTANT_RUNNING_ONLY MUTANT_TAKE_OVER_NOT_RUNNING */
/* cc-flags: -O2 -DSAFETY */
/* pan-flags: -m10000 */

#define NWORKERS     2
#define RECS         2          /* session records per partition */
#define NRECS        4          /* NWORKERS * RECS */
#define MAX_CLEARS   2          /* clear commands per run */
#define MAX_DEATHS   2          /* worker deaths (crash, SIGKILL or exit code 2) per run */
#define MAX_RESTARTS 2          /* respawns per run */

/* xpf_worker_state */
#define STARTING     1
#define RUNNING      2
#define EXITED       3
#define FAILED       4

/* Shared: the region. */
byte clearRequested[NWORKERS];  /* xpfd stores (release), the worker loads (acquire) */
byte clearDone[NWORKERS];       /* the worker, or xpfd for a FAILED worker's partition,
                                   stores (release) after the removals; xpfd loads (acquire) */
byte state[NWORKERS];           /* xpfd (STARTING/EXITED/FAILED), worker (RUNNING) */
bit live[NRECS];                /* a LIVE session record: its partition's owner writes it */

/* xpfd's own memory: WorkerManager.slots. */
bit hasPid[NWORKERS];           /* slots[q].pid != 0: a child xpfd has not reaped */
bit failed[NWORKERS];           /* slots[q].failed: exited with code 2, never restarted */
bit exit2[NWORKERS];            /* the kernel's: waitpid will return exit code 2 */

/* Ghost. */
bit old[NRECS];                 /* LIVE when the latest clear was requested of its partition */
byte oldRequest[NWORKERS];      /* the request number of that clear, per partition */
bit alive[NWORKERS];            /* a worker process of this partition exists */
byte nDead, nExited, deaths, restarts, clears;

/* clear_done of partition q has reached the latest request: none of its old sessions is left */
inline assertClearedIfDone(q, r) {
    r = q * RECS;
    do
    :: r < (q + 1) * RECS -> assert(clearDone[q] < oldRequest[q] || !old[r]); r++
    :: else -> break
    od;
    r = 0
}

/* SessionPartition.removeAll, one record: r is partition q's */
inline freeRecord(r) {
    if
    :: live[r] -> live[r] = 0; old[r] = 0
    :: else
    fi
}

/* The worker process dies here (crash or SIGKILL): its state word is untouched. */
inline die() {
    d_step { deaths < MAX_DEATHS -> deaths++; alive[q] = 0; nDead++ }
    goto gone
}

proctype Worker(byte q) {
    byte request, r;
    bit pending;
    /* start-up (attach, Pipeline.forWorker, sockets, UMEM), then RUNNING */
    if
    :: die()
    :: /* fail(2, ...): configuration/ABI error */
        d_step { deaths < MAX_DEATHS -> deaths++; exit2[q] = 1; alive[q] = 0; nDead++ }
        goto gone
    :: state[q] = RUNNING
    fi;
    do
    :: /* between batches: clear_requested (acquire) against its own clear_done */
        if
        :: die()
        :: d_step { request = clearRequested[q]; pending = (request != clearDone[q]) }
        fi;
        if
        :: pending ->
#ifdef MUTANT_DONE_BEFORE_REMOVAL
            if
            :: die()
            :: clearDone[q] = request
            fi;
#endif
            /* SessionPartition.removeAll: every LIVE record of this partition */
#ifdef MUTANT_CLEAR_WHOLE_TABLE
            r = 0;
#else
            r = q * RECS;
#endif
            do
#ifdef MUTANT_CLEAR_WHOLE_TABLE
            :: r < NRECS ->
#else
            :: r < (q + 1) * RECS ->
#endif
                if
                :: die()
                :: d_step { assert(r / RECS == q || !live[r]); freeRecord(r); r++ }
                fi
            :: else -> r = 0; break
            od;
#ifndef MUTANT_DONE_BEFORE_REMOVAL
            if
            :: die()
            :: clearDone[q] = request
            fi;
#endif
            atomic { pending = 0; request = 0 }
        :: else -> request = 0
        fi;
        /* a batch: the partition's sessions are in use (lookups, counters, ageing), and
         * a first packet may create one */
        if
        :: die()
        :: d_step {
                assertClearedIfDone(q, r);
                r = q * RECS;
                do
                :: r < (q + 1) * RECS && live[r] -> r++
                :: r < (q + 1) * RECS && !live[r] -> live[r] = 1; break
                :: else -> break
                od;
                r = 0
            }
        :: d_step { assertClearedIfDone(q, r) }
        fi
    od;
gone:
    /* a process that ended stays in Spin's state vector: forget its locals */
    atomic { request = 0; pending = 0; r = 0 }
}

inline spawn(q) {
    /* WorkerManager.spawn: STARTING before the child exists; the clear fields stay */
    d_step {
        assert(!alive[q]);
#ifdef MUTANT_RESTART_SKIPS_PENDING
        clearDone[q] = clearRequested[q];
#endif
        state[q] = STARTING; alive[q] = 1; hasPid[q] = 1
    }
    run Worker(q)
}

/* reap(): every exited child; code 2 marks the slot failed (never restarted) */
inline reap() {
    d_step {
        q = 0;
        do
        :: q < NWORKERS ->
            if
            :: hasPid[q] && !alive[q] ->
                hasPid[q] = 0; nDead--;
                if
                :: exit2[q] -> exit2[q] = 0; failed[q] = 1; state[q] = FAILED
                :: else -> state[q] = EXITED; nExited++
                fi
            :: else
            fi;
            q++
        :: else -> q = 0; break
        od
    }
}

/* tick(): restarts each reaped, not failed worker whose backoff is over */
inline tick() {
    q = 0;
    do
    :: q < NWORKERS ->
        if
        :: !hasPid[q] && !failed[q] && restarts < MAX_RESTARTS ->
            if
            :: d_step { nExited--; restarts++ }; spawn(q)
            :: skip     /* backing off: a later tick */
            fi
        :: else
        fi;
        q++
    :: else -> q = 0; break
    od
}

active proctype Xpfd() {
    byte q, r, lagging, want[NWORKERS];
    bit takeOver;
    q = 0;
    do
    :: q < NWORKERS -> spawn(q); q++
    :: else -> q = 0; break
    od;
end:
    do
    :: clears < MAX_CLEARS ->
        /* clearSessions: clear_requested + 1 in every worker block (release); the
         * sessions of the partition that exist now are the ones to remove */
        clears++;
        do
        :: q < NWORKERS ->
            d_step {
                want[q] = clearRequested[q] + 1;
                r = q * RECS;
                do :: r < (q + 1) * RECS -> old[r] = live[r]; r++ :: else -> r = 0; break od;
                oldRequest[q] = want[q];
                clearRequested[q] = want[q];
                q++
            }
        :: else -> q = 0; break
        od;
        /* the wait: until every partition is clear, or 2 s pass */
        do
        ::
#ifndef MUTANT_RUNNING_ONLY
            reap();
            tick();
#endif
            /* every partition: done, taken over, or lagging */
            do
            :: q < NWORKERS ->
                d_step {
                    if
                    :: clearDone[q] == want[q]
#ifdef MUTANT_RUNNING_ONLY
                    :: clearDone[q] != want[q] && state[q] != RUNNING   /* not counted */
                    :: clearDone[q] != want[q] && state[q] == RUNNING -> lagging++
#else
#ifdef MUTANT_TAKE_OVER_NOT_RUNNING
                    :: clearDone[q] != want[q] && state[q] != RUNNING -> takeOver = 1
                    :: clearDone[q] != want[q] && state[q] == RUNNING -> lagging++
#else
                    :: clearDone[q] != want[q] && failed[q] && !hasPid[q] -> takeOver = 1
                    :: clearDone[q] != want[q] && !(failed[q] && !hasPid[q]) -> lagging++
#endif
#endif
                    fi
                }
                if
                :: takeOver ->
                    /* nobody owns the partition until xpfd restarts its worker: clear it here */
                    r = q * RECS;
                    do
                    :: r < (q + 1) * RECS -> d_step { assert(!alive[q]); freeRecord(r); r++ }
                    :: else -> d_step { r = 0; clearDone[q] = want[q]; takeOver = 0 }; break
                    od
                :: else
                fi;
                q++
            :: else -> q = 0; break
            od;
            if
            :: lagging == 0 ->
                /* success: "N sessions cleared" */
                d_step {
                    r = 0;
                    do :: r < NRECS -> assert(!old[r]); r++ :: else -> r = 0; break od
                }
                break
            :: lagging > 0 -> lagging = 0     /* poll again */
            :: lagging > 0 -> lagging = 0; break  /* 2 s passed: "error: N of M worker partitions ..." */
            fi
        od;
        atomic { q = 0; do :: q < NWORKERS -> want[q] = 0; q++ :: else -> q = 0; break od }
    :: nDead > 0 -> reap()
    :: nExited > 0 && restarts < MAX_RESTARTS -> tick()
    od
}
