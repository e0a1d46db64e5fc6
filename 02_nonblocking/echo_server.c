/*
 * echo_server - every byte a client sends comes back, many clients at once.
 *
 * Usage: echo_server [PORT]             (default 10086; 0 picks a free port)
 *
 * Protocol: echo (RFC 862 style): every byte received is sent back, in
 * order, whatever the chunking; the server closes after the client has.
 * Pairs with: echo_client, `nc localhost 10086`, 03_epoll's loadgen.
 * Try it:   ./build/02_nonblocking/echo_server
 *           ./build/02_nonblocking/echo_client < /etc/services \
 *               | cmp - /etc/services
 * What to notice:
 *   - the whole program is deal(): input moves to output, and the
 *     skeleton (nb_server.c) does every recv and send, non-blocking;
 *   - back-pressure: a client that does not read makes the server stop
 *     reading from it (OUTPUT_LIMIT), so it costs at most about 1 MiB;
 *   - the log shows events, never data.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "nb_server.h"

#define DEFAULT_PORT "10086" /* the original tour's port */
#define MAX_CONNS 256        /* clients at once; more are refused */
#define INPUT_CHUNK 65536    /* input read before deal() moves it */

static void usage(FILE *out)
{
    fprintf(out, "usage: echo_server [PORT]\n");
}

/* The echo protocol: whatever came in goes out, and nothing else. At the
 * client's EOF this returns with c->out holding the last bytes; the
 * skeleton sends them and then closes (an empty c->out after EOF means
 * "done"). */
static enum deal_result echo_deal(struct conn *c, enum deal_event ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    if (buf_len(&c->in) == 0) {
        return DEAL_KEEP; /* accepted, EOF, or all sent: nothing new */
    }
    if (buf_append(&c->out, buf_data(&c->in), buf_len(&c->in)) < 0) {
        warn_errno("[%d] echo", c->id);
        return DEAL_CLOSE;
    }
    buf_consume(&c->in, buf_len(&c->in));
    return DEAL_KEEP;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 || (argc == 2 && net_parse_port(argv[1]) < 0)) {
        usage(stderr);
        return 2;
    }
    static const struct protocol echo = {
        .deal = echo_deal,
        .max_input = INPUT_CHUNK,
        .max_conns = MAX_CONNS,
        .fds_per_conn = 1,
    };
    install_stop_handlers();
    struct acceptor acceptor;
    if (acceptor_open(&acceptor, argc == 2 ? argv[1] : DEFAULT_PORT, &echo,
                      NULL) < 0) {
        return 1;
    }
    run_loop(&acceptor);
    acceptor_close(&acceptor);
    return 0;
}
