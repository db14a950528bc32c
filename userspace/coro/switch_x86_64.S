/* switch_x86_64.S: the coroutine context switch for x86-64 (System V ABI).
 *
 * struct coro_ctx (coro.h), byte offsets:
 *     0  rsp     the caller's rsp after coro_switch returns (ret addr popped)
 *     8  rip     where to resume: the return address of coro_switch
 *    16  rbx    24  rbp    32  r12    40  r13    48  r14    56  r15
 *    64  mxcsr (4 bytes)   68  x87 control word (2 bytes)
 *
 * coro_switch saves exactly the callee-saved integer state: rbx, rbp,
 * r12-r15, rsp, rip. It does NOT save MXCSR or the x87 control word. The ABI
 * makes their control bits callee-saved, and libaco and boost.context save
 * them, but here stmxcsr+ldmxcsr+fnstcw+fldcw cost 1.5 ns on a 4.0 ns switch
 * (AMD EPYC, microcoded; comparing before loading is worse, 2.3 ns), which
 * would miss the 1.25x-of-floor target. So the FP control state belongs to
 * the thread, shared by its coroutines: the contract (coro.h) is that a
 * coroutine that changes the rounding mode or exception masks restores them
 * before it yields, parks or ends. Then every switch still preserves them,
 * as the ABI asks of a call. coro_switch_fpctl is the variant that keeps them
 * per coroutine; coro.c uses it when built with -DCORO_SAVE_FP_CONTROL.
 * coro_ctx_make fills both slots either way (from the creator's state).
 * Not saved: caller-saved registers (the compiler already spilled what it
 * needs, since coro_switch is an ordinary call) and the status flags.
 *
 * No push/pop and no ret: the return address is read into the context and the
 * target is entered with an indirect jmp. A ret here would return into the
 * *other* context and mispredict on the return stack buffer every time
 * (7.7 ns instead of 3.4 ns here, docs/kernel-notes.md). Nothing is written below rsp, so
 * the caller's 128-byte red zone is untouched; rsp % 16 == 8 on entry (the
 * ABI's alignment at a call), and the resumed side gets back the rsp it had.
 */
	.text

.macro SAVE_REGS	/* rdi: from */
	mov	(%rsp), %rax
	lea	8(%rsp), %rdx
	mov	%rdx, 0(%rdi)
	mov	%rax, 8(%rdi)
	mov	%rbx, 16(%rdi)
	mov	%rbp, 24(%rdi)
	mov	%r12, 32(%rdi)
	mov	%r13, 40(%rdi)
	mov	%r14, 48(%rdi)
	mov	%r15, 56(%rdi)
.endm
.macro LOAD_REGS_AND_JMP	/* rsi: to */
	mov	16(%rsi), %rbx
	mov	24(%rsi), %rbp
	mov	32(%rsi), %r12
	mov	40(%rsi), %r13
	mov	48(%rsi), %r14
	mov	56(%rsi), %r15
	mov	0(%rsi), %rsp
	xor	%eax, %eax		/* the resumed side's return value: 0 */
	jmp	*8(%rsi)
.endm

/* int coro_switch(struct coro_ctx *from (rdi), struct coro_ctx *to (rsi)):
 * 0 to the side that resumes (coro.h says why it returns anything) */
	.globl	coro_switch
	.type	coro_switch, @function
	.p2align 4
coro_switch:
	.cfi_startproc
	SAVE_REGS
	LOAD_REGS_AND_JMP
	.cfi_endproc
	.size	coro_switch, .-coro_switch

/* int coro_switch_fpctl(struct coro_ctx *from, struct coro_ctx *to): the
 * same, plus MXCSR and the x87 control word. The stores go first so their
 * latency overlaps the register stores; the loads are unconditional (a
 * compare on the just-stored value stalls on store forwarding). */
	.globl	coro_switch_fpctl
	.type	coro_switch_fpctl, @function
	.p2align 4
coro_switch_fpctl:
	.cfi_startproc
	stmxcsr	64(%rdi)
	fnstcw	68(%rdi)
	SAVE_REGS
	ldmxcsr	64(%rsi)
	fldcw	68(%rsi)
	LOAD_REGS_AND_JMP
	.cfi_endproc
	.size	coro_switch_fpctl, .-coro_switch_fpctl

/* void coro_ctx_make(struct coro_ctx *ctx (rdi), void *stack_top (rsi),
 *                    void (*entry)(void *) (rdx), void *arg (rcx))
 * The new context inherits the caller's MXCSR and x87 control word, as a new
 * thread inherits its creator's floating-point environment (POSIX). */
	.globl	coro_ctx_make
	.type	coro_ctx_make, @function
	.p2align 4
coro_ctx_make:
	.cfi_startproc
	and	$-16, %rsi		/* the trampoline's call needs rsp % 16 == 0 */
	mov	%rsi, 0(%rdi)
	lea	coro_trampoline(%rip), %rax
	mov	%rax, 8(%rdi)
	movq	$0, 16(%rdi)
	movq	$0, 24(%rdi)		/* rbp 0 ends frame-pointer backtraces */
	mov	%rdx, 32(%rdi)		/* r12: entry */
	mov	%rcx, 40(%rdi)		/* r13: arg */
	movq	$0, 48(%rdi)
	movq	$0, 56(%rdi)
	stmxcsr	64(%rdi)
	fnstcw	68(%rdi)
	ret
	.cfi_endproc
	.size	coro_ctx_make, .-coro_ctx_make

/* First code a new context runs: entry(arg). entry must never return (the
 * runtime's entry switches away for good when the coroutine is done); ud2
 * turns a return into a clean SIGILL rather than a jump into garbage. */
	.type	coro_trampoline, @function
	.p2align 4
coro_trampoline:
	.cfi_startproc
	.cfi_undefined rip		/* outermost frame for debuggers */
	mov	%r13, %rdi
	call	*%r12
	ud2
	.cfi_endproc
	.size	coro_trampoline, .-coro_trampoline

	.section .note.GNU-stack,"",@progbits
