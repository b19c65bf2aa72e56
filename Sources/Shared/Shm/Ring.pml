/* Ring.pml: the single-producer / single-consumer ring of Sources/Shared/Shm/Ring.swift
 * (RingProducer init/free/reserve/submit/push, RingConsumer init/peek/release/pop) as xpf
 * uses it: an xpf-worker pushes neighbour requests (Sources/Worker/main.swift), xpfd pops
 * them (Sources/Supervisor/FIBMirror.swift). Checked by tools/model-check.
 *
 * Abstraction
 * - Indices run free and wrap, as the Swift UInt32s do with &+ and &-, but they are 2
 *   bits wide here so that NVALUES pushes can wrap them twice; every index expression is
 *   masked with IDX_MASK, the entry of index i is entries[i & MASK].
 * - An entry holds the value pushed: 1..NVALUES in push order, 0 = never written.
 * - Each step holds one access to a shared word (with the local computation around
 *   it); Spin explores every interleaving of those steps under sequential consistency.
 *   A burst's entry writes (reads) are one step: none is visible to the other side
 *   before the submit (after the release). The dropped counter's relaxed load and store
 *   are one step: only the producer writes it. Memory ordering (the acquire/release
 *   pairs named in Ring.swift) is not checked here: that is the ThreadSanitizer stage
 *   (RingTests under --sanitize=thread).
 * - The producer calls push (the only call xpf makes) or a burst reserve/submit of up to
 *   BURST entries; the consumer calls pop or a burst peek/release.
 * - Process death: the producer (a worker) is killed before any of its steps, at most
 *   MAX_DEATHS times, and a new producer starts from the shared indices exactly as
 *   RingProducer.init does (a restarted worker). Values it had taken but not submitted
 *   die with it (LOST). The consumer is xpfd: when xpfd dies the region goes with it,
 *   so it is not killed here.
 *
 * Properties (assert)
 * - The consumer reads the values pushed, in push order; every value it skips was
 *   refused on a full ring and counted (DROPPED), or died with its producer (LOST).
 * - It never reads an entry that is not submitted, or already released (ghost `unread`).
 * - The producer never writes an entry that is submitted and not yet released.
 * - Once the producer has finished, the consumer drains every pushed value, and the
 *   shared dropped counter equals the number of refused pushes.
 *
 * Mutants (each must fail verification)
 * - MUTANT_RELEASE_BEFORE_READ: the consumer releases the entries, then reads them.
 * - MUTANT_SUBMIT_BEFORE_WRITE: the producer publishes its index, then writes the entry.
 * - MUTANT_RESTART_AT_ZERO: a restarted producer starts from index 0, not the shared one.
 * - MUTANT_UNWRAPPED_FILL: the consumer computes the fill level as
 *   `producer > consumer ? producer - consumer : 0`, wrong once the producer wrapped.
 */
/* mutants: MUTANT_RELEASE_BEFORE_READ MUTANT_SUBMIT_BEFORE_WRITE MUTANT_RESTART_AT_ZERO MUTANT_UNWRAPPED_FILL */
/* cc-flags: -O2 -DSAFETY */
/* pan-flags: -m10000 */

#define IDX_MASK   3            /* indices are 2 bits wide: they wrap at 4 */
#define SIZE       2            /* ring entries, a power of two below the index range */
#define MASK       1            /* SIZE - 1 */
#define NVALUES    8            /* values pushed: twice the index range, so it wraps twice */
#define BURST      2            /* largest burst reserve / peek */
#define MAX_DEATHS 2            /* producer deaths (worker restarts) per run */

#define wrap(x)    ((x) & IDX_MASK)

/* Fates of a value (ghost). */
#define NONE    0
#define PUSHED  1               /* submitted: the consumer must read it */
#define DROPPED 2               /* push on a full ring: refused and counted */
#define LOST    3               /* taken by a producer that died before submitting it */

/* xpf_ring_hdr and the entries: shared. */
byte shProducer;                /* producer index: written by the producer only */
byte shConsumer;                /* consumer index: written by the consumer only */
byte shDropped;                 /* refused pushes: written by the producer only */
byte entries[SIZE];

/* Ghost state: what the model knows, not in the region. */
byte nextValue = 1;             /* the next value a producer takes */
byte fate[NVALUES + 1];
bit unread[SIZE];               /* submitted and not yet released */
byte nDropped;                  /* refused pushes */
byte deaths;
bit killProducer;               /* the running producer dies before its next step */
bit producerFinished;

