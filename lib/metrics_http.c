// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The Prometheus endpoint: libmicrohttpd serves whatever the render callback writes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics_http.h"
#include "prom.h"

#define METRICS_BUFFER (64u * 1024)

struct metrics_server {
	struct MHD_Daemon *daemon;
	metrics_render_fn render;
	void *ctx;
};

int metrics_parse_address(const char *text, struct sockaddr_storage *addr, char *err,
			  size_t err_len)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
	struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
	char host[64] = "127.0.0.1";
	const char *port_text = text, *colon;
	unsigned long port;
	char *end;

	memset(addr, 0, sizeof(*addr));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
			goto bad;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port_text = close + 2;
	} else if ((colon = strrchr(text, ':'))) {
		if ((size_t)(colon - text) >= sizeof(host))
			goto bad;
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		if (strchr(host, ':')) {
			/* "::1:9100" could be ::1 port 9100 or ::1:9100 on a default port */
			snprintf(err, err_len,
				 "'%s': an IPv6 address needs brackets, as in [::1]:9100", text);
			return -EINVAL;
		}
		if (!host[0])
			strcpy(host, "127.0.0.1");
		port_text = colon + 1;
	}
	errno = 0;
	port = strtoul(port_text, &end, 10);
	if (errno || end == port_text || *end || port == 0 || port > 65535)
		goto bad;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 0;
	}
bad:
	snprintf(err, err_len,
		 "'%s' is not PORT, ADDR:PORT or [IPv6]:PORT with a numeric address and a port in "
		 "1..65535",
		 text);
	return -EINVAL;
}

static enum MHD_Result metrics_answer(void *cls, struct MHD_Connection *connection, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **req_cls)
{
	struct metrics_server *server = cls;
	struct MHD_Response *response;
	unsigned int status = MHD_HTTP_OK;
	enum MHD_Result ret;
	char *text;
	size_t len;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return MHD_NO;
	text = malloc(METRICS_BUFFER);
	if (!text)
		return MHD_NO;
	if (!strcmp(url, "/metrics")) {
		struct prom_writer out;

		prom_init(&out, text, METRICS_BUFFER);
		server->render(server->ctx, &out);
		len = prom_finish(&out);
		if (out.truncated) {
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
			len = (size_t)snprintf(text, METRICS_BUFFER,
					       "the metrics exceed %u bytes\n", METRICS_BUFFER);
		}
	} else {
		status = MHD_HTTP_NOT_FOUND;
		len = (size_t)snprintf(text, METRICS_BUFFER, "%s serves /metrics only\n",
				       log_get_program());
	}
	response = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!response) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(response, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return ret;
}

int metrics_server_start(const struct sockaddr_storage *addr, metrics_render_fn render, void *ctx,
			 struct metrics_server **out)
{
	struct metrics_server *server = calloc(1, sizeof(*server));
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (!server)
		return -ENOMEM;
	server->render = render;
	server->ctx = ctx;
	if (addr->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	server->daemon = MHD_start_daemon(flags, 0, NULL, NULL, metrics_answer, server,
					  MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
					  MHD_OPTION_CONNECTION_LIMIT, 16U,
					  MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
	if (!server->daemon) {
		free(server);
		return -EADDRNOTAVAIL;
	}
	*out = server;
	return 0;
}

void metrics_server_stop(struct metrics_server *server)
{
	if (!server)
		return;
	MHD_stop_daemon(server->daemon);
	free(server);
}
