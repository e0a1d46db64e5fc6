#define _DEFAULT_SOURCE /* syscall(): glibc hides it under strict POSIX */
/*
 * uring.c - io_uring's setup, mappings, submission and completion, on the
 * raw system calls (see uring.h; liburing does the same, with more).
 *
 * Who writes what. Each ring has a head and a tail; the producer writes
 * the tail, the consumer the head, and each only reads the other's:
 *
 *   SQ: we produce (fill an SQE, then advance sq_tail);
 *       the kernel consumes (reads the SQE, then advances sq_head).
 *   CQ: the kernel produces (writes a CQE, then advances cq_tail);
 *       we consume (read the CQE, then advance cq_head).
 *
 * No lock: the two sides run at once, on different CPUs, so the order in
 * which one side's writes become visible to the other must be forced.
 * That is what the release stores and acquire loads below are for.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uring.h"

/* The ring's heads and tails are plain unsigned ints in shared memory,
 * which we access as atomic_uint: that needs the same size and a
 * lock-free implementation (no hidden lock the kernel knows nothing of). */
_Static_assert(sizeof(atomic_uint) == sizeof(unsigned), "atomic_uint size");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_uint must be lock-free");
_Static_assert(sizeof(atomic_ushort) == sizeof(unsigned short), "size");
_Static_assert(ATOMIC_SHORT_LOCK_FREE == 2, "atomic_ushort must be lock-free");

/* Map one region of the ring's descriptor: SIZE bytes at OFFSET (one of
 * the IORING_OFF_* constants, which tell the kernel which region).
 * Returns NULL on failure. */
static void *map_region(int fd, size_t size, off_t offset)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    return p == MAP_FAILED ? NULL : p;
}

int uring_init(struct uring *r, unsigned entries, unsigned cq_entries,
               const char **what)
{
    struct io_uring_params p;
    memset(r, 0, sizeof *r);
    memset(&p, 0, sizeof p);
    /* The kernel allocates both rings and the SQE array, and fills P
     * with their sizes and with the offsets of the fields inside them.
     * CQSIZE (5.5): the CQ gets CQ_ENTRIES slots, not twice ENTRIES. */
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = cq_entries;
    *what = "io_uring_setup";
    r->fd = (int)syscall(SYS_io_uring_setup, entries, &p);
    if (r->fd < 0) {
        return -1;
    }
    /* NODROP (5.5): when the CQ is full, completions wait in the kernel
     * instead of being lost. FAST_POLL (5.7): a recv on a socket with no
     * data waits on the socket's poll queue, as epoll would, instead of
     * taking a kernel worker thread that blocks in it. */
    unsigned need = IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL;
    r->features = p.features;
    if ((p.features & need) != need) {
        *what = "io_uring features NODROP and FAST_POLL (Linux 5.7)";
        uring_free(r);
        errno = EOPNOTSUPP;
        return -1;
    }
    /* Three regions: the SQ ring (head, tail, flags, and an array of
     * indexes into the SQEs), the CQ ring (head, tail, and the CQEs
     * themselves), and the SQE array. Since 5.4 (SINGLE_MMAP) both rings
     * live in one region, mapped once. */
    r->sq_ring_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_ring_size =
        p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_ring_size > r->sq_ring_size) {
            r->sq_ring_size = r->cq_ring_size;
        }
        r->cq_ring_size = 0; /* not mapped on its own */
    }
    *what = "mmap";
    r->sq_ring = map_region(r->fd, r->sq_ring_size, IORING_OFF_SQ_RING);
    r->cq_ring = r->cq_ring_size == 0
                     ? r->sq_ring
                     : map_region(r->fd, r->cq_ring_size, IORING_OFF_CQ_RING);
    r->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = map_region(r->fd, r->sqes_size, IORING_OFF_SQES);
    if (r->sq_ring == NULL || r->cq_ring == NULL || r->sqes == NULL) {
        int err = errno;
        uring_free(r);
        errno = err;
        return -1;
    }
    char *sq = r->sq_ring, *cq = r->cq_ring;
    r->sq_head = (atomic_uint *)(sq + p.sq_off.head);
    r->sq_tail = (atomic_uint *)(sq + p.sq_off.tail);
    r->sq_flags = (atomic_uint *)(sq + p.sq_off.flags);
    r->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_entries = p.sq_entries;
    r->cq_head = (atomic_uint *)(cq + p.cq_off.head);
    r->cq_tail = (atomic_uint *)(cq + p.cq_off.tail);
    r->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    /* The SQ ring holds indexes into the SQE array, so that SQEs could be
     * submitted in any order. We use slot i for ring position i, always:
     * fill the index array once. */
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    for (unsigned i = 0; i < p.sq_entries; i++) {
        array[i] = i;
    }
    r->sq_local_tail = atomic_load_explicit(r->sq_tail, memory_order_relaxed);
    return 0;
}

