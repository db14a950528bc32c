/* switch_aarch64.S: the coroutine context switch for AArch64 (AAPCS64).
 *
 * struct coro_ctx (coro.h), byte offsets:
 *     0  sp      8  pc (the lr coro_switch was called with)
 *    16  x19    24  x20    32  x21    40  x22    48  x23
 *    56  x24    64  x25    72  x26    80  x27    88  x28
 *    96  x29 (fp)         104  fpcr
 *   112  d8    120  d9    128  d10   136  d11
 *   144  d12   152  d13   160  d14   168  d15
 *
 * coro_switch saves the callee-saved registers of AAPCS64: x19-x28, fp, sp,
 * and the low 64 bits of v8-v15 (only those are callee-saved). It does not
 * save FPCR (rounding mode, flush-to-zero), for the same reason and with the
 * same contract as MXCSR on x86-64 (see switch_x86_64.S): the FP control
 * state belongs to the thread, and a coroutine that changes it restores it
 * before it yields, parks or ends. coro_switch_fpctl also saves and loads
 * FPCR; coro.c uses it when built with -DCORO_SAVE_FP_CONTROL.
 * Not saved: x0-x18, v0-v7/v16-v31, the upper halves of v8-v15, FPSR (status
 * flags, caller-saved).
 *
 * sp stays 16-byte aligned at all times (AAPCS64 requires it, not only at
 * calls); there is no red zone. The target is entered with br, not ret, so
 * the return-address predictor is not asked to guess a return into another
 * context. No BTI landing pads: Debian does not build with
 * -mbranch-protection; add `bti j` at resume points if it ever does.
 */
	.text

.macro SAVE_REGS	/* x0: from */
	mov	x9, sp
	stp	x9, x30, [x0, #0]
	stp	x19, x20, [x0, #16]
	stp	x21, x22, [x0, #32]
	stp	x23, x24, [x0, #48]
	stp	x25, x26, [x0, #64]
	stp	x27, x28, [x0, #80]
	str	x29, [x0, #96]
	stp	d8, d9, [x0, #112]
	stp	d10, d11, [x0, #128]
	stp	d12, d13, [x0, #144]
	stp	d14, d15, [x0, #160]
.endm
.macro LOAD_REGS_AND_BR	/* x1: to */
	ldp	x9, x30, [x1, #0]
	ldp	x19, x20, [x1, #16]
	ldp	x21, x22, [x1, #32]
	ldp	x23, x24, [x1, #48]
	ldp	x25, x26, [x1, #64]
	ldp	x27, x28, [x1, #80]
	ldr	x29, [x1, #96]
	ldp	d8, d9, [x1, #112]
	ldp	d10, d11, [x1, #128]
	ldp	d12, d13, [x1, #144]
	ldp	d14, d15, [x1, #160]
	mov	sp, x9
	mov	w0, wzr			/* the resumed side's return value: 0 */
	br	x30
.endm

/* int coro_switch(struct coro_ctx *from (x0), struct coro_ctx *to (x1)): 0 */
	.globl	coro_switch
	.type	coro_switch, %function
	.p2align 4
coro_switch:
	.cfi_startproc
	SAVE_REGS
	LOAD_REGS_AND_BR
	.cfi_endproc
	.size	coro_switch, .-coro_switch

/* The same, plus FPCR; written only when it differs (msr fpcr can be
 * self-synchronising on some cores). */
	.globl	coro_switch_fpctl
	.type	coro_switch_fpctl, %function
	.p2align 4
coro_switch_fpctl:
	.cfi_startproc
	mrs	x10, fpcr
	str	x10, [x0, #104]
	ldr	x11, [x1, #104]
	cmp	x10, x11
	b.eq	1f
	msr	fpcr, x11
1:	SAVE_REGS
	LOAD_REGS_AND_BR
	.cfi_endproc
	.size	coro_switch_fpctl, .-coro_switch_fpctl

/* void coro_ctx_make(struct coro_ctx *ctx (x0), void *stack_top (x1),
 *                    void (*entry)(void *) (x2), void *arg (x3))
 * The new context inherits the caller's FPCR, as a new thread does. */
	.globl	coro_ctx_make
	.type	coro_ctx_make, %function
	.p2align 4
coro_ctx_make:
	.cfi_startproc
	and	x1, x1, #~15
	adr	x9, coro_trampoline
	stp	x1, x9, [x0, #0]
	stp	x2, x3, [x0, #16]	/* x19: entry, x20: arg */
	stp	xzr, xzr, [x0, #32]
	stp	xzr, xzr, [x0, #48]
	stp	xzr, xzr, [x0, #64]
	stp	xzr, xzr, [x0, #80]
	mrs	x10, fpcr
	stp	xzr, x10, [x0, #96]	/* fp 0 ends frame-pointer backtraces */
	stp	xzr, xzr, [x0, #112]
	stp	xzr, xzr, [x0, #128]
	stp	xzr, xzr, [x0, #144]
	stp	xzr, xzr, [x0, #160]
	ret
	.cfi_endproc
	.size	coro_ctx_make, .-coro_ctx_make

/* First code a new context runs: entry(arg). entry must never return; brk
 * turns a return into a clean SIGTRAP rather than a jump into garbage. */
	.type	coro_trampoline, %function
	.p2align 4
coro_trampoline:
	.cfi_startproc
	.cfi_undefined x30		/* outermost frame for debuggers */
	mov	x0, x20
	blr	x19
	brk	#0
	.cfi_endproc
	.size	coro_trampoline, .-coro_trampoline

	.section .note.GNU-stack,"",%progbits
