// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The two stores. The embedded one declares the few libchdb functions it uses itself (the npm
 * package ships no header) and resolves them with dlsym, so the collector runs without
 * libchdb when it writes to a server.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>

#include "kafka_conf.h"
#include "log.h"
#include "paths.h"
#include "store.h"

#define LIBCHDB_NAME "libchdb.so"
/* the collector's own stores and the readers of an HTTP endpoint (HTTP_MAX_CONCURRENT_LIMIT) */
#define MAX_OPEN_STORES	 80
#define STORE_PARAMS_MAX 16
/* A store's error message is kept whole up to this size: ClickHouse's may span lines. */
#define STORE_ERROR_MAX 4096

/* libchdb 26.7's C API, as far as we use it. */
typedef struct chdb_conn_s *chdb_conn;
typedef struct chdb_result_s chdb_result;
typedef struct chdb_stream_s *chdb_stream;

struct chdb_api {
	void *library;
	chdb_conn *(*connect)(int argc, char **argv);
	void (*close_conn)(chdb_conn *conn);
	chdb_result *(*query)(chdb_conn conn, const char *query, const char *format);
	chdb_result *(*query_with_params)(chdb_conn conn, const char *query, const char *format,
					  const char *const *names, const char *const *values,
					  size_t count);
	void (*destroy_result)(chdb_result *result);
	char *(*result_buffer)(chdb_result *result);
	size_t (*result_length)(chdb_result *result);
	const char *(*result_error)(chdb_result *result);
	chdb_stream (*stream_insert)(chdb_conn conn, const char *query, const char *format);
	int (*stream_append)(chdb_stream stream, const void *data, size_t len);
	chdb_result *(*stream_done)(chdb_stream stream);
	const char *(*stream_error)(chdb_stream stream);
	void (*stream_destroy)(chdb_stream stream);
	void (*set_signal_handlers_enabled)(int enabled);
	/* optional: what a query read, for store_last_stats */
	uint64_t (*result_rows)(chdb_result *result); /* libchdb's "rows_read": the result's */
	uint64_t (*result_storage_rows_read)(chdb_result *result);
	uint64_t (*result_storage_bytes_read)(chdb_result *result);
	double (*result_elapsed)(chdb_result *result);
};

struct store {
	char description[PATH_MAX + 32];
	/* embedded */
	struct chdb_api chdb;
	chdb_conn *connection;
	char embedded_path[PATH_MAX];
	struct store_stats last_stats;
	/* HTTP */
	CURL *curl;
	char *url;   /* the server asked first */
	char **urls; /* every server (url among them), for failover */
	unsigned int url_count;
	unsigned int url_current; /* index of url in urls */
	long timeout_ms, connect_timeout_ms;
	enum store_failure last_failure;
	int last_exception_code;
	char *user;
	char *password;
	/* SELECT version(), asked once */
	int version_major, version_minor;
};

/* Open stores, closed by store_close_all on every exit path. */
static struct store *open_stores[MAX_OPEN_STORES];
static pthread_mutex_t open_stores_lock = PTHREAD_MUTEX_INITIALIZER;