struct io_uring_sqe *uring_get_sqe(struct uring *r)
{
    /* Acquire load of sq_head, the kernel's: once it says an SQE is
     * consumed, the kernel is done reading it, and we may overwrite it. */
    while (r->sq_local_tail -
               atomic_load_explicit(r->sq_head, memory_order_acquire) ==
           r->sq_entries) {
        /* The SQ is full: hand the kernel what is in it. Without SQPOLL
         * the kernel takes every SQE during io_uring_enter. We are called
         * in the middle of handling completions, so reaping is not an
         * option here: EINTR and EAGAIN (no memory for a request just
         * now) are tried again, the SQEs still waiting in the ring. EBUSY
         * (older kernels: completions held back after a CQ overflow) would
         * need a reap first, so it is an error: the caller's CQ must be
         * big enough never to overflow. */
        int err = uring_submit(r, 0);
        if (err < 0 && err != -EINTR && err != -EAGAIN) {
            errno = -err;
            return NULL;
        }
    }
    struct io_uring_sqe *sqe = &r->sqes[r->sq_local_tail & r->sq_mask];
    r->sq_local_tail++;
    memset(sqe, 0, sizeof *sqe);
    return sqe;
}

int uring_submit(struct uring *r, unsigned wait)
{
    /* Release store of sq_tail, ours: every write we made to the new SQEs
     * becomes visible to the kernel before the tail that announces them.
     * (The kernel reads the tail with an acquire load: the pair makes
     * "sees the tail" imply "sees the SQEs".) */
    atomic_store_explicit(r->sq_tail, r->sq_local_tail, memory_order_release);
    unsigned pending = r->sq_local_tail -
                       atomic_load_explicit(r->sq_head, memory_order_acquire);
    unsigned flags = wait > 0 ? IORING_ENTER_GETEVENTS : 0;
    /* Completions held back because the CQ was full (NODROP: a safety
     * net, where the CQ is too small): GETEVENTS makes the kernel move
     * them into the CQ as room appears. */
    if (atomic_load_explicit(r->sq_flags, memory_order_relaxed) &
        IORING_SQ_CQ_OVERFLOW) {
        flags |= IORING_ENTER_GETEVENTS;
    }
    if (pending == 0 && flags == 0) {
        return 0;
    }
    /* One system call submits everything new and waits for WAIT
     * completions (returning at once if they are there already). No
     * signal mask: NULL, and its size 0. syscall() is variadic, so each
     * argument goes at the width the kernel reads: a plain 0 would be an
     * int, and the upper half of the size_t register left undefined. */
    long n = syscall(SYS_io_uring_enter, r->fd, pending, wait, flags,
                     (void *)NULL, (size_t)0);
    if (n < 0) {
        return -errno;
    }
    return 0;
}

int uring_next_cqe(struct uring *r, struct io_uring_cqe *cqe)
{
    /* cq_head is ours alone: a relaxed load. cq_tail is the kernel's:
     * acquire, so that the CQE it announces is visible before we read it
     * (the kernel wrote the CQE, then stored the tail with release). */
    unsigned head = atomic_load_explicit(r->cq_head, memory_order_relaxed);
    if (head == atomic_load_explicit(r->cq_tail, memory_order_acquire)) {
        return 0;
    }
    *cqe = r->cqes[head & r->cq_mask];
    /* Release store of cq_head: our read of the CQE is complete before
     * the kernel may see the slot as free and write the next one in it. */
    atomic_store_explicit(r->cq_head, head + 1, memory_order_release);
    return 1;
}

