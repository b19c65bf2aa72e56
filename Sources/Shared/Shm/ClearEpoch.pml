/* ClearEpoch.pml: `clear security flow session`. xpfd's side is
 * WorkerManager.clearSessions (Sources/Supervisor/Workers.swift, called by the control
 * handler in Sources/Supervisor/Daemon.swift): for every worker block it stores
 * clear_requested + 1, then polls until every RUNNING worker's clear_done equals what it
 * stored, or 2 s pass (an error reply). The worker's side is the loop of
 * Sources/Worker/main.swift: between batches it loads clear_requested and, when it
 * differs from its clear_done, removes every session of its own partition
 * (SessionPartition.removeAll) and stores clear_done = the value loaded. A restarted
 * worker meets a pending request in its first loop iteration, before any batch: spawn
 * leaves both fields as they are. Checked by tools/model-check.
 *
 * Abstraction
 * - NWORKERS workers, RECS session records per partition; a record is LIVE or not (the
 *   insert and remove steps inside the session table are SessionTable.pml's business:
 *   here a removal is one step). A batch may create a session in its partition.
 * - Each step holds one access to a shared word (a request, a done, a worker state, a
 *   record); Spin explores every interleaving of those steps under sequential
 *   consistency. Memory ordering (clear_requested release/acquire, clear_done release/
 *   acquire) is not checked here: that is the ThreadSanitizer stage. xpfd's loads of a
 *   worker's state and clear_done are one step: between them only the worker could
 *   change its state, from STARTING to RUNNING.
 * - xpfd is one single-threaded process: while clearSessions waits it neither reaps nor
 *   restarts. The 2 s timeout is a nondeterministic give-up after any poll.
 * - Process death: a worker dies before any of its steps (mid-removal included), at most
 *   MAX_DEATHS times; its state stays RUNNING until xpfd reaps it (EXITED), then xpfd
 *   restarts it (STARTING; the worker stores RUNNING), at most MAX_RESTARTS times.
 *
 * Properties (assert)
 * - No worker frees a record of another partition.
 * - clear_done never runs ahead of the removals: whenever a worker's clear_done has
 *   reached a request, no session of its partition that existed when that clear was
 *   requested is left (checked before every batch and when xpfd reports success).
 * - When xpfd reports success, every worker it counted (RUNNING, clear_done = request)
 *   has emptied its partition of the sessions that existed at the request.
 *
 * Finding (not fixed here: Workers.swift is not this model's to change): clearSessions
 * counts only RUNNING workers, so it reports success while a worker that is STARTING,
 * or EXITED waiting for its restart, or FAILED (never restarted), still holds in its
 * partition sessions that existed at the request; other workers' lookups still find
 * them (the reply direction of a flow arrives on another queue), a FAILED worker's
 * partition is never cleared, and the reply's count omits them. Compile with
 * -DFINDING_EVERY_PARTITION to assert the stronger claim (every session that existed at
 * the request is gone once xpfd reports success): Spin finds the counterexample
 * (shortest: worker 0 creates a session and dies, xpfd reaps it, worker 1 is still
 * STARTING; the clear raises both requests, counts no RUNNING worker, reports success,
 * and worker 0's session is still LIVE).
 *
 * Mutants (each must fail verification)
 * - MUTANT_DONE_BEFORE_REMOVAL: the worker stores clear_done, then removes the sessions.
 * - MUTANT_CLEAR_WHOLE_TABLE: the worker removes every LIVE record of the table, not
 *   only its partition's.
 * - MUTANT_RESTART_SKIPS_PENDING: spawn stores clear_done = clear_requested ("a new
 *   worker has nothing pending"), so a restarted worker skips a pending clear.
 */
/* mutants: MUTANT_DONE_BEFORE_REMOVAL MUTANT_CLEAR_WHOLE_TABLE MUTANT_RESTART_SKIPS_PENDING */
/* cc-flags: -O2 -DSAFETY */
/* pan-flags: -m10000 */

#define NWORKERS     2
#define RECS         2          /* session records per partition */
#define NRECS        4          /* NWORKERS * RECS */
#define MAX_CLEARS   2          /* clear commands per run */
#define MAX_DEATHS   2          /* worker deaths per run */
#define MAX_RESTARTS 2          /* respawns per run */

/* xpf_worker_state */
#define STARTING     1
#define RUNNING      2
#define EXITED       3

