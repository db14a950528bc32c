/* mn_runq.c: the per-worker run queue (see mn_runq.h).
 *
 * Memory orders, and why each is enough:
 *  - Slots are atomics accessed relaxed: a consumer may read a slot that the
 *    owner is overwriting after a wrap, but only when its head has become
 *    stale, and then its CAS on head fails and the value is thrown away.
 *  - push: the owner reads head with acquire (pairs with the consumers'
 *    release CAS: their reads of the slot happen before we reuse it), writes
 *    the slot, then publishes it with a release store of tail.
 *  - pop/steal: tail is read with acquire (pairs with push's release: the
 *    slot contents are visible), the slots are read, and the claim is a CAS
 *    on head with release order, so the slot reads are ordered before the
 *    owner can see the slot free and overwrite it.
 *  - steal writes the stolen items into its own ring beyond its tail (slots
 *    nobody else reads) and publishes them with a release store of tail,
 *    exactly as a push does.
 */
#include "mn_runq.h"

#include "mn_co.h"

#define MASK (MN_RUNQ_CAP - 1)

static struct mn_co *slot_get(struct mn_runq *q, uint32_t i)
{
	return atomic_load_explicit(&q->slot[i & MASK], memory_order_relaxed);
}

static void slot_set(struct mn_runq *q, uint32_t i, struct mn_co *c)
{
	atomic_store_explicit(&q->slot[i & MASK], c, memory_order_relaxed);
}

int mn_runq_push_full(struct mn_runq *q, struct mn_co *c, struct mn_co **batch)
{
	struct mn_co *batch_buf[MN_RUNQ_CAP / 2];

	for (;;) {
		uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
		uint32_t i, n = MN_RUNQ_CAP / 2;

		if (t - h < MN_RUNQ_CAP) {
			slot_set(q, t, c);
			atomic_store_explicit(&q->tail, t + 1, memory_order_release);
			return 1;
		}
		/* Full: take the older half out in one claim. A consumer may
		 * win the race for head; then there is room again. The items
		 * are linked only once they are ours. */
		for (i = 0; i < n; i++)
			batch_buf[i] = slot_get(q, h + i);
		if (!atomic_compare_exchange_strong_explicit(
			    &q->head, &h, h + n, memory_order_release, memory_order_relaxed))
			continue;
		for (i = 0; i + 1 < n; i++)
			batch_buf[i]->next = batch_buf[i + 1];
		batch_buf[n - 1]->next = c;
		c->next = NULL;
		*batch = batch_buf[0];
		return 0;
	}
}

struct mn_co *mn_runq_pop(struct mn_runq *q)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);

	for (;;) {
		uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
		struct mn_co *c;

		if (t == h)
			return NULL;
		c = slot_get(q, h);
		/* On failure h is reloaded with the head that beat us. */
		if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1, memory_order_release,
							  memory_order_acquire))
			return c;
	}
}

/* Claims half of victim's items into mine's slots from mine_tail on.
 * Returns how many (0: empty). */
static uint32_t grab(struct mn_runq *victim, struct mn_runq *mine, uint32_t mine_tail)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&victim->head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&victim->tail, memory_order_acquire);
		uint32_t n = t - h, i;

		n -= n / 2;
		if (n == 0)
			return 0;
		if (n > MN_RUNQ_CAP / 2)
			continue; /* h and t read at different times: inconsistent */
		for (i = 0; i < n; i++)
			slot_set(mine, mine_tail + i, slot_get(victim, h + i));
		if (atomic_compare_exchange_strong_explicit(
			    &victim->head, &h, h + n, memory_order_release, memory_order_relaxed))
			return n;
	}
}

struct mn_co *mn_runq_steal(struct mn_runq *mine, struct mn_runq *victim, uint32_t *taken)
{
	uint32_t t = atomic_load_explicit(&mine->tail, memory_order_relaxed);
	uint32_t n = grab(victim, mine, t);
	struct mn_co *c;

	*taken = n;
	if (n == 0)
		return NULL;
	n--;
	c = slot_get(mine, t + n);
	if (n)
		atomic_store_explicit(&mine->tail, t + n, memory_order_release);
	return c;
}
