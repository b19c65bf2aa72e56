/* Generations.pml: publication of configuration generations, Sources/Shared/Shm/
 * Generations.swift (ShmRegion.publish, freeSlot, oldestSeen; SnapshotFollower.peek,
 * acknowledge, refuse), with the worker states xpfd keeps (Sources/Supervisor/
 * Workers.swift: spawn stores seen = 0 and STARTING before the child exists, reap stores
 * EXITED, or FAILED after exit code 2, which is not restarted), the worker's start
 * (Sources/Shared/Pipeline/WorkerSetup.swift: peek, validate, acknowledge; an invalid
 * generation exits with code 2) and its loop (Sources/Worker/main.swift: between batches
 * peek, validate, then acknowledge and switch, or refuse; batches read the slot of the
 * generation it runs). Checked by tools/model-check.
 *
 * Abstraction
 * - NWORKERS workers, NSLOTS slots (XPF_CONFIG_SLOTS), generations 1..MAXGEN; the
 *   published word is gen << 2 | slot (gen << 8 | slot in Swift). The FIB follower runs
 *   the same protocol without validation (poll = peek + acknowledge), a special case.
 *   Three workers were tried: over 15 million states, beyond this stage's budget; two
 *   workers plus restarted ones give every lagging/dying/refusing combination of a pair.
 * - A slot is its generation field plus a ghost `bad` bit (its content fails
 *   ConfigSnapshotView.validate). A rewrite is two steps: the publisher zeroes the slot
 *   (publishConfig's initializeMemory), then stores content and generation. A worker's
 *   validation and every batch assert that the slot still holds the generation they
 *   expect.
 * - Each step holds one access to a shared word (a worker's state and seen, the word,
 *   a slot), with the local computation around it; Spin explores every interleaving of
 *   those steps under sequential consistency. Memory ordering (the acquire/release pairs
 *   named in Generations.swift) is not checked here: that is the ThreadSanitizer stage.
 *   Steps merged because nothing another process does can fall between them usefully:
 *   xpfd's loads of one worker's state and seen (only that worker could change its
 *   state in between, STARTING to RUNNING, both live); a worker's validation with its
 *   acknowledgement and switch (it reads neither slot in between; seen only grows, so a
 *   publisher that reads the older seen is stricter), and at start also the store of
 *   RUNNING (STARTING and RUNNING protect alike); spawn's stores (xpfd is one thread,
 *   and the worker it spawns does not exist yet).
 * - xpfd is one single-threaded process: publish, reap and spawn never overlap. It
 *   publishes generation 1 before it spawns the workers, as Daemon.start does. Once per
 *   run the publisher may publish a bad generation (corrupt, or from a mismatched
 *   build: xpfd validates before publishing, so nothing else fails validation).
 * - Lagging: workers run at any relative speed, so a worker may sit through any number
 *   of publications between loading the word and acknowledging it.
 * - Process death: a worker dies before any of its steps (a crash, or the watchdog's
 *   SIGKILL), at most MAX_DEATHS times per run; its state word stays STARTING or RUNNING
 *   until xpfd reaps it, then xpfd restarts it (at most MAX_RESTARTS times) with seen = 0
 *   as spawn stores it. A worker whose start-up generation does not validate exits with
 *   code 2 and is never restarted (FAILED).
 * - `refusedWord` is forgotten once a newer word is seen (words only grow, so it can
 *   never match again); a process that ended forgets its locals: both only keep Spin
 *   from counting states that differ in dead values.
 *
 * Property (assert): no slot is rewritten while a live worker process may read it: the
 * slot of the generation its pipeline runs, and the slot of a word it loaded and has not
 * yet acknowledged or refused (ghost `reading`, set in the step that loads the word).
 * The reader's side checks the same without the ghost: each validation and batch finds
 * its slot holding the generation it expects (every mutant below also fails on that
 * alone, with the publisher's assertion removed).
 *
 * Mutants (each must fail verification)
 * - MUTANT_FREE_OLDEST: freeSlot also takes the slot of the oldest seen generation
 *   (g <= oldest instead of g < oldest).
 * - MUTANT_ACK_BEFORE_VALIDATE: the worker acknowledges a generation when it loads the
 *   word, before validating it (then refuses it and keeps running the old slot).
 * - MUTANT_RUNNING_ONLY: oldestSeen counts only RUNNING workers, as awaitGeneration
 *   does, so a STARTING worker's slot is not protected.
 * - MUTANT_NO_STARTING: spawn leaves the state as it was (EXITED, or EMPTY at the first
 *   start) until the worker stores RUNNING.
 * Not a mutant: spawn's seen = 0 is not needed for this property (the first word a new
 * worker loads is the newest, at least the seen its block still holds, so that slot
 * stays protected); verified with it removed.
 */