static void remember(struct store *store, int add)
{
	int i;

	pthread_mutex_lock(&open_stores_lock);
	for (i = 0; i < MAX_OPEN_STORES; i++) {
		if (add && !open_stores[i]) {
			open_stores[i] = store;
			break;
		}
		if (!add && open_stores[i] == store) {
			open_stores[i] = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&open_stores_lock);
}

/*
 * The library: the option, $FLOWCOLLECTOR_LIBCHDB, chdb/ beside the executable (build/),
 * ../lib/flowagent/chdb/ (installed: bin/flowcollector), or the loader's path.
 */
static void find_libchdb(const char *option, char *path, size_t size)
{
	const char *env = getenv("FLOWCOLLECTOR_LIBCHDB");

	if (option || env)
		snprintf(path, size, "%s", option ? option : env);
	else if (path_beside_executable(path, size, "chdb/" LIBCHDB_NAME) &&
		 path_beside_executable(path, size, "../lib/flowagent/chdb/" LIBCHDB_NAME))
		snprintf(path, size, "%s", LIBCHDB_NAME);
}

static int load_chdb(struct chdb_api *api, const char *path, char *err, size_t err_len)
{
	const struct {
		void **slot;
		const char *name;
	} symbols[] = {
		{ (void **)&api->connect, "chdb_connect" },
		{ (void **)&api->close_conn, "chdb_close_conn" },
		{ (void **)&api->query, "chdb_query" },
		{ (void **)&api->query_with_params, "chdb_query_with_params" },
		{ (void **)&api->destroy_result, "chdb_destroy_query_result" },
		{ (void **)&api->result_buffer, "chdb_result_buffer" },
		{ (void **)&api->result_length, "chdb_result_length" },
		{ (void **)&api->result_error, "chdb_result_error" },
		{ (void **)&api->stream_insert, "chdb_stream_insert" },
		{ (void **)&api->stream_append, "chdb_stream_append" },
		{ (void **)&api->stream_done, "chdb_stream_done" },
		{ (void **)&api->stream_error, "chdb_stream_insert_error" },
		{ (void **)&api->stream_destroy, "chdb_destroy_insert_stream" },
		{ (void **)&api->set_signal_handlers_enabled, "chdb_set_signal_handlers_enabled" },
	};
	size_t i;

	api->library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!api->library) {
		snprintf(err, err_len,
			 "cannot load the embedded ClickHouse (%s): %s; run `make deps`, "
			 "or give --libchdb PATH",
			 path, dlerror());
		return -ENOENT;
	}
	for (i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		*symbols[i].slot = dlsym(api->library, symbols[i].name);
		if (!*symbols[i].slot) {
			snprintf(err, err_len, "%s has no %s: libchdb 26.7 or later is needed",
				 path, symbols[i].name);
			return -ENOENT;
		}
	}
	api->result_rows = dlsym(api->library, "chdb_result_rows_read");
	api->result_storage_rows_read = dlsym(api->library, "chdb_result_storage_rows_read");
	api->result_storage_bytes_read = dlsym(api->library, "chdb_result_storage_bytes_read");
	api->result_elapsed = dlsym(api->library, "chdb_result_elapsed");
	return 0;
}

/* mkdir -p: each missing directory of path; err names the one that could not be made. */
static int make_directories(const char *path, char *err, size_t err_len)
{
	char partial[PATH_MAX];
	size_t len = strlen(path), i;
	struct stat st;

	if (len >= sizeof(partial)) {
		snprintf(err, err_len, "%.64s...: path too long", path);
		return -ENAMETOOLONG;
	}
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		memcpy(partial, path, i);
		partial[i] = '\0';
		if (mkdir(partial, 0755) && errno != EEXIST) {
			int ret = -errno;

			snprintf(err, err_len, "cannot create the directory %s: %s", partial,
				 strerror(-ret));
			return ret;
		}
	}
	if (stat(path, &st)) {
		int ret = -errno;

		snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, err_len, "%s is not a directory", path);
		return -ENOTDIR;
	}
	return 0;
}

/*
 * What the embedded store needs of its directory, tried one step at a time so that a failure
 * names the step and its errno: the directory (made if missing), writing in it, and the lock
 * ClickHouse takes on PATH/status (flock, exclusive, as its StatusFile does). Only a lock held
 * by someone else means another process uses the store. The lock is released again: libchdb
 * takes it itself.
 */
static int embedded_check(const char *path, char *err, size_t err_len)
{
	char status[PATH_MAX + 16];
	int fd, ret;

	ret = make_directories(path, err, err_len);
	if (ret)
		return ret;
	if (access(path, W_OK | X_OK)) {
		ret = -errno;
		snprintf(err, err_len, "cannot write in %s: %s", path, strerror(-ret));
		return ret;
	}
	snprintf(status, sizeof(status), "%s/status", path);
	fd = open(status, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot open %s for writing: %s", status, strerror(-ret));
		return ret;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		ret = -errno;
		if (ret == -EWOULDBLOCK)
			snprintf(
				err, err_len,
				"%s is locked: another flowcollector (or ClickHouse) is using this "
				"store",
				status);
		else
			snprintf(err, err_len, "cannot lock %s: %s", status, strerror(-ret));
		close(fd);
		return ret == -EWOULDBLOCK ? -EBUSY : ret;
	}
	close(fd);
	return 0;
}

