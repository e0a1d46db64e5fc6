#define _DEFAULT_SOURCE /* syscall(): glibc hides it under strict POSIX */
/*
 * no_uring - run a program as if the kernel refused io_uring.
 *
 * Usage: no_uring PROGRAM [ARGS...]
 *
 * Installs a seccomp filter that makes io_uring_setup fail with ENOSYS,
 * as Docker's default profile and many sandboxes do, then execs PROGRAM.
 * The filter is inherited across exec and cannot be removed, so PROGRAM
 * meets the refusal however it calls io_uring_setup. The tests use it to
 * prove that uring_echo_server says why and exits 77 (a skip), on a
 * machine where io_uring works. Status: PROGRAM's, or 1 if the filter
 * cannot be installed, 2 on bad usage, 127 if PROGRAM cannot be run.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

/* The architecture the filter expects: a system call from another ABI
 * (a 32-bit call on a 64-bit kernel) has other numbers, so it is refused
 * as a whole instead of being checked against the wrong table. */
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define ARCH AUDIT_ARCH_RISCV64
#else
#error "no_uring: add this architecture's AUDIT_ARCH_ value"
#endif

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000 /* x32 calls: x86_64 arch, this bit */
#endif

/* The filter, a classic BPF program run on every system call's
 * struct seccomp_data: wrong architecture or an x32 call: ENOSYS;
 * io_uring_setup: ENOSYS; anything else: allowed. */
static int refuse_io_uring(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof code / sizeof code[0]),
        .filter = code,
    };
    /* Without privileges, a filter may be installed only by a process
     * that can never gain any (no set-user-ID exec): say so first. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0) {
        return -1;
    }
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: no_uring PROGRAM [ARGS...]\n");
        return 2;
    }
    if (refuse_io_uring() < 0) {
        die_errno("seccomp");
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "exec %s: %s (%s)\n", argv[1], errno_name(errno),
            strerror(errno));
    return 127;
}
