/* Description: the mn model's per-worker run queue (models/mn/mn_runq.h) on
 * its own, without a scheduler around it:
 *  - push N then pop: the length is N and the items come back oldest first;
 *  - steal: the thief takes half rounded up (from 1 to 2 * MN_RUNQ_CAP / 2
 *    items), runs the newest of them now and queues the rest in their order;
 *    the victim keeps the other half, also in order; an empty victim gives
 *    nothing;
 *  - a full ring: push hands back the older half plus the new item as one
 *    linked batch, oldest first, and keeps the newer half;
 *  - the owner pushing and popping while two thieves steal, on three
 *    threads: every item is taken exactly once (none lost, none twice).
 *    Run under ThreadSanitizer too:
 *      make SANITIZE=thread BUILD=build/tsan build/tsan/tests/test_mn_runq
 * Nothing here depends on how long anything takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "models/mn/mn_co.h"
#include "models/mn/mn_runq.h"

#define ITEMS 4096

static struct mn_co items[ITEMS];

static int index_of(const struct mn_co *c)
{
	return (int)(c - items);
}

static struct mn_runq *new_queue(void)
{
	struct mn_runq *q = aligned_alloc(64, sizeof(*q));

	assert_non_null(q);
	memset(q, 0, sizeof(*q));
	return q;
}

static void push_range(struct mn_runq *q, int from, int n)
{
	struct mn_co *batch = NULL;

	for (int i = from; i < from + n; i++)
		assert_int_equal(mn_runq_push(q, &items[i], &batch), 1);
}

/* Pops everything, expecting the indices from..from+n-1 in that order. */
static void expect_fifo(struct mn_runq *q, int from, int n)
{
	for (int i = 0; i < n; i++) {
		struct mn_co *c = mn_runq_pop(q);

		assert_non_null(c);
		assert_int_equal(index_of(c), from + i);
	}
	assert_null(mn_runq_pop(q));
	assert_int_equal(mn_runq_len(q), 0);
}

static void test_push_pop_fifo(void **state)
{
	struct mn_runq *q = new_queue();

	(void)state;
	assert_null(mn_runq_pop(q));
	push_range(q, 0, 100);
	assert_int_equal(mn_runq_len(q), 100);
	expect_fifo(q, 0, 100);
	/* around the ring's end more than once */
	for (int round = 0; round < 5; round++) {
		push_range(q, 0, MN_RUNQ_CAP - 1);
		expect_fifo(q, 0, MN_RUNQ_CAP - 1);
	}
	free(q);
}

/* Victim holds n items; a thief with an empty queue steals once. */
static void steal_from(int n)
{
	struct mn_runq *victim = new_queue(), *mine = new_queue();
	uint32_t taken = 99;
	uint32_t half = (uint32_t)n - (uint32_t)n / 2; /* rounded up */
	struct mn_co *now;

	push_range(victim, 0, n);
	now = mn_runq_steal(mine, victim, &taken);
	assert_int_equal(taken, half);
	/* the newest stolen item runs now, the older ones wait in order */
	assert_non_null(now);
	assert_int_equal(index_of(now), (int)half - 1);
	assert_int_equal(mn_runq_len(mine), half - 1);
	expect_fifo(mine, 0, (int)half - 1);
	/* the victim keeps the rest, oldest first */
	assert_int_equal(mn_runq_len(victim), (uint32_t)n - half);
	expect_fifo(victim, (int)half, n - (int)half);
	free(victim);
	free(mine);
}

static void test_steal_takes_half_rounded_up(void **state)
{
	static const int sizes[] = {1, 2, 3, 7, 8, 100, MN_RUNQ_CAP - 1, MN_RUNQ_CAP};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		steal_from(sizes[i]);
}

static void test_steal_from_empty(void **state)
{
	struct mn_runq *victim = new_queue(), *mine = new_queue();
	uint32_t taken = 99;

	(void)state;
	assert_null(mn_runq_steal(mine, victim, &taken));
	assert_int_equal(taken, 0);
	assert_int_equal(mn_runq_len(mine), 0);
	free(victim);
	free(mine);
}

static void test_full_ring_hands_back_the_older_half(void **state)
{
	struct mn_runq *q = new_queue();
	struct mn_co *batch = NULL, *c;
	int n = 0;

	(void)state;
	push_range(q, 0, MN_RUNQ_CAP);
	assert_int_equal(mn_runq_push(q, &items[MN_RUNQ_CAP], &batch), 0);
	for (c = batch; c; c = c->next, n++)
		assert_int_equal(index_of(c), n < MN_RUNQ_CAP / 2 ? n : MN_RUNQ_CAP);
	assert_int_equal(n, MN_RUNQ_CAP / 2 + 1);
	expect_fifo(q, MN_RUNQ_CAP / 2, MN_RUNQ_CAP / 2);
	free(q);
}

/* ---- one owner, two thieves ------------------------------------------------------------- */

#define ROUNDS	4
#define THIEVES 2

static struct mn_runq *owner_q;
static _Atomic int seen[ITEMS];
static _Atomic int owner_done;
static _Atomic uint64_t thief_steals;

static void take(struct mn_co *c)
{
	atomic_fetch_add_explicit(&seen[index_of(c)], 1, memory_order_relaxed);
}

static void *thief(void *arg)
{
	struct mn_runq *mine = new_queue();
	struct mn_co *c;
	uint32_t n;

	(void)arg;
	while (!atomic_load(&owner_done) || mn_runq_len(owner_q)) {
		c = mn_runq_steal(mine, owner_q, &n);
		if (!c)
			continue;
		atomic_fetch_add_explicit(&thief_steals, 1, memory_order_relaxed);
		take(c);
		while ((c = mn_runq_pop(mine)))
			take(c);
	}
	free(mine);
	return NULL;
}

static void test_owner_and_thieves_lose_and_duplicate_nothing(void **state)
{
	pthread_t t[THIEVES];

	(void)state;
	owner_q = new_queue();
	for (int r = 0; r < ROUNDS; r++) {
		memset(seen, 0, sizeof(seen));
		atomic_store(&owner_done, 0);
		for (int i = 0; i < THIEVES; i++)
			assert_int_equal(pthread_create(&t[i], NULL, thief, NULL), 0);
		/* The owner pushes every item once, pops now and then, and
		 * takes back what a full ring hands it. */
		for (int i = 0; i < ITEMS; i++) {
			struct mn_co *batch = NULL, *c;

			if (!mn_runq_push(owner_q, &items[i], &batch))
				for (c = batch; c; c = c->next)
					take(c);
			if (i % 3 == 0 && (c = mn_runq_pop(owner_q)))
				take(c);
			if (i % 64 == 0)
				sched_yield(); /* let the thieves at a fuller queue */
		}
		atomic_store(&owner_done, 1);
		for (int i = 0; i < THIEVES; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		for (struct mn_co *c; (c = mn_runq_pop(owner_q));)
			take(c);
		for (int i = 0; i < ITEMS; i++)
			if (atomic_load(&seen[i]) != 1)
				fail_msg("round %d: item %d taken %d times", r, i,
					 atomic_load(&seen[i]));
	}
	print_message("%llu steals took something over %d rounds\n",
		      (unsigned long long)atomic_load(&thief_steals), ROUNDS);
	free(owner_q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_pop_fifo),
		cmocka_unit_test(test_steal_takes_half_rounded_up),
		cmocka_unit_test(test_steal_from_empty),
		cmocka_unit_test(test_full_ring_hands_back_the_older_half),
		cmocka_unit_test(test_owner_and_thieves_lose_and_duplicate_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