/* Shared: the region. */
byte clearRequested[NWORKERS];  /* xpfd stores (release), the worker loads (acquire) */
byte clearDone[NWORKERS];       /* the worker stores (release), xpfd loads (acquire) */
byte state[NWORKERS];           /* xpfd (STARTING/EXITED), worker (RUNNING) */
bit live[NRECS];                /* a LIVE session record: its owner writes it */

/* Ghost. */
bit old[NRECS];                 /* LIVE when the latest clear was requested */
byte oldRequest[NWORKERS];      /* the request number of that clear, per partition */
bit alive[NWORKERS];            /* a worker process exists */
bit hasPid[NWORKERS];           /* xpfd has not reaped it yet */
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

/* The worker process dies here (crash or SIGKILL): its state word is untouched. */
inline die() {
    d_step { deaths < MAX_DEATHS -> deaths++; alive[q] = 0; nDead++ }
    goto gone
}

proctype Worker(byte q) {
    byte request, r;
    bit pending;
    /* start-up (sockets, UMEM, partition), then RUNNING */
    if
    :: die()
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
                :: d_step {
                        if
                        :: live[r] -> assert(r / RECS == q); live[r] = 0; old[r] = 0
                        :: else
                        fi;
                        r++
                    }
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
#ifdef MUTANT_RESTART_SKIPS_PENDING
        clearDone[q] = clearRequested[q];
#endif
        state[q] = STARTING; alive[q] = 1; hasPid[q] = 1
    }
    run Worker(q)
}

active proctype Xpfd() {
    byte q, r, lagging, counted, want[NWORKERS];
    q = 0;
    do
    :: q < NWORKERS -> spawn(q); q++
    :: else -> q = 0; break
    od;
end:
    do
    :: clears < MAX_CLEARS ->
        /* clearSessions: the sessions that exist now are the ones to remove */
        d_step {
            clears++;
            r = 0;
            do :: r < NRECS -> old[r] = live[r]; r++ :: else -> r = 0; break od;
            do :: q < NWORKERS -> oldRequest[q] = clearRequested[q] + 1; q++ :: else -> q = 0; break od
        }
        /* clear_requested + 1 in every worker block (release) */
        do
        :: q < NWORKERS -> d_step { want[q] = clearRequested[q] + 1; clearRequested[q] = want[q]; q++ }
        :: else -> q = 0; break
        od;
poll:
        /* until every RUNNING worker's clear_done is what was requested of it */
        do
        :: q < NWORKERS ->
            d_step {
                if
                :: state[q] == RUNNING && clearDone[q] != want[q] -> lagging++
                :: state[q] == RUNNING && clearDone[q] == want[q] -> counted = counted | (1 << q)
                :: else
                fi;
                q++
            }
        :: else -> q = 0; break
        od;
        if
        :: lagging == 0 ->
            /* success: "N sessions cleared" */
            d_step {
                do
                :: q < NWORKERS ->
#ifdef FINDING_EVERY_PARTITION
                    r = q * RECS;
                    do :: r < (q + 1) * RECS -> assert(!old[r]); r++ :: else -> break od;
#else
                    if
                    :: counted & (1 << q) ->
                        r = q * RECS;
                        do :: r < (q + 1) * RECS -> assert(!old[r]); r++ :: else -> break od
                    :: else
                    fi;
#endif
                    assertClearedIfDone(q, r);
                    q++
                :: else -> q = 0; break
                od;
                counted = 0
            }
        :: lagging > 0 -> d_step { lagging = 0; counted = 0 }; goto poll
        :: lagging > 0 -> d_step { lagging = 0; counted = 0 }   /* 2 s passed: error reply */
        fi;
        d_step { q = 0; do :: q < NWORKERS -> want[q] = 0; q++ :: else -> q = 0; break od }
    :: /* reap(): every exited child */
        atomic {
            nDead > 0 ->
            do
            :: q < NWORKERS ->
                if
                :: hasPid[q] && !alive[q] -> hasPid[q] = 0; nDead--; state[q] = EXITED; nExited++
                :: else
                fi;
                q++
            :: else -> q = 0; break
            od
        }
    :: /* tick(): restart a reaped worker */
        atomic {
            nExited > 0 && restarts < MAX_RESTARTS ->
            do
            :: state[q] == EXITED && !hasPid[q] -> break
            :: else -> q++
            od;
            nExited--;
            restarts++
        }
        spawn(q);
        q = 0
    od
}
