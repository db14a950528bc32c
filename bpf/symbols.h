/* symbols.h: addresses of the stacks probe's stacks to function names,
 * after the run: kernel ones from /proc/kallsyms, user ones with elfutils'
 * libdwfl from a snapshot of the process's /proc/PID/maps taken while it
 * lived (a reaped process has none left). */
#ifndef SCHEDLAB_SYMBOLS_H
#define SCHEDLAB_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct symbols;

struct symbols *symbols_new(void);
void symbols_free(struct symbols *s);
/* Keeps the current /proc/PID/maps of tgid (replacing an older one), the
 * first few times it is asked and again after each exec (execs: the
 * process's exec count); false when it could not be read (it is gone). */
bool symbols_snapshot(struct symbols *s, pid_t tgid, unsigned execs);
/* The name of the function holding addr (a return address: looked up at
 * addr - 1), or "[module+0xoff]", or "[unknown]". Into buf. */
const char *symbols_kernel(struct symbols *s, uint64_t addr, char *buf, size_t len);
const char *symbols_user(struct symbols *s, pid_t tgid, uint64_t addr, char *buf, size_t len);

#endif
