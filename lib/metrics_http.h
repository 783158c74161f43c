/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A Prometheus text endpoint (GET /metrics) on libmicrohttpd. Off unless asked for, and bound
 * to 127.0.0.1 unless an address is given.
 */
#ifndef FLOW_LIB_METRICS_HTTP_H
#define FLOW_LIB_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

struct prom_writer;

/* Writes the exposition text; a page that did not fit is answered with an error, not cut. */
typedef void (*metrics_render_fn)(void *ctx, struct prom_writer *out);

struct metrics_server;

/*
 * Parses "PORT", "ADDR:PORT" or "[IPv6]:PORT"; a bare port means 127.0.0.1. Returns 0, or
 * -EINVAL with a message in err.
 */
int metrics_parse_address(const char *text, struct sockaddr_storage *addr, char *err,
			  size_t err_len);

/* Starts serving on addr from a thread of its own; render is called from that thread. */
int metrics_server_start(const struct sockaddr_storage *addr, metrics_render_fn render, void *ctx,
			 struct metrics_server **server);
void metrics_server_stop(struct metrics_server *server);

#endif
