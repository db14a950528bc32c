/* ctxswitch.h: the context switch the runtime uses (internal to
 * userspace/coro/): see coro.h on whether each coroutine keeps its own FP
 * control state. */
#ifndef SCHEDLAB_CORO_CTXSWITCH_H
#define SCHEDLAB_CORO_CTXSWITCH_H

#include "coro/coro.h"

#ifdef CORO_SAVE_FP_CONTROL
#define CORO_SWITCH coro_switch_fpctl
#else
#define CORO_SWITCH coro_switch
#endif

#endif
