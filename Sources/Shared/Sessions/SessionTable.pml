/* SessionTable.pml — the shared session table under crashes (issue 7).
 *
 * Models Sources/Shared/Sessions/SessionTable.swift:
 *   SessionPartition.insert   FREE→BUSY (sequence bumped), key fields written, both
 *                             directions indexed by CAS, then LIVE (failure paths
 *                             included: no slot for a direction → taken back, FREE);
 *   SessionPartition.remove   LIVE→BUSY (sequence bumped), both index entries
 *                             tombstoned by CAS, FREE;
 *   SessionPartition.init     the restarted owner's scan: a BUSY record has both
 *                             directions un-indexed (with whatever key fields it
 *                             holds), then becomes FREE;
 *   SessionTable.lookup       another worker: probe from the key's start slot, skip
 *                             tombstones and other tags, load the record's state word,
 *                             compare protocol and tuple, re-check the state word.
 *
 * Abstraction: one owner (its partition of R records) and one reader worker; the index
 * is S slots probed linearly with wrap-around (a bucket of 8 slots in Swift is a run of
 * slots here; the probe bound is the whole index). A key is a tuple (1..4) and a
 * protocol (0/1); the tag and start slot depend on the tuple only. The two flows share
 * their forward tuple and differ in protocol, tuples 2 and 4 share a tag, and so do 1
 * and 3, so the reader's keys — (1,0) (1,1) (2,1) (3,0) — meet slots whose tag matches
 * but whose record's protocol or tuple does not. A slot is EMPTY, TOMB or tag*16 + ref, ref =
 * record*2 + direction + 1. The record's state word is sequence*4 + state. Each access
 * to shared memory is one step; the owner can be killed (SIGKILL) before any of its
 * steps, recovery included (`unless`), and then restarts. Spin explores interleavings
 * under sequential consistency: the acquire/release/fence placement in Swift is
 * ThreadSanitizer's job (SessionTableTests), not this model's. Other partitions'
 * owners only take and tombstone slots by CAS, which this owner's probes treat like
 * any occupied slot; they are left out.
 *
 * Properties:
 *   - the reader never returns a wrong session: at the instant its lookup succeeds, the
 *     record is LIVE and its key in the slot's direction is the looked-up key;
 *   - at every instant (what `SessionTable.check` relies on to judge a running table):
 *     a LIVE record is indexed in both directions, exactly once each, reachable from
 *     its start slot; no index slot refers to a FREE record;
 *   - after a restarted owner's recovery: no BUSY record, every LIVE record indexed in
 *     both directions exactly once, every non-tombstone slot refers to a LIVE record
 *     with that key in that direction (tag and reachability).
 *
 * Mutants (each must fail):
 *   MUTANT_TODAY              the protocol before this model: insert stores LIVE and then
 *                             indexes, remove tombstones while LIVE, recovery frees BUSY
 *                             records only (also fails with -DNO_RUNNING_INVARIANT, through
 *                             the after-recovery check: a kill leaves a half-indexed LIVE record);
 *   MUTANT_RECOVERY_FREES_ONLY  this protocol, but recovery frees BUSY records without
 *                             un-indexing them (slots left pointing at FREE records);
 *   MUTANT_COMPARE_IGNORES_PROTO  the lookup compares the tuple but not the protocol;
 *   MUTANT_NO_RECHECK         the lookup does not re-load the state word after comparing;
 *   MUTANT_NO_SEQUENCE        the sequence is never bumped (a record removed and reused
 *                             during a lookup looks unchanged).
 */
/* cc-flags: -O2 -DSAFETY */
/* pan-flags: -m100000 */
/* mutants: MUTANT_TODAY MUTANT_RECOVERY_FREES_ONLY MUTANT_COMPARE_IGNORES_PROTO MUTANT_NO_RECHECK MUTANT_NO_SEQUENCE */

#define R 2          /* records in the owner's partition */
#define S 3          /* index slots: two sessions need 4, so a second insert can find no slot */
#define MAXOPS 3     /* inserts + removes over the whole run (bounds the sequence) */
#define MAXKILLS 2

#define FREE 0
#define BUSY 1
#define LIVE 2
#define EMPTY 0
#define TOMB 255

#define ST(w) ((w) % 4)
#define SEQ(w) ((w) / 4)
#define TAGOF(t) ((t) % 2)
#define START(t) ((t) % S)
#define VAL(t, r, d) (TAGOF(t) * 16 + (r) * 2 + (d) + 1)
#define SLOT_TAG(v) ((v) / 16)
#define SLOT_REC(v) ((((v) % 16) - 1) / 2)
#define SLOT_DIR(v) ((((v) % 16) - 1) % 2)

/* Flows: forward tuple, reverse tuple, protocol. Both start with tuple 1. */
#define NFLOWS 2
#define FT(f) 1
#define RT(f) ((f) == 1 -> 4 : 2)
#define FP(f) (f)

