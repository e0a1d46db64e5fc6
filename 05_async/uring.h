/*
 * uring.h - an io_uring instance through the raw system calls, no liburing.
 *
 * io_uring is two ring buffers shared between the process and the kernel:
 * the submission queue (SQ), where we put requests (SQEs: "recv into this
 * buffer"), and the completion queue (CQ), where the kernel puts results
 * (CQEs: "that recv got 42 bytes"). Both live in memory the kernel
 * allocates and we mmap. uring.c does the plumbing so that
 * uring_echo_server.c reads as the echo logic:
 *
 *   uring_init     io_uring_setup, the three mmaps, the feature checks
 *   uring_get_sqe  the next free SQE, zeroed (submitting first if full)
 *   uring_submit   publish the new SQEs and wait for completions
 *   uring_next_cqe take the next completion out of the CQ
 *   uring_free     unmap and close
 *
 * and a ring of provided buffers, which recvs share (uring_bufs_init,
 * uring_buf, uring_buf_put, uring_bufs_free).
 */
#ifndef TOUR_URING_H
#define TOUR_URING_H

#include <linux/io_uring.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One ring. The pointers point into the shared memory. */
struct uring {
    int fd;                    /* the ring's descriptor */
    unsigned features;         /* IORING_FEAT_* the kernel offers */
    atomic_uint *sq_head;      /* written by the kernel: SQEs consumed */
    atomic_uint *sq_tail;      /* written by us: SQEs published */
    unsigned sq_mask;          /* ring size - 1, for index & mask */
    unsigned sq_entries;       /* how many SQEs fit */
    unsigned sq_local_tail;    /* SQEs handed out, published or not */
    atomic_uint *sq_flags;     /* IORING_SQ_CQ_OVERFLOW and friends */
    struct io_uring_sqe *sqes; /* the SQE array */
    atomic_uint *cq_head;      /* written by us: CQEs consumed */
    atomic_uint *cq_tail;      /* written by the kernel: CQEs posted */
    unsigned cq_mask;          /* ring size - 1 */
    struct io_uring_cqe *cqes; /* the CQE array (inside the CQ ring) */
    void *sq_ring, *cq_ring;   /* the mappings, for munmap */
    size_t sq_ring_size, cq_ring_size, sqes_size;
};

/* Set up a ring with ENTRIES submission slots (a power of two) and
 * CQ_ENTRIES completion slots (rounded up to a power of two; at least
 * ENTRIES, at most 65536). Returns 0, or -1 with errno set: ENOSYS or
 * EPERM when the kernel refuses io_uring (not built in, disabled by the
 * io_uring_disabled sysctl, blocked by seccomp), EOPNOTSUPP when it lacks
 * a feature we need (IORING_FEAT_NODROP, IORING_FEAT_FAST_POLL: Linux
 * 5.7), anything else when setting up failed. *WHAT names the call. */
int uring_init(struct uring *r, unsigned entries, unsigned cq_entries,
               const char **what);

/* The next free SQE, zeroed, for the caller to fill in (opcode, fd,
 * addr, len, user_data...). When the SQ is full, what is in it is
 * submitted first, right there, where no completion can be reaped: the
 * caller must size the CQ so that it cannot overflow (see uring.c).
 * Returns NULL (errno set) if that submission fails. */
struct io_uring_sqe *uring_get_sqe(struct uring *r);

/* Publish the SQEs filled since the last call and, in the same
 * io_uring_enter, wait until at least WAIT completions are in the CQ.
 * Returns 0, or -errno. Three errors mean "reap what is in the CQ, then
 * call again": EINTR (a signal came while waiting), EAGAIN (the kernel
 * was short of memory for a request) and EBUSY (older kernels, from 5.5,
 * after a CQ overflow: no submission until the held-back completions are
 * reaped). Anything else is fatal. */
int uring_submit(struct uring *r, unsigned wait);

/* Copy the next completion into *CQE and give its slot back to the
 * kernel. Returns 1, or 0 when the CQ is empty. */
int uring_next_cqe(struct uring *r, struct io_uring_cqe *cqe);

/* EVENTS (POLLIN...) as a poll SQE's poll32_events wants them. */
uint32_t uring_poll_events(uint32_t events);

/* Unmap the rings and close the ring's descriptor. Call it only when no
 * request is in flight: the kernel could still write into our buffers. */
void uring_free(struct uring *r);

/* Provided buffers (Linux 5.19): a pool of COUNT buffers of SIZE bytes,
 * offered to the kernel through a third ring, the buffer ring. A recv
 * with IOSQE_BUFFER_SELECT and this pool's group names no buffer: the
 * kernel takes one from the ring when bytes arrive, and says which in
 * the CQE (IORING_CQE_F_BUFFER, the ID in flags >> IORING_CQE_BUFFER_SHIFT).
 * The buffer is then ours until uring_buf_put offers it again. If the
 * ring is empty, the recv completes with -ENOBUFS. */
struct uring_bufs {
    struct io_uring_buf_ring *ring; /* the entries, shared with the kernel */
    atomic_ushort *tail;            /* written by us: entries offered */
    unsigned short local_tail;      /* entries written, published or not */
    unsigned short mask;            /* ring size - 1 */
    char *base;                     /* the buffers, COUNT * SIZE bytes */
    unsigned size;                  /* bytes per buffer */
    size_t ring_size, base_size;    /* the mappings, for munmap */
};

/* Map the pool (untouched pages cost no memory: a buffer's pages are
 * allocated when the kernel first writes into them), register it with R
 * as buffer group GROUP, and offer every buffer. COUNT: a power of two,
 * at most 32768. Returns 0, or -1 with errno set (EOPNOTSUPP: the
 * kernel has no buffer rings) and *WHAT naming the call. */
int uring_bufs_init(struct uring_bufs *b, const struct uring *r,
                    unsigned short group, unsigned count, unsigned size,
                    const char **what);

/* Where buffer BID starts. */
char *uring_buf(const struct uring_bufs *b, unsigned bid);

/* Offer buffer BID to the kernel again. */
void uring_buf_put(struct uring_bufs *b, unsigned bid);

/* Unmap the pool: after uring_free, or with no recv of the group in
 * flight. */
void uring_bufs_free(struct uring_bufs *b);

#endif