/*
 * chdb_connect prints its exception to stderr before it returns NULL. Without -v that text is
 * caught in why (its first line), for one message of ours that says the cause; with -v it is
 * shown as it comes.
 */
static chdb_conn *connect_quietly(struct store *store, char **argv, char *why, size_t why_len)
{
	int verbose = log_get_level() >= LOG_LEVEL_INFO, saved = -1, caught = -1;
	chdb_conn *connection;
	ssize_t n = 0;
	int argc = 0;

	while (argv[argc])
		argc++;
	why[0] = '\0';
	if (!verbose) {
		fflush(stderr);
		caught = memfd_create("flowcollector-chdb-stderr", MFD_CLOEXEC);
		saved = caught >= 0 ? fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3) : -1;
		if (saved < 0 || dup2(caught, STDERR_FILENO) < 0) {
			if (saved >= 0)
				close(saved);
			saved = -1;
		}
	}
	connection = store->chdb.connect(argc, argv);
	if (saved >= 0) {
		fflush(stderr);
		dup2(saved, STDERR_FILENO);
		close(saved);
		n = pread(caught, why, why_len - 1, 0);
		why[n > 0 ? n : 0] = '\0';
		why[strcspn(why, "\r\n")] = '\0';
	}
	if (caught >= 0)
		close(caught);
	return connection;
}

static int open_embedded(struct store *store, const struct store_options *options, char *err,
			 size_t err_len)
{
	char library[PATH_MAX], path_arg[PATH_MAX + 16], why[1024], cause[2 * PATH_MAX];
	char *argv[] = { "flowcollector", path_arg, NULL };
	const char *path = options->embedded_path;
	int ret;

	ret = embedded_check(path, cause, sizeof(cause));
	if (ret) {
		snprintf(err, err_len, "cannot open the embedded ClickHouse at %s: %s", path,
			 cause);
		return ret;
	}
	find_libchdb(options->libchdb, library, sizeof(library));
	ret = load_chdb(&store->chdb, library, err, err_len);
	if (ret)
		return ret;
	/* Our signals are ours: SIGINT/SIGTERM stop the collector, which then closes the store. */
	store->chdb.set_signal_handlers_enabled(0);
	snprintf(path_arg, sizeof(path_arg), "--path=%s", path);
	store->connection = connect_quietly(store, argv, why, sizeof(why));
	if (!store->connection || !*store->connection) {
		store->connection = NULL;
		/* the lock may have been taken since the check: ask again, for the real cause */
		ret = embedded_check(path, cause, sizeof(cause));
		snprintf(err, err_len, "cannot open the embedded ClickHouse at %s: %s", path,
			 ret	? cause :
			 why[0] ? why :
				  "libchdb returned no connection and no reason");
		return ret ? ret : -EIO;
	}
	snprintf(store->description, sizeof(store->description), "embedded:%s", path);
	snprintf(store->embedded_path, sizeof(store->embedded_path), "%s", path);
	return 0;
}

int store_open_reader(struct store *writer, struct store **out, char *err, size_t err_len)
{
	char path_arg[PATH_MAX + 16], why[1024];
	/* readonly=2: a query may change its settings, never data, tables or readonly itself */
	char *argv[] = { "flowcollector", path_arg, "--readonly=2", NULL };
	struct store *store;

	if (!writer->connection) {
		snprintf(err, err_len, "%s: a read-only connection needs the embedded store",
			 writer->description);
		return -EOPNOTSUPP;
	}
	store = calloc(1, sizeof(*store));
	if (!store)
		return -ENOMEM;
	/* the same loaded library; the directory lock is the writer's, held by this process */
	store->chdb = writer->chdb;
	snprintf(path_arg, sizeof(path_arg), "--path=%s", writer->embedded_path);
	store->connection = connect_quietly(store, argv, why, sizeof(why));
	if (!store->connection || !*store->connection) {
		store->connection = NULL;
		snprintf(err, err_len, "cannot open a read-only connection to %s: %s",
			 writer->description, why[0] ? why : "libchdb returned no connection");
		free(store);
		return -EIO;
	}
	snprintf(store->description, sizeof(store->description), "embedded:%s (read-only)",
		 writer->embedded_path);
	snprintf(store->embedded_path, sizeof(store->embedded_path), "%s", writer->embedded_path);
	remember(store, 1);
	*out = store;
	return 0;
}