/* mutants: MUTANT_FREE_OLDEST MUTANT_ACK_BEFORE_VALIDATE MUTANT_RUNNING_ONLY MUTANT_NO_STARTING */
/* cc-flags: -O2 -DSAFETY */
/* pan-flags: -m10000 */

#define NWORKERS     2
#define NSLOTS       4          /* XPF_CONFIG_SLOTS */
#define MAXGEN       6          /* generations published in a run: slots are reused */
#define MAX_DEATHS   2          /* worker deaths per run */
#define MAX_RESTARTS 2          /* respawns per run */
#define MAX_BAD      1          /* generations that fail validation */

#define NONE         255        /* SnapshotFollower's .max: no word */
#define wgen(w)      ((w) >> 2)
#define wslot(w)     ((w) & 3)
#define slotBit(s)   (1 << (s))

/* xpf_worker_state (0, EMPTY, before the first spawn) */
#define STARTING     1
#define RUNNING      2
#define EXITED       3
#define FAILED       4

/* Shared: the region. */
byte word = NONE;               /* config_current: xpfd stores, workers load */
byte slotGen[NSLOTS];           /* a slot's generation field, 0 = empty or being rewritten */
bit slotBad[NSLOTS];            /* ghost: the slot's content does not validate */
byte state[NWORKERS];           /* worker block state: xpfd (STARTING/EXITED/FAILED), worker (RUNNING) */
byte seen[NWORKERS];            /* config_generation_seen: xpfd (0 at spawn), worker */

/* Ghost: processes and what they may read. */
bit alive[NWORKERS];            /* a worker process exists */
bit hasPid[NWORKERS];           /* xpfd has not reaped it yet */
bit exit2[NWORKERS];            /* it exited with code 2 */
byte reading[NWORKERS];         /* slots the process may read (bit per slot) */
byte nDead;                     /* processes gone and not yet reaped */
byte nExited;                   /* reaped with state EXITED, not yet restarted */
byte deaths, restarts, bad;

/* The worker process dies here (crash or SIGKILL): its state word is untouched. */
inline die() {
    d_step { alive[q] && deaths < MAX_DEATHS -> deaths++; alive[q] = 0; reading[q] = 0; nDead++ }
    goto gone
}

proctype Worker(byte q) {
    byte lastWord = NONE, pendingWord = NONE, refusedWord = NONE;  /* SnapshotFollower */
    byte running;               /* pipeline.config and pipeline.generation, as a word */
    /* Pipeline.forWorker: peek ... */
    if
    :: die()
    :: d_step { pendingWord = word; reading[q] = slotBit(wslot(pendingWord)) }
    fi;
    /* ... validate, then acknowledge and store RUNNING, or exit(2): not restarted */
    if
    :: die()
    :: d_step {
            assert(slotGen[wslot(pendingWord)] == wgen(pendingWord));
            if
            :: slotBad[wslot(pendingWord)] -> exit2[q] = 1; alive[q] = 0; reading[q] = 0; nDead++
            :: else ->
                lastWord = pendingWord;
                seen[q] = wgen(lastWord);
                running = lastWord;
                reading[q] = slotBit(wslot(running));
                state[q] = RUNNING
            fi;
            pendingWord = NONE
        }
    fi;
    do
    :: exit2[q] -> goto gone
    :: die()
    :: d_step {
            !exit2[q] && pendingWord == NONE ->
            /* the batches since the last peek read the configuration the worker runs */
            assert(slotGen[wslot(running)] == wgen(running));
            /* between batches: peek */
            if
            :: word != lastWord && word != refusedWord ->
                pendingWord = word;
                refusedWord = NONE;     /* words only grow: it cannot come back */
                reading[q] = reading[q] | slotBit(wslot(pendingWord));
#ifdef MUTANT_ACK_BEFORE_VALIDATE
                lastWord = pendingWord;
                seen[q] = wgen(lastWord)
#endif
            :: else
            fi
        }
    :: d_step {
            pendingWord != NONE ->
            /* validate the new slot, then acknowledge and switch, or refuse and keep
             * running the generation it runs */
            assert(slotGen[wslot(pendingWord)] == wgen(pendingWord));
            if
            :: !slotBad[wslot(pendingWord)] ->
                lastWord = pendingWord;
                seen[q] = wgen(lastWord);
                running = lastWord      /* pipeline.config: no read of the old slot follows */
            :: else ->
                refusedWord = pendingWord
            fi;
            reading[q] = slotBit(wslot(running));
            pendingWord = NONE
        }
    od;
gone:
    /* a process that ended stays in Spin's state vector: forget its locals */
    atomic { lastWord = NONE; pendingWord = NONE; refusedWord = NONE; running = 0 }
}