byte word[R];        /* seq_state */
byte rproto[R];      /* family + protocol */
byte rtup[2 * R];    /* fwd (r*2), rev (r*2+1) */
byte slot[S];

bool killed;
byte kills;

/* ---------------------------------------------------------------- index (owner) */

/* SessionTable.indexInsert: CAS an EMPTY or TOMB slot to the value. One owner writes
 * this partition's slots, so the load + CAS of the Swift code is one step here. */
inline index_insert(t, r, d, ok) {
	pos = START(t); i = 0; ok = false;
	do
	:: atomic {
		i < S && !ok;
		if
		:: slot[pos] == EMPTY || slot[pos] == TOMB -> slot[pos] = VAL(t, r, d); ok = true
		:: else -> pos = (pos + 1) % S; i++
		fi
	   }
	:: atomic { i == S || ok -> pos = 0; i = 0; break }
	od
}

/* SessionTable.indexRemove: probe until EMPTY; CAS the exact value to TOMB. */
inline index_remove(t, r, d) {
	pos = START(t); i = 0;
	do
	:: atomic {
		i < S;
		if
		:: slot[pos] == VAL(t, r, d) -> slot[pos] = TOMB; i = S
		:: slot[pos] == EMPTY -> i = S
		:: else -> pos = (pos + 1) % S; i++
		fi
	   }
	:: atomic { i == S -> pos = 0; i = 0; break }
	od
}

/* ---------------------------------------------------------------- properties */

/* How many slots hold `val`, and whether the first one is reachable from START(t)
 * (no EMPTY slot before it). */
inline count_reachable(t, val, n, reach) {
	n = 0; reach = true; j = 0;
	do
	:: j < S ->
		if :: slot[j] == val -> n++ :: else fi;
		j++
	:: else -> break
	od;
	j = 0;
	do
	:: j < S && slot[(START(t) + j) % S] != val ->
		if :: slot[(START(t) + j) % S] == EMPTY -> reach = false :: else fi;
		j++
	:: else -> break
	od;
	if :: j == S -> reach = false :: else fi;
	j = 0
}

/* Every LIVE record indexed once per direction, reachably; no slot refers to a FREE
 * record; with `settled`, also no BUSY record and every slot refers to a LIVE record
 * whose key in that direction has the slot's tag and reaches it. */
inline check_table(settled) {
	q = 0;
	do
	:: q < R ->
		if
		:: ST(word[q]) == LIVE ->
			count_reachable(rtup[q * 2], VAL(rtup[q * 2], q, 0), n, reach);
			assert(n == 1 && reach);
			count_reachable(rtup[q * 2 + 1], VAL(rtup[q * 2 + 1], q, 1), n, reach);
			assert(n == 1 && reach)
		:: else
		fi;
		assert(!settled || ST(word[q]) != BUSY);
		q++
	:: else -> break
	od;
	q = 0;
	do
	:: q < S ->
		if
		:: slot[q] != EMPTY && slot[q] != TOMB ->
			assert(ST(word[SLOT_REC(slot[q])]) != FREE);
			if
			:: settled ->
				assert(ST(word[SLOT_REC(slot[q])]) == LIVE);
				assert(slot[q] == VAL(rtup[SLOT_REC(slot[q]) * 2 + SLOT_DIR(slot[q])], SLOT_REC(slot[q]), SLOT_DIR(slot[q])))
			:: else
			fi
		:: else
		fi;
		q++
	:: else -> break
	od;
	q = 0; n = 0; reach = false
}

/* ---------------------------------------------------------------- owner */