proctype Producer() {
    byte prod, cachedCons;      /* RingProducer.prod / .cachedCons */
    byte want, got, room, k;
    byte first, taken;          /* values this producer took and has not yet settled */
    {
        /* init: a restarted producer continues where the last one stopped. */
#ifdef MUTANT_RESTART_AT_ZERO
        prod = 0;
#else
        prod = shProducer;
#endif
        cachedCons = shConsumer;
        do
        :: nextValue > NVALUES -> break
        :: else ->
            /* reserve(want): free(want) reloads the consumer index only if the cache
             * shows too little; a burst never takes more values than remain. */
            atomic {
                if
                :: want = 1     /* push */
                :: want = BURST /* reserve(BURST) ... submit(got) */
                fi;
                room = wrap(SIZE - wrap(prod - cachedCons));
                if
                :: room < want ->
                    cachedCons = shConsumer;
                    room = wrap(SIZE - wrap(prod - cachedCons))
                :: else
                fi;
                got = (want < room -> want : room);
                if
                :: got > NVALUES + 1 - nextValue -> got = NVALUES + 1 - nextValue
                :: else
                fi;
                first = nextValue;
                taken = (want == 1 -> 1 : got);
                nextValue = nextValue + taken;
                room = 0
            }
            if
            :: want == 1 && got == 0 ->
                /* push on a full ring: counted and refused, never waited for */
                d_step { shDropped++; nDropped++; fate[first] = DROPPED; taken = 0; first = 0; want = 0 }
            :: want > 1 && got == 0 ->
                want = 0        /* nothing fits: the caller keeps its values */
            :: got > 0 ->
#ifdef MUTANT_SUBMIT_BEFORE_WRITE
                d_step {
                    prod = wrap(prod + got);
                    shProducer = prod;
                    k = 0;
                    do :: k < got -> unread[(prod - got + k) & MASK] = 1; fate[first + k] = PUSHED; k++ :: else -> break od;
                    k = 0
                }
                d_step {
                    do :: k < got -> entries[(prod - got + k) & MASK] = first + k; k++ :: else -> break od;
                    k = 0; taken = 0; first = 0; got = 0; want = 0
                }
#else
                /* write the reserved entries: never one that is submitted and unread */
                d_step {
                    k = 0;
                    do
                    :: k < got -> assert(!unread[(prod + k) & MASK]); entries[(prod + k) & MASK] = first + k; k++
                    :: else -> break
                    od;
                    k = 0
                }
                /* submit(got) */
                d_step {
                    prod = wrap(prod + got);
                    shProducer = prod;
                    do :: k < got -> unread[(prod - got + k) & MASK] = 1; fate[first + k] = PUSHED; k++ :: else -> break od;
                    k = 0; taken = 0; first = 0; got = 0; want = 0
                }
#endif
            fi
        od;
        producerFinished = 1
    } unless {
        killProducer ->
        d_step {
            /* values taken and not settled die with this producer */
            k = 0;
            do
            :: k < taken -> fate[first + k] = LOST; k++
            :: else -> break
            od;
            killProducer = 0;
            /* a process that ended stays in Spin's state vector: forget its locals */
            prod = 0; cachedCons = 0; want = 0; got = 0; room = 0; k = 0; first = 0; taken = 0
        }
        run Producer()          /* xpfd restarts the worker */
    }
}

/* Kills the producer at any step, at most MAX_DEATHS times. */
active proctype Killer() {
    do
    :: d_step { !killProducer && deaths < MAX_DEATHS && !producerFinished -> killProducer = 1; deaths++ }
    :: deaths == MAX_DEATHS || producerFinished -> break
    od
}

active proctype Consumer() {
    byte cons, cachedProd;      /* RingConsumer.cons / .cachedProd */
    byte want, got, avail, k, v, u, last;
    bit finished;
    cons = shConsumer;
    cachedProd = shProducer;
    do
    :: /* peek(want): reload the producer index only if the cache shows too little */
        atomic {
            finished = producerFinished;
            if
            :: want = 1         /* pop */
            :: want = BURST     /* peek(BURST) ... release(got) */
            fi;
#ifdef MUTANT_UNWRAPPED_FILL
            avail = (cachedProd >= cons -> cachedProd - cons : 0);
#else
            avail = wrap(cachedProd - cons);
#endif
            if
            :: avail < want ->
                cachedProd = shProducer;
#ifdef MUTANT_UNWRAPPED_FILL
                avail = (cachedProd >= cons -> cachedProd - cons : 0)
#else
                avail = wrap(cachedProd - cons)
#endif
            :: else
            fi;
            got = (want < avail -> want : avail);
            want = 0; avail = 0
        }
        if
        :: got == 0 && finished -> break
        :: got == 0 && !finished -> finished = 0
        :: got > 0 ->
#ifdef MUTANT_RELEASE_BEFORE_READ
            d_step {
                cons = wrap(cons + got);
                shConsumer = cons;
                k = 0;
                do :: k < got -> unread[(cons - got + k) & MASK] = 0; k++ :: else -> break od;
                cons = wrap(cons - got)
            }
#endif
            /* read the peeked entries: submitted ones, in push order; every value
             * skipped was refused (counted) or died unsent with its producer */
            d_step {
                k = 0;
                do
                :: k < got ->
#ifndef MUTANT_RELEASE_BEFORE_READ
                    assert(unread[(cons + k) & MASK]);
#endif
                    v = entries[(cons + k) & MASK];
                    assert(v > last && v <= NVALUES && fate[v] == PUSHED);
                    u = last + 1;
                    do :: u < v -> assert(fate[u] == DROPPED || fate[u] == LOST); u++ :: else -> break od;
                    last = v;
                    k++
                :: else -> break
                od;
                k = 0; v = 0; u = 0
            }
#ifdef MUTANT_RELEASE_BEFORE_READ
            d_step { cons = wrap(cons + got); got = 0 }
#else
            /* release(got) */
            d_step {
                cons = wrap(cons + got);
                shConsumer = cons;
                do :: k < got -> unread[(cons - got + k) & MASK] = 0; k++ :: else -> break od;
                k = 0; got = 0
            }
#endif
        fi
    od;
    /* The producer finished before the last (empty) peek reloaded its index: every value
     * pushed has been read, and the dropped counter counts every refused push. */
    u = last + 1;
    d_step {
        do :: u <= NVALUES -> assert(fate[u] != PUSHED); u++ :: else -> break od;
        assert(shDropped == nDropped)
    }
}

init {
    run Producer()
}
