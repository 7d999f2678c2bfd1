/* emu_switch_x86_64.S — void mmrt_emu_switch_x86_64(void** save_sp, void* load_sp)
 *
 * Cooperative switch between two stacks (System V x86-64). Only what the ABI makes callee-saved
 * survives a call, so only that is saved: rbp, rbx, r12-r15, and the control bits of MXCSR and
 * the x87 control word. The new stack must hold the same layout (see fiber_init for a fresh one).
 */
        .text
        .globl  mmrt_emu_switch_x86_64
        .type   mmrt_emu_switch_x86_64, @function
mmrt_emu_switch_x86_64:
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .size   mmrt_emu_switch_x86_64, .-mmrt_emu_switch_x86_64

        .section .note.GNU-stack,"",@progbits