active proctype owner() {
	byte ops, op, r, f, pos, i, v, q, n, j, seq;
	bool ok, reach;
	do
	:: true ->
		{
			/* SessionPartition.init: the previous incarnation's BUSY record. */
			r = 0;
			do
			:: atomic { r < R && ST(word[r]) != BUSY -> r++ }
			:: atomic { r < R && ST(word[r]) == BUSY } ->
#if !defined(MUTANT_TODAY) && !defined(MUTANT_RECOVERY_FREES_ONLY)
				index_remove(rtup[r * 2], r, 0);
				index_remove(rtup[r * 2 + 1], r, 1);
#endif
				word[r] = SEQ(word[r]) * 4 + FREE
			:: atomic { r == R -> break }
			od;
			r = 0;
			d_step { check_table(true) }

			do
			:: ops < MAXOPS ->
				/* Choose an operation: insert a flow that is not live into a FREE record
				 * (the free list), or remove a LIVE record (ageing, clear). */
				atomic {
					if
					:: op = 1 :: op = 2
					fi;
					f = 0;
					do
					:: f < NFLOWS - 1 -> f++
					:: true -> break
					od;
					r = 0;
					do
					:: r < R && op == 1 && ST(word[r]) == LIVE && rtup[r * 2] == FT(f) && rproto[r] == FP(f) -> op = 0; break
					:: r < R -> r++
					:: r == R -> break
					od;
					r = 0;
					do
					:: r < R && (op == 1 && ST(word[r]) == FREE || op == 2 && ST(word[r]) == LIVE) -> break
					:: r < R -> r++
					:: r == R -> break
					od;
					if
					:: r < R && op != 0 -> ops++
					:: else -> op = 0
					fi
				}
				if
				:: op == 1 ->
#ifdef MUTANT_NO_SEQUENCE
					seq = SEQ(word[r]);
#else
					seq = SEQ(word[r]) + 1;
#endif
					word[r] = seq * 4 + BUSY;
					rproto[r] = FP(f);
					rtup[r * 2] = FT(f);
					rtup[r * 2 + 1] = RT(f);
#ifdef MUTANT_TODAY
					word[r] = seq * 4 + LIVE;
#endif
					index_insert(FT(f), r, 0, ok);
					if
					:: !ok -> word[r] = seq * 4 + FREE
					:: else ->
						index_insert(RT(f), r, 1, ok);
						if
						:: !ok ->
							index_remove(FT(f), r, 0);
							word[r] = seq * 4 + FREE
						:: else ->
#ifndef MUTANT_TODAY
							word[r] = seq * 4 + LIVE
#else
							skip
#endif
						fi
					fi
				:: op == 2 ->
#if defined(MUTANT_NO_SEQUENCE)
					word[r] = SEQ(word[r]) * 4 + BUSY;
#elif !defined(MUTANT_TODAY)
					word[r] = (SEQ(word[r]) + 1) * 4 + BUSY;   /* each BUSY phase has its own word */
#endif
					index_remove(rtup[r * 2], r, 0);
					index_remove(rtup[r * 2 + 1], r, 1);
					word[r] = SEQ(word[r]) * 4 + FREE
				:: else
				fi;
				d_step { r = 0; f = 0; seq = 0; ok = false; op = 0 }
			:: else -> break
			od
		} unless { killed };
		/* SIGKILL: the process is gone (locals with it); xpfd starts a successor. */
		atomic { killed = false; r = 0; f = 0; seq = 0; ok = false; op = 0; pos = 0; i = 0; v = 0 }
	od
}

/* Kills the owner before any one of its steps, MAXKILLS times. */
active proctype killer() {
	do
	:: atomic { kills < MAXKILLS && !killed -> killed = true; kills++ }
	od
}

/* ---------------------------------------------------------------- reader */

/* Another worker's SessionTable.lookup of any key, over and over. One step per load
 * of shared memory (the local work after a load is folded into its step). */
active proctype reader() {
	byte t, p, pos, i, v, r, d, s1, q, n, j;
	bool reach;
start:
	atomic {
		/* Between two lookups (any global state has a twin with the reader here, since
		 * its steps change no global): the invariant a running table always satisfies. */
#ifndef NO_RUNNING_INVARIANT
		check_table(false);
#endif
		if
		:: t = 1; p = 0 :: t = 1; p = 1 :: t = 2; p = 1 :: t = 3; p = 0
		fi;
		pos = START(t); i = 0
	};
probe:
	atomic {                       /* the slot (load-acquire) */
		if :: i == S -> goto done :: else fi;
		v = slot[pos];
		if
		:: v == EMPTY -> goto done /* end of the probe chain: a miss */
		:: v != EMPTY && v != TOMB && SLOT_TAG(v) == TAGOF(t) -> r = SLOT_REC(v); d = SLOT_DIR(v)
		:: else -> pos = (pos + 1) % S; i++; goto probe
		fi
	};
	atomic {                       /* the record's state word (load-acquire) */
		s1 = word[r];
		if :: ST(s1) != LIVE -> pos = (pos + 1) % S; i++; goto probe :: else fi
	};
#ifndef MUTANT_COMPARE_IGNORES_PROTO
	atomic {                       /* family + protocol */
		if :: rproto[r] != p -> pos = (pos + 1) % S; i++; goto probe :: else fi
	};
#endif
	atomic {                       /* the tuple of the slot's direction */
		if :: rtup[r * 2 + d] != t -> pos = (pos + 1) % S; i++; goto probe :: else fi
	};
	atomic {                       /* re-load the state word: unchanged → (r, d) is returned */
#ifndef MUTANT_NO_RECHECK
		if :: word[r] != s1 -> pos = (pos + 1) % S; i++; goto probe :: else fi;
#endif
		/* The lookup returns (r, d): right now it must be this key's session. */
		assert(ST(word[r]) == LIVE && rtup[r * 2 + d] == t && rproto[r] == p)
	};
done:
	atomic { t = 0; p = 0; pos = 0; i = 0; v = 0; r = 0; d = 0; s1 = 0; goto start }
}