inline spawn(q) {
    /* WorkerManager.spawn: seen = 0 and STARTING before the child exists */
    d_step {
#ifndef MUTANT_NO_STARTING
        seen[q] = 0; state[q] = STARTING;
#endif
        alive[q] = 1; hasPid[q] = 1; exit2[q] = 0
    }
    run Worker(q)
}

active proctype Xpfd() {
    byte q, s, oldest, gen, found;
    /* Daemon.start: generation 1 into slot 0, then the workers */
    d_step { slotGen[0] = 1; word = (1 << 2) | 0 }
    q = 0;
    do
    :: q < NWORKERS -> spawn(q); q++
    :: else -> q = 0; break
    od;
end:
    do
    :: wgen(word) < MAXGEN ->
        /* publish: freeSlot = oldestSeen over live workers. A worker's state and seen
         * loads are one step: between them only that worker could change its state,
         * from STARTING to RUNNING, both live. */
        oldest = NONE;
        do
        :: q < NWORKERS ->
            d_step {
#ifdef MUTANT_RUNNING_ONLY
                if
                :: state[q] == RUNNING && seen[q] < oldest -> oldest = seen[q]
#else
                if
                :: (state[q] == STARTING || state[q] == RUNNING) && seen[q] < oldest -> oldest = seen[q]
#endif
                :: else
                fi;
                q++
            }
        :: else -> q = 0; break
        od;
        /* ... then the first slot, other than the current one, that is empty or older
         * than every live worker's seen generation (slots are written by xpfd only) */
        found = 0;
        d_step {
            s = 0;
            do
            :: s < NSLOTS && found == 0 ->
#ifdef MUTANT_FREE_OLDEST
                if
                :: s != wslot(word) && (slotGen[s] == 0 || slotGen[s] <= oldest) -> found = 1
#else
                if
                :: s != wslot(word) && (slotGen[s] == 0 || slotGen[s] < oldest) -> found = 1
#endif
                :: else -> s++
                fi
            :: else -> break
            od;
            oldest = 0
        }
        if
        :: found == 0 -> skip   /* "no free config slot": the commit fails */
        :: else ->
            /* write the snapshot: no live worker may be reading this slot */
            d_step {
                gen = wgen(word) + 1;
                q = 0;
                do
                :: q < NWORKERS -> assert(!alive[q] || (reading[q] & slotBit(s)) == 0); q++
                :: else -> q = 0; break
                od;
                slotGen[s] = 0
            }
            atomic {
                if
                :: bad < MAX_BAD -> slotBad[s] = 1; bad++
                :: slotBad[s] = 0
                fi;
                slotGen[s] = gen
            }
            /* store-release the word */
            d_step { word = (gen << 2) | s; s = 0; gen = 0; found = 0 }
        fi
    :: /* reap(): every exited child */
        atomic {
            nDead > 0 ->
            q = 0;
            do
            :: q < NWORKERS ->
                if
                :: hasPid[q] && !alive[q] ->
                    hasPid[q] = 0;
                    nDead--;
                    if
                    :: exit2[q] -> state[q] = FAILED
                    :: else -> state[q] = EXITED; nExited++
                    fi
                :: else
                fi;
                q++
            :: else -> q = 0; break
            od
        }
    :: /* tick(): restart a reaped worker (not one that exited with code 2) */
        atomic {
            nExited > 0 && restarts < MAX_RESTARTS ->
            q = 0;
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