/*
 * The password: the first line of a file only its owner can read (the rule of the Kafka
 * properties file, kafka_conf.h), so it is on no command line and in no other user's reach.
 */
static char *read_secret_file(const char *path, char *err, size_t err_len)
{
	char line[1024], why[512];
	FILE *file = fopen(path, "re");

	if (!file) {
		snprintf(err, err_len, "--clickhouse-password-file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (secret_file_check(fileno(file), path, why, sizeof(why))) {
		snprintf(err, err_len, "--clickhouse-password-file refused: %s", why);
		fclose(file);
		return NULL;
	}
	if (!fgets(line, sizeof(line), file))
		line[0] = '\0';
	fclose(file);
	line[strcspn(line, "\r\n")] = '\0';
	return strdup(line);
}

/* 1 when an http:// URL's host is this machine by name: nothing else sees the password. */
static int url_host_is_local(const char *url)
{
	static const char *const local[] = { "localhost", "127.0.0.1", "[::1]" };
	const char *host = url + strlen("http://");
	size_t len = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/?#");
	size_t i;

	for (i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (len == strlen(local[i]) && !strncasecmp(host, local[i], len))
			return 1;
	return 0;
}

static int open_http(struct store *store, const struct store_options *options, char *err,
		     size_t err_len)
{
	static int warned_plain_password;
	unsigned int i;

	if (strncmp(options->http_url, "http://", 7) && strncmp(options->http_url, "https://", 8)) {
		snprintf(err, err_len,
			 "--clickhouse '%s': expected http://HOST:PORT/ or https://...",
			 options->http_url);
		return -EINVAL;
	}
	if (strchr(options->http_url, '@')) {
		snprintf(err, err_len,
			 "--clickhouse: no credentials in the URL; use --clickhouse-user "
			 "and --clickhouse-password-file");
		return -EINVAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	store->curl = curl_easy_init();
	store->timeout_ms = options->timeout_ms ? options->timeout_ms : 300000;
	store->connect_timeout_ms = options->connect_timeout_ms ? options->connect_timeout_ms :
								  10000;
	store->urls = calloc(1 + options->http_failover_count, sizeof(*store->urls));
	if (!store->urls)
		return -ENOMEM;
	store->urls[store->url_count++] = strdup(options->http_url);
	for (i = 0; i < options->http_failover_count; i++)
		store->urls[store->url_count++] = strdup(options->http_failover_urls[i]);
	for (i = 0; i < store->url_count; i++)
		if (!store->urls[i])
			return -ENOMEM;
	store->url = store->urls[0];
	if (options->http_user)
		store->user = strdup(options->http_user);
	if (options->http_password_file) {
		store->password = read_secret_file(options->http_password_file, err, err_len);
		if (!store->password)
			return -EINVAL;
		if (!strncmp(options->http_url, "http://", 7) &&
		    !url_host_is_local(options->http_url) && !options->quiet &&
		    !warned_plain_password++)
			pr_warn("warning: --clickhouse %.*s: the password goes over the network "
				"unencrypted (http://); use https://\n",
				(int)strcspn(options->http_url + 7, "/?#") + 7, options->http_url);
	}
	if (!store->curl)
		return -ENOMEM;
	snprintf(store->description, sizeof(store->description), "%s", options->http_url);
	return 0;
}

int store_open(const struct store_options *options, struct store **out, char *err, size_t err_len)
{
	struct store *store = calloc(1, sizeof(*store));
	int ret;

	if (!store)
		return -ENOMEM;
	ret = options->embedded_path ? open_embedded(store, options, err, err_len) :
				       open_http(store, options, err, err_len);
	if (ret) {
		store_close(store);
		return ret;
	}
	remember(store, 1);
	*out = store;
	return 0;
}

void store_close(struct store *store)
{
	if (!store)
		return;
	remember(store, 0);
	if (store->connection)
		store->chdb.close_conn(store->connection);
	store->connection = NULL;
	/* libchdb stays loaded: unloading a library with static ClickHouse state is not safe */
	if (store->curl)
		curl_easy_cleanup(store->curl);
	if (store->urls) {
		unsigned int i;

		for (i = 0; i < store->url_count; i++)
			free(store->urls[i]);
		free(store->urls);
	}
	free(store->user);
	if (store->password) {
		memset(store->password, 0, strlen(store->password));
		free(store->password);
	}
	free(store);
}

void store_close_all(void)
{
	int i;

	for (i = 0; i < MAX_OPEN_STORES; i++)
		if (open_stores[i])
			store_close(open_stores[i]);
}

const char *store_describe(const struct store *store)
{
	return store->description;
}

/*
 * A ClickHouse error as err: every line of it (a message may span several), trimmed, at most
 * STORE_ERROR_MAX bytes, "..." where it was cut. Control characters other than the newlines
 * are dropped, so a server's text cannot garble the log.
 */
static void copy_error(char *err, size_t err_len, const char *what, const char *message)
{
	size_t len = strlen(message), used, room, i;
	int n;

	while (len && (message[len - 1] == ' ' || message[len - 1] == '\n' ||
		       message[len - 1] == '\r' || message[len - 1] == '\t'))
		len--;
	while (len && (*message == ' ' || *message == '\n' || *message == '\r')) {
		message++;
		len--;
	}
	n = snprintf(err, err_len, "%s: ", what);
	if (n < 0 || (size_t)n >= err_len)
		return;
	used = (size_t)n;
	room = err_len < STORE_ERROR_MAX ? err_len : STORE_ERROR_MAX;
	for (i = 0; i < len && used + 1 < room; i++) {
		unsigned char c = (unsigned char)message[i];

		if (c == '\n' || c == '\t' || (c >= ' ' && c != 0x7f))
			err[used++] = (char)c;
	}
	err[used] = '\0';
	if (i < len && used >= (size_t)n + 3)
		memcpy(err + used - 3, "...", 3);
}

/* --- embedded ---------------------------------------------------------------------------- */

static int chdb_run(struct store *store, const char *sql, const struct store_param *params,
		    size_t param_count, const char *format, char **result, size_t *result_len,
		    char *err, size_t err_len)
{
	const char *names[STORE_PARAMS_MAX], *values[STORE_PARAMS_MAX];
	struct chdb_api *api = &store->chdb;
	const char *message;
	chdb_result *res;
	size_t i;
	int ret = 0;

	if (param_count > STORE_PARAMS_MAX) {
		snprintf(err, err_len, "more than %d query parameters", STORE_PARAMS_MAX);
		return -E2BIG;
	}
	for (i = 0; i < param_count; i++) {
		names[i] = params[i].name;
		values[i] = params[i].value;
	}
	format = format ? format : "TSV";
	res = param_count ? api->query_with_params(*store->connection, sql, format, names, values,
						   param_count) :
			    api->query(*store->connection, sql, format);

	if (!res) {
		snprintf(err, err_len, "ClickHouse returned nothing");
		return -EIO;
	}
	message = api->result_error(res);
	store->last_exception_code = 0;
	store->last_stats.rows_read =
		api->result_storage_rows_read ? api->result_storage_rows_read(res) : 0;
	store->last_stats.bytes_read =
		api->result_storage_bytes_read ? api->result_storage_bytes_read(res) : 0;
	store->last_stats.result_rows = api->result_rows ? api->result_rows(res) : 0;
	store->last_stats.elapsed_s = api->result_elapsed ? api->result_elapsed(res) : 0;
	if (message && *message) {
		const char *code = strstr(message, "Code: ");

		copy_error(err, err_len, "ClickHouse", message);
		store->last_failure = STORE_FAILURE_SERVER;
		store->last_exception_code = code ? atoi(code + 6) : 0;
		ret = -EIO;
	} else if (result) {
		size_t len = api->result_length(res);
		const char *buffer = api->result_buffer(res);

		*result = malloc(len + 1);
		if (!*result) {
			ret = -ENOMEM;
		} else {
			if (len)
				memcpy(*result, buffer, len);
			(*result)[len] = '\0';
			if (result_len)
				*result_len = len;
		}
	}
	api->destroy_result(res);
	return ret;
}

static int chdb_insert(struct store *store, const char *insert_sql, const void *data, size_t len,
		       char *err, size_t err_len)
{
	struct chdb_api *api = &store->chdb;
	chdb_stream stream = api->stream_insert(*store->connection, insert_sql, "RowBinary");
	const char *message = stream ? api->stream_error(stream) : "no insert stream";
	chdb_result *res = NULL;
	int ret = 0;

	if (message && *message) {
		copy_error(err, err_len, "ClickHouse insert", message);
		ret = -EIO;
		goto out;
	}
	if (api->stream_append(stream, data, len)) {
		message = api->stream_error(stream);
		copy_error(err, err_len, "ClickHouse insert", message ? message : "append failed");
		ret = -EIO;
		goto out;
	}
	res = api->stream_done(stream);
	message = res ? api->result_error(res) : "no result";
	if (message && *message) {
		copy_error(err, err_len, "ClickHouse insert", message);
		ret = -EIO;
	}
out:
	if (res)
		api->destroy_result(res);
	if (stream)
		api->stream_destroy(stream);
	return ret;
}

/* --- HTTP -------------------------------------------------------------------------------- */

struct http_buffer {
	char *data;
	size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_buffer *buffer = userdata;
	size_t n = size * nmemb;
	char *grown = realloc(buffer->data, buffer->len + n + 1);

	if (!grown)
		return 0;
	buffer->data = grown;
	memcpy(buffer->data + buffer->len, ptr, n);
	buffer->len += n;
	buffer->data[buffer->len] = '\0';
	return n;
}

/* The X-ClickHouse-Exception-Code header: the server failed, whatever the status says. */
static size_t header_seen(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	static const char name[] = "X-ClickHouse-Exception-Code:";
	char *exception_code = userdata;
	size_t n = size * nmemb, len;

	if (n > sizeof(name) - 1 && !strncasecmp(ptr, name, sizeof(name) - 1)) {
		ptr += sizeof(name) - 1;
		len = n - (sizeof(name) - 1);
		while (len && (*ptr == ' ' || *ptr == '\t')) {
			ptr++;
			len--;
		}
		while (len && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n' || ptr[len - 1] == ' '))
			len--;
		snprintf(exception_code, 32, "%.*s", (int)(len < 31 ? len : 31), ptr);
		if (!exception_code[0])
			snprintf(exception_code, 32, "?");
	}
	return n;
}

/*
 * An exception the server raised after it began a 200 response: newer servers end the body
 * with a "__exception__" block, older ones with a last line "Code: N. DB::Exception: ...".
 * Returns where its text starts, or NULL.
 */
static const char *body_exception(const char *body, size_t len)
{
	const char *marker = memmem(body, len, "__exception__", 13), *last;

	if (marker) {
		const char *code = memmem(marker, len - (size_t)(marker - body), "Code: ", 6);

		return code ? code : marker;
	}
	while (len && (body[len - 1] == '\n' || body[len - 1] == '\r'))
		len--;
	last = memrchr(body, '\n', len);
	last = last ? last + 1 : body;
	if ((size_t)(body + len - last) > 6 && !strncmp(last, "Code: ", 6) &&
	    memmem(last, (size_t)(body + len - last), "DB::Exception", 13))
		return last;
	return NULL;
}

/* Appends "name=value" to a URL, escaped, after '?' or '&'; frees the old URL. */
static int url_add(CURL *curl, char **url, const char *name, const char *value)
{
	char *escaped = curl_easy_escape(curl, value, 0), *longer = NULL;
	int ok;

	ok = escaped && asprintf(&longer, "%s%s%s=%s", *url, strchr(*url, '?') ? "&" : "?", name,
				 escaped) >= 0;
	curl_free(escaped);
	if (!ok)
		return -ENOMEM;
	free(*url);
	*url = longer;
	return 0;
}

/*
 * POSTs body to the server, with the query in the URL when there is a body of data, and the
 * query parameters as param_NAME in the URL.
 */
static int http_post_once(struct store *store, const char *server, const char *query,
			  const struct store_param *params, size_t param_count, const void *body,
			  size_t body_len, char **result, size_t *result_len, char *err,
			  size_t err_len)
{
	struct http_buffer response = { 0 };
	struct curl_slist *headers = NULL;
	char header[1100], name[128], exception_code[32] = "";
	char *url = strdup(server);
	const char *exception;
	long status = 0;
	CURLcode code;
	size_t i;
	int ret = 0;

	/* the whole result before the status: an error midway is then an HTTP error */
	if (url)
		ret = url_add(store->curl, &url, "wait_end_of_query", "1");
	if (url && !ret && query)
		ret = url_add(store->curl, &url, "query", query);
	for (i = 0; url && !ret && i < param_count; i++) {
		snprintf(name, sizeof(name), "param_%s", params[i].name);
		ret = url_add(store->curl, &url, name, params[i].value);
	}
	if (!url || ret) {
		free(url);
		return -ENOMEM;
	}
	if (store->user) {
		snprintf(header, sizeof(header), "X-ClickHouse-User: %s", store->user);
		headers = curl_slist_append(headers, header);
	}
	if (store->password) {
		snprintf(header, sizeof(header), "X-ClickHouse-Key: %s", store->password);
		headers = curl_slist_append(headers, header);
	}
	curl_easy_reset(store->curl);
	curl_easy_setopt(store->curl, CURLOPT_URL, url);
	curl_easy_setopt(store->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(store->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(store->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	curl_easy_setopt(store->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(store->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(store->curl, CURLOPT_WRITEDATA, &response);
	curl_easy_setopt(store->curl, CURLOPT_HEADERFUNCTION, header_seen);
	curl_easy_setopt(store->curl, CURLOPT_HEADERDATA, exception_code);
	curl_easy_setopt(store->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(store->curl, CURLOPT_CONNECTTIMEOUT_MS, store->connect_timeout_ms);
	curl_easy_setopt(store->curl, CURLOPT_TIMEOUT_MS, store->timeout_ms);
	code = curl_easy_perform(store->curl);
	curl_easy_getinfo(store->curl, CURLINFO_RESPONSE_CODE, &status);
	exception = response.data ? body_exception(response.data, response.len) : NULL;
	store->last_failure = STORE_FAILURE_NONE;
	store->last_exception_code = 0;
	if (code != CURLE_OK) {
		snprintf(err, err_len, "ClickHouse at %s: %s", server, curl_easy_strerror(code));
		store->last_failure = STORE_FAILURE_TRANSPORT;
		ret = -EIO;
	} else if (status != 200 || exception_code[0]) {
		const char *code_text = exception ? strstr(exception, "Code: ") : NULL;

		store->last_failure = STORE_FAILURE_SERVER;
		store->last_exception_code = exception_code[0] ? atoi(exception_code) :
					     code_text	       ? atoi(code_text + 6) :
								 0;
		if (response.data && response.len) {
			copy_error(err, err_len, "ClickHouse",
				   exception ? exception : response.data);
		} else {
			snprintf(err, err_len,
				 "ClickHouse: HTTP status %ld, exception code %s, no "
				 "message",
				 status, exception_code[0] ? exception_code : "none");
		}
		ret = -EIO;
	} else if (exception) {
		copy_error(err, err_len, "ClickHouse (after the result began)", exception);
		store->last_failure = STORE_FAILURE_SERVER;
		ret = -EIO;
	} else if (result) {
		*result = response.data ? response.data : strdup("");
		if (result_len)
			*result_len = response.len;
		response.data = NULL;
	}
	free(response.data);
	free(url);
	curl_slist_free_all(headers);
	return ret;
}

/*
 * http_post_once to the server that answered last, and on no answer to the others in turn
 * (a cluster's nodes hold the same tables); the one that answers is asked first next time.
 */
static int http_post(struct store *store, const char *query, const struct store_param *params,
		     size_t param_count, const void *body, size_t body_len, char **result,
		     size_t *result_len, char *err, size_t err_len)
{
	unsigned int tried, index = store->url_current;
	int ret = -EIO;

	for (tried = 0; tried < store->url_count; tried++) {
		index = (store->url_current + tried) % store->url_count;
		ret = http_post_once(store, store->urls[index], query, params, param_count, body,
				     body_len, result, result_len, err, err_len);
		if (!ret || store->last_failure != STORE_FAILURE_TRANSPORT)
			break;
		if (tried + 1 < store->url_count)
			pr_debug("%s; trying %s\n", err,
				 store->urls[(index + 1) % store->url_count]);
	}
	if (index != store->url_current &&
	    (!ret || store->last_failure != STORE_FAILURE_TRANSPORT)) {
		store->url_current = index;
		store->url = store->urls[index];
	}
	return ret;
}

enum store_failure store_last_failure(const struct store *store)
{
	return store->last_failure;
}

int store_last_exception_code(const struct store *store)
{
	return store->last_exception_code;
}

void store_last_stats(const struct store *store, struct store_stats *stats)
{
	*stats = store->last_stats;
}

/* --- the interface ----------------------------------------------------------------------- */

int store_exec(struct store *store, const char *sql, char *err, size_t err_len)
{
	if (store->connection)
		return chdb_run(store, sql, NULL, 0, NULL, NULL, NULL, err, err_len);
	return http_post(store, NULL, NULL, 0, sql, strlen(sql), NULL, NULL, err, err_len);
}

int store_query_params(struct store *store, const char *sql, const struct store_param *params,
		       size_t param_count, const char *format, char **result, size_t *result_len,
		       char *err, size_t err_len)
{
	char *full;
	int ret;

	if (store->connection)
		return chdb_run(store, sql, params, param_count, format, result, result_len, err,
				err_len);
	if (asprintf(&full, "%s FORMAT %s", sql, format) < 0)
		return -ENOMEM;
	ret = http_post(store, NULL, params, param_count, full, strlen(full), result, result_len,
			err, err_len);
	free(full);
	return ret;
}

int store_query(struct store *store, const char *sql, const char *format, char **result,
		size_t *result_len, char *err, size_t err_len)
{
	return store_query_params(store, sql, NULL, 0, format, result, result_len, err, err_len);
}

int store_insert_rowbinary(struct store *store, const char *insert_sql, const void *data,
			   size_t len, char *err, size_t err_len)
{
	char *full;
	int ret;

	if (store->connection)
		return chdb_insert(store, insert_sql, data, len, err, err_len);
	if (asprintf(&full, "%s FORMAT RowBinary", insert_sql) < 0)
		return -ENOMEM;
	ret = http_post(store, full, NULL, 0, data, len, NULL, NULL, err, err_len);
	free(full);
	return ret;
}

int store_server_version(struct store *store, int *major, int *minor, char *err, size_t err_len)
{
	char *text = NULL;
	int ret;

	if (!store->version_major) {
		ret = store_query(store, "SELECT version()", "TSV", &text, NULL, err, err_len);
		if (ret)
			return ret;
		if (sscanf(text, "%d.%d", &store->version_major, &store->version_minor) != 2 ||
		    store->version_major <= 0) {
			snprintf(err, err_len, "%s: unexpected version() '%.32s'",
				 store->description, text);
			store->version_major = 0;
			free(text);
			return -EPROTO;
		}
		free(text);
	}
	*major = store->version_major;
	*minor = store->version_minor;
	return 0;
}