/* The kernel swaps the field's two 16-bit halves on a big-endian machine
 * (an old ABI had a 16-bit poll_events there), so they are swapped here
 * too, as liburing does; on a little-endian one they stay as they are. */
uint32_t uring_poll_events(uint32_t events)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return events << 16 | events >> 16;
#else
    return events;
#endif
}

void uring_free(struct uring *r)
{
    if (r->sqes != NULL) {
        munmap(r->sqes, r->sqes_size);
    }
    if (r->cq_ring != NULL && r->cq_ring != r->sq_ring) {
        munmap(r->cq_ring, r->cq_ring_size);
    }
    if (r->sq_ring != NULL) {
        munmap(r->sq_ring, r->sq_ring_size);
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

int uring_bufs_init(struct uring_bufs *b, const struct uring *r,
                    unsigned short group, unsigned count, unsigned size,
                    const char **what)
{
    memset(b, 0, sizeof *b);
    /* The buffer ring is memory of ours, page-aligned, that the kernel
     * pins at registration: COUNT entries of 16 bytes (address, length,
     * ID). The buffers themselves are one anonymous mapping. */
    b->ring_size = count * sizeof(struct io_uring_buf);
    b->base_size = (size_t)count * size;
    b->size = size;
    b->mask = (unsigned short)(count - 1);
    *what = "mmap";
    b->ring = mmap(NULL, b->ring_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    b->base = mmap(NULL, b->base_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b->ring == MAP_FAILED || b->base == MAP_FAILED) {
        int err = errno;
        uring_bufs_free(b);
        errno = err;
        return -1;
    }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uintptr_t)b->ring;
    reg.ring_entries = count;
    reg.bgid = group;
    *what = "io_uring_register PBUF_RING";
    if (syscall(SYS_io_uring_register, r->fd, IORING_REGISTER_PBUF_RING, &reg,
                1) < 0) {
        int err = errno;
        uring_bufs_free(b);
        /* Before 5.19 the kernel knows no such opcode: EINVAL. */
        if (err == EINVAL) {
            *what = "io_uring provided buffer rings (Linux 5.19)";
            err = EOPNOTSUPP;
        }
        errno = err;
        return -1;
    }
    /* The ring's tail is a 16-bit field overlaid on the first entry's
     * last two bytes (its resv): the kernel reads it, never writes it. */
    b->tail = (atomic_ushort *)&b->ring->tail;
    for (unsigned bid = 0; bid < count; bid++) {
        uring_buf_put(b, bid);
    }
    return 0;
}

char *uring_buf(const struct uring_bufs *b, unsigned bid)
{
    return b->base + (size_t)bid * b->size;
}

void uring_buf_put(struct uring_bufs *b, unsigned bid)
{
    /* Fill the entry field by field: a whole-struct store into entry 0
     * would overwrite the tail that shares its last two bytes. */
    struct io_uring_buf *e = &b->ring->bufs[b->local_tail & b->mask];
    e->addr = (uintptr_t)uring_buf(b, bid);
    e->len = b->size;
    e->bid = (unsigned short)bid;
    b->local_tail++;
    /* Release store of the tail, ours, as for the SQ: the entry is
     * visible to the kernel before the tail that offers it. The kernel
     * consumes entries from its own head, which it keeps to itself; an
     * entry is free again once we have the CQE of the recv that took it,
     * so the ring never holds more than COUNT. */
    atomic_store_explicit(b->tail, b->local_tail, memory_order_release);
}

void uring_bufs_free(struct uring_bufs *b)
{
    if (b->ring != NULL && b->ring != MAP_FAILED) {
        munmap(b->ring, b->ring_size);
    }
    if (b->base != NULL && b->base != MAP_FAILED) {
        munmap(b->base, b->base_size);
    }
    memset(b, 0, sizeof *b);
}
