/* QueuePark.pml: who owns a queue's session partition while `system dataplane queues` changes
 * by commit (issue 11 §6). xpfd's side is WorkerManager.setActive / reap / keep (Sources/
 * Supervisor/Workers.swift) and PartitionKeeper (attach, detach, pass); the worker's is
 * its loop (Sources/Worker/main.swift), which owns the partition from its start until
 * its process is gone. Checked by tools/model-check.
 *
 * Abstraction
 * - One queue, the one a commit parks and starts again (the others are untouched). Its
 *   partition's owner is its worker process while one exists, else xpfd's keeper while
 *   attached. What an owner does to the records (insert, remove, repair) is
 *   SessionTable.pml's business: here ownership is all.
 * - xpfd is one single-threaded process: a shrink, a grow, a reap and a keeper pass never
 *   overlap; each is one step here except a shrink's wait, which may end in a reap or
 *   give up (the grace and SIGKILL bounds). xpfd does not die (its workers die with it).
 * - A shrink: the queue is marked parked; with a worker, SIGTERM, then a wait that reaps
 *   the worker if it has gone, or gives up, SIGKILLs, and waits once more, bounded (the
 *   kernel may hold a process: it then goes any time later); without one, the keeper
 *   attaches at once. A reap of a parked queue's worker attaches the keeper. A grow: a
 *   parked queue whose last worker is not reaped yet is not started; else the keeper
 *   detaches, then the worker is spawned. A worker that dies while its queue runs is
 *   reaped and respawned (at most MAX_RESTARTS times).
 * - A worker process dies at any step (crash, SIGKILL, or exit code 2: failed for good,
 *   never restarted, its partition kept by xpfd as a parked queue's) at most MAX_DEATHS
 *   times, or exits after SIGTERM; xpfd learns of it only by reaping it.
 *
 * Property (assert, by a monitor at every state)
 * - Never two owners: no worker process of the queue exists while the keeper is attached,
 *   and never two worker processes of the queue at once.
 *
 * Mutants (each must fail verification)
 * - MUTANT_ATTACH_BEFORE_REAP: the shrink attaches the keeper right after its SIGTERM,
 *   before the worker is reaped.
 * - MUTANT_SPAWN_UNREAPED: the grow starts a worker though the previous one (which did
 *   not exit within the shrink's bounds) is not reaped yet.
 * - MUTANT_NO_DETACH: the grow spawns the worker without detaching the keeper.
 */
/* mutants: MUTANT_ATTACH_BEFORE_REAP MUTANT_SPAWN_UNREAPED MUTANT_NO_DETACH */
/* cc-flags: -O2 -DSAFETY */

#define MAX_COMMITS  4          /* shrinks and grows per run */
#define MAX_DEATHS   2          /* worker crashes or SIGKILLs per run */
#define MAX_RESTARTS 2          /* respawns of a crashed worker per run */

/* The kernel's: worker processes of the queue that exist (not yet gone). */
byte alive;
/* A signal to the current worker process. */
bit termReq, killReq;
/* xpfd's own memory: WorkerManager.slots[q] and keepers[q]. */
bit hasPid;                     /* a child xpfd has not reaped */
bit parked;                     /* beyond `queues` */
bit attached;                   /* the keeper owns the partition */
bit exit2;                      /* the kernel's: waitpid will return exit code 2 */
byte commits, deaths, restarts;

/* It owns the partition (batches, ageing, clears) from its start until it is gone. */
proctype worker() {
end:                                                      /* a worker may run on when the run ends */
    if
    :: termReq                                            /* SIGTERM: the orderly stop */
    :: killReq                                            /* SIGKILL */
    :: atomic { deaths < MAX_DEATHS -> deaths++ }         /* a crash */
    :: atomic { deaths < MAX_DEATHS -> deaths++; exit2 = 1 }  /* exit code 2: failed for good */
    fi;
    alive--                                               /* the process is gone */
}

inline spawn() {
    hasPid = 1; termReq = 0; killReq = 0; exit2 = 0; alive++;
    run worker()
}

/* waitpid: the queue's child has gone. */
inline reap() {
    hasPid = 0;
    if
    :: parked -> attached = 1                             /* its partition is xpfd's now */
    :: !parked && exit2 -> attached = 1                   /* failed: never restarted, kept too */
    :: !parked && !exit2 && restarts < MAX_RESTARTS -> restarts++; spawn()
    :: else                                               /* the crash-loop backoff: later, or never here */
    fi
}

active proctype xpfd() {
    atomic { spawn() }                                    /* startAll: the queue runs */
    do
    :: atomic { commits < MAX_COMMITS && !parked ->       /* shrink: queues N-1 */
        commits++;
        parked = 1;
        if
        :: hasPid ->
            termReq = 1;
#ifdef MUTANT_ATTACH_BEFORE_REAP
            attached = 1
#endif
        :: else -> attached = 1                           /* no worker: kept at once */
        fi
       }
       /* The bounded wait: the worker is reaped, or the grace passes and SIGKILL follows,
        * then the second bound passes and the worker is left to a later reap. */
       if
       :: atomic { hasPid && alive == 0 -> reap() }
       :: atomic { hasPid -> killReq = 1 }
          if
          :: atomic { hasPid && alive == 0 -> reap() }
          :: skip
          fi
       :: !hasPid
       fi
    :: atomic { commits < MAX_COMMITS && parked ->        /* grow: queues N */
        commits++;
        if
#ifndef MUTANT_SPAWN_UNREAPED
        :: hasPid -> skip                                 /* not started: its last worker lives */
#endif
        :: else ->
#ifndef MUTANT_NO_DETACH
            attached = 0;
#endif
            parked = 0;
            spawn()
        fi
       }
    :: atomic { hasPid && alive == 0 -> reap() }          /* SIGCHLD: xpfd's loop reaps */
    :: commits == MAX_COMMITS -> break
    od
}

/* Never two owners of the partition: two worker processes, or a worker and the keeper. */
active proctype monitor() {
end: atomic { (attached && alive > 0) || alive > 1 -> assert(false) }
}
