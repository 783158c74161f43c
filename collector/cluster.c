// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A ClickHouse cluster: schema on every node, replica health, inserts by shard; cluster.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "cluster.h"
#include "geo_store.h"
#include "log.h"

#define PROBE_TIMEOUT_MS	  2000
#define GEO_COPY_TIMEOUT_MS	  120000
#define PROBE_CONNECT_TIMEOUT_MS  1000
#define INSERT_TIMEOUT_MS	  120000
#define INSERT_CONNECT_TIMEOUT_MS 2000

/* ClickHouse error codes that say "this replica cannot write now", not "this insert is bad" */
#define CH_NO_ZOOKEEPER		    225
#define CH_TABLE_IS_READ_ONLY	    242
#define CH_UNKNOWN_STATUS_OF_INSERT 319
#define CH_KEEPER_EXCEPTION	    999
#define CH_TIMEOUT_EXCEEDED	    159
#define CH_SOCKET_TIMEOUT	    209
#define CH_NETWORK_ERROR	    210
#define CH_TOO_MANY_PARTS	    252
#define CH_UNKNOWN_DICTIONARY	    36

struct replica {
	char url[CLUSTER_URL_MAX];
	struct cluster_replica_status status; /* under the lock */
	struct store *insert_store;	      /* the inserting thread's */
	struct store *probe_store;	      /* the probing thread's */
	int schema_applied;		      /* probing thread only */
	int disk_unsupported;		      /* no filesystemAvailable(): not asked again */
};

struct shard {
	uint32_t number, weight;
	uint64_t capacity; /* the file's; 0: the server's disk, when it tells */
	int standby;	   /* written only once active (every other shard at standby-at) */
	int standby_active;
	int removed;		/* no longer in the file: no new inserts, retries still go */
	int full;		/* at or above fill-limit: no new inserts */
	int unannounced;	/* added while running: not yet in every node's remote_servers */
	uint32_t fill_permille; /* of its capacity used, as last probed; 0 when unknown */
	uint32_t replica_count;
	struct replica replicas[CLUSTER_MAX_REPLICAS];
	int writer;	  /* index of the replica inserts go to, -1 when none takes writes */
	int ever_written; /* had a writer: a change is news, not the start */
	uint64_t inserts, insert_bytes;
};

struct cluster {
	struct cluster_config config;
	struct cluster_options options;
	char sql_dir[PATH_MAX];
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	int thread_running;
	int stopping;
	uint64_t random;
	struct store *query_store;
	struct ingest_router router;
	uint64_t recoveries; /* replicas that came up: a waiting insert may go now */
	uint64_t standby_activations;
	struct timespec config_mtime; /* the cluster file as last read */
	off_t config_size;
	char clusters_sql[160]; /* how many shards a node's remote_servers has for our cluster */
	uint32_t shard_count;
	struct shard shards[CLUSTER_MAX_SHARDS];
};

const char *cluster_replica_state_name(enum cluster_replica_state state)
{
	switch (state) {
	case CLUSTER_REPLICA_DOWN:
		return "down";
	case CLUSTER_REPLICA_NO_SCHEMA:
		return "no-schema";
	case CLUSTER_REPLICA_READ_ONLY:
		return "read-only";
	case CLUSTER_REPLICA_UP:
		return "up";
	default:
		return "unknown";
	}
}

static int store_for(const struct cluster *c, const char *url, uint32_t timeout_ms,
		     uint32_t connect_timeout_ms, struct store **store, char *err, size_t err_len)
{
	struct store_options options = {
		.http_url = url,
		.http_user = c->config.user[0] ? c->config.user : NULL,
		.http_password_file = c->config.password_file[0] ? c->config.password_file : NULL,
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = connect_timeout_ms,
		.quiet = 1,
	};

	return store_open(&options, store, err, err_len);
}

int cluster_node_store(const struct cluster *c, const char *url, uint32_t timeout_ms,
		       struct store **store, char *err, size_t err_len)
{
	return store_for(c, url, timeout_ms, INSERT_CONNECT_TIMEOUT_MS, store, err, err_len);
}

/* --- state changes --------------------------------------------------------------------------- */

/* The first replica, in the file's order, that takes writes; logs a change. Under the lock. */
static void writer_update(struct shard *shard)
{
	int writer = -1;
	uint32_t i;

	for (i = 0; i < shard->replica_count && writer < 0; i++)
		if (shard->replicas[i].status.state == CLUSTER_REPLICA_UP)
			writer = (int)i;
	if (writer == shard->writer)
		return;
	if (shard->writer >= 0)
		shard->replicas[shard->writer].status.writer = 0;
	if (writer >= 0) {
		shard->replicas[writer].status.writer = 1;
		log_msg(shard->writer >= 0 || shard->ever_written ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
			"cluster: shard %u: inserts go to replica %d (%s)\n", shard->number,
			writer + 1, shard->replicas[writer].status.url);
	} else {
		pr_warn("cluster: shard %u: no replica takes writes; its inserts wait\n",
			shard->number);
	}
	shard->writer = writer;
	shard->ever_written |= writer >= 0;
}

/* A replica's new state, logged when it changed. Under the lock. */
static void state_set(struct cluster *c, struct shard *shard, struct replica *r,
		      enum cluster_replica_state state, const char *reason)
{
	struct cluster_replica_status *st = &r->status;

	if (st->state != state) {
		if (state == CLUSTER_REPLICA_UP && st->state == CLUSTER_REPLICA_UNKNOWN)
			pr_info("cluster: shard %u replica %u (%s): up\n", st->shard, st->replica,
				st->url);
		else if (state == CLUSTER_REPLICA_UP)
			pr_warn("cluster: shard %u replica %u (%s): %s -> up\n", st->shard,
				st->replica, st->url, cluster_replica_state_name(st->state));
		else
			pr_warn("cluster: shard %u replica %u (%s): %s -> %s: %s\n", st->shard,
				st->replica, st->url, cluster_replica_state_name(st->state),
				cluster_replica_state_name(state), reason);
		st->state_changes++;
		st->state = state;
		if (state == CLUSTER_REPLICA_UP)
			__atomic_add_fetch(&c->recoveries, 1, __ATOMIC_RELAXED);
	}
	snprintf(st->reason, sizeof(st->reason), "%s", state == CLUSTER_REPLICA_UP ? "" : reason);
	writer_update(shard);
}

/* A server's answer that says the replica cannot write now: another may. */
static int replica_cannot_write(int code)
{
	return code == CH_TABLE_IS_READ_ONLY || code == CH_NO_ZOOKEEPER ||
	       code == CH_KEEPER_EXCEPTION;
}

/* --- probes ---------------------------------------------------------------------------------- */

static int query_numbers(struct store *store, const char *sql, uint64_t *values, int count,
			 char *err, size_t err_len)
{
	char *result = NULL, *p, *end;
	int i, ret;

	ret = store_query(store, sql, "TSV", &result, NULL, err, err_len);
	if (ret)
		return ret;
	p = result;
	for (i = 0; i < count; i++) {
		errno = 0;
		values[i] = strtoull(p, &end, 10);
		if (end == p || errno || (*end != '\t' && *end != '\n' && *end != '\0')) {
			ret = result[0] ? -EPROTO : -ENOENT;
			snprintf(err, err_len, "unexpected answer '%.60s' to %s", result, sql);
			free(result);
			return ret;
		}
		p = *end ? end + 1 : end;
	}
	free(result);
	return 0;
}

/*
 * A node whose schema was just applied and that holds no geolocation (a new shard, a replica
 * that lost its disk) gets a copy from the first other node that has some (one that does not
 * answer costs its connect timeout): every node holds all of it (sql/cluster/003_geo.sql).
 * Probing thread only; a failure is logged and tried again the next time the node's schema
 * is applied (at every start, and when it comes back).
 */
static void geo_copy_to(struct cluster *c, const struct replica *to)
{
	char err[1024], from_url[CLUSTER_URL_MAX];
	struct store *from = NULL, *store = NULL;
	uint8_t *rows = NULL;
	uint64_t count = 0;
	uint32_t s, i;
	size_t len = 0;
	int ret;

	ret = query_numbers(to->probe_store, "SELECT count() FROM flows.geo_ranges", &count, 1, err,
			    sizeof(err));
	if (ret || count)
		return;
	for (s = 0; s < c->shard_count && !count; s++) {
		for (i = 0; i < c->shards[s].replica_count && !count; i++) {
			const struct replica *peer = &c->shards[s].replicas[i];

			if (peer == to)
				continue;
			snprintf(from_url, sizeof(from_url), "%s", peer->url);
			store_close(from);
			from = NULL;
			free(rows);
			rows = NULL;
			if (store_for(c, from_url, GEO_COPY_TIMEOUT_MS, PROBE_CONNECT_TIMEOUT_MS,
				      &from, err, sizeof(err)) ||
			    geo_store_node_rows(from, &rows, &len, &count, err, sizeof(err)))
				count = 0;
		}
	}
	if (count) {
		ret = store_for(c, to->url, GEO_COPY_TIMEOUT_MS, PROBE_CONNECT_TIMEOUT_MS, &store,
				err, sizeof(err));
		if (!ret)
			ret = geo_store_node_replace(store, rows, len, err, sizeof(err));
		if (ret)
			pr_warn("cluster: %s: copying the geolocation from %s failed: %s\n",
				to->url, from_url, err);
		else
			pr_info("cluster: %s: %" PRIu64 " geolocation prefixes copied from %s\n",
				to->url, count, from_url);
	}
	store_close(store);
	store_close(from);
	free(rows);
}

/* Asks one replica how it is (no lock held: it may take PROBE_TIMEOUT_MS), then records it. */
static void probe(struct cluster *c, struct shard *shard, struct replica *r)
{
	struct cluster_replica_status seen;
	enum cluster_replica_state state = CLUSTER_REPLICA_UP;
	struct store *store = r->probe_store;
	char err[1024] = "", reason[512] = "", geo_err[256];
	uint64_t v[6];
	int ret;

	pthread_mutex_lock(&c->lock);
	seen = r->status;
	pthread_mutex_unlock(&c->lock);

	ret = store_server_version(store, &seen.version_major, &seen.version_minor, err,
				   sizeof(err));
	if (!ret && c->options.apply_schema && !r->schema_applied) {
		struct migrate_options migrate = c->options.migrate;

		migrate.server_major = seen.version_major;
		migrate.server_minor = seen.version_minor;
		ret = migrate_apply(store, &migrate, err, sizeof(err));
		/* a region view refused for want of the dictionary: say which file is missing */
		if (ret < 0 && store_last_exception_code(store) == CH_UNKNOWN_DICTIONARY)
			geo_store_node_check(store, seen.version_major, seen.version_minor, 0, err,
					     sizeof(err));
		if (ret >= 0)
			ret = geo_store_node_check(store, seen.version_major, seen.version_minor, 1,
						   err, sizeof(err));
		if (ret >= 0) {
			r->schema_applied = 1;
			ret = 0;
			geo_copy_to(c, r);
		} else if (store_last_failure(store) != STORE_FAILURE_TRANSPORT) {
			state = CLUSTER_REPLICA_NO_SCHEMA;
			snprintf(reason, sizeof(reason), "schema: %s", err);
		}
	}
	if (!ret)
		ret = query_numbers(store,
				    /* log_pointer is the next entry to pull: 0 and 0 when empty */
				    "SELECT is_readonly, is_session_expired, queue_size, "
				    "if(log_pointer = 0, 0, greatest(toInt64(log_max_index) + 1 - "
				    "toInt64(log_pointer), 0)), active_replicas, total_replicas "
				    "FROM system.replicas WHERE database = 'flows' AND table = "
				    "'raw_local'",
				    v, 6, err, sizeof(err));
	if (ret == -ENOENT) {
		state = CLUSTER_REPLICA_NO_SCHEMA;
		snprintf(reason, sizeof(reason),
			 "no flows.raw_local: the schema is not applied (flowcollector migrate "
			 "--cluster)");
	} else if (!ret) {
		seen.replication_known = 1;
		seen.session_expired = v[1] != 0;
		seen.queue_size = v[2];
		seen.log_lag = v[3];
		seen.active_replicas = v[4];
		seen.total_replicas = v[5];
		if (v[1]) {
			state = CLUSTER_REPLICA_READ_ONLY;
			snprintf(reason, sizeof(reason), "its ZooKeeper session expired");
		} else if (v[0]) {
			state = CLUSTER_REPLICA_READ_ONLY;
			snprintf(reason, sizeof(reason),
				 "replicated tables are read-only (ZooKeeper unreachable, or the "
				 "replica restarting)");
		}
		ret = query_numbers(store,
				    "SELECT sumIf(rows, table = 'raw_local'), sumIf(bytes, table = "
				    "'raw_local'), sum(bytes) FROM system.parts WHERE active AND "
				    "database = 'flows'",
				    v, 3, err, sizeof(err));
		if (!ret) {
			seen.rows = v[0];
			seen.bytes = v[1];
			seen.flows_bytes = v[2];
		}
		if (!ret)
			ret = query_numbers(store, c->clusters_sql, v, 1, err, sizeof(err));
		if (!ret)
			seen.cluster_shards = v[0];
		/* for the operator only (a node that missed a geo load): never a reason to skip it */
		seen.geo_known = !ret &&
				 !query_numbers(store, "SELECT count() FROM flows.geo_ranges",
						&seen.geo_prefixes, 1, geo_err, sizeof(geo_err));
		if (!ret && !r->disk_unsupported) {
			ret = query_numbers(store,
					    "SELECT filesystemAvailable(), filesystemCapacity()", v,
					    2, err, sizeof(err));
			if (!ret) {
				seen.disk_known = 1;
				seen.disk_free = v[0];
				seen.disk_total = v[1];
			} else if (store_last_failure(store) == STORE_FAILURE_SERVER) {
				r->disk_unsupported = 1;
				ret = 0;
			}
		}
	}
	if (ret && ret != -ENOENT && state == CLUSTER_REPLICA_UP) {
		/* an answer about ZooKeeper is a replica that cannot write, not one that is gone */
		state = store_last_failure(store) == STORE_FAILURE_SERVER &&
					replica_cannot_write(store_last_exception_code(store)) ?
				CLUSTER_REPLICA_READ_ONLY :
				CLUSTER_REPLICA_DOWN;
		snprintf(reason, sizeof(reason), "%s", err);
	}
	pthread_mutex_lock(&c->lock);
	r->status.version_major = seen.version_major;
	r->status.version_minor = seen.version_minor;
	r->status.replication_known = seen.replication_known;
	r->status.session_expired = seen.session_expired;
	r->status.queue_size = seen.queue_size;
	r->status.log_lag = seen.log_lag;
	r->status.active_replicas = seen.active_replicas;
	r->status.total_replicas = seen.total_replicas;
	r->status.rows = seen.rows;
	r->status.bytes = seen.bytes;
	r->status.flows_bytes = seen.flows_bytes;
	r->status.cluster_shards = seen.cluster_shards;
	r->status.geo_known = seen.geo_known;
	r->status.geo_prefixes = seen.geo_prefixes;
	r->status.disk_known = seen.disk_known;
	r->status.disk_free = seen.disk_free;
	r->status.disk_total = seen.disk_total;
	/* a replica coming back gets the schema again: it may be new, or have lost its disk */
	if (state == CLUSTER_REPLICA_DOWN)
		r->schema_applied = 0;
	state_set(c, shard, r, state, reason);
	pthread_mutex_unlock(&c->lock);
}

static void policy_update(struct cluster *c);
static void config_reload(struct cluster *c);

static void probe_all(struct cluster *c)
{
	uint32_t s, i, count;

	pthread_mutex_lock(&c->lock);
	count = c->shard_count;
	pthread_mutex_unlock(&c->lock);
	for (s = 0; s < count; s++)
		for (i = 0; i < c->shards[s].replica_count; i++)
			probe(c, &c->shards[s], &c->shards[s].replicas[i]);
	pthread_mutex_lock(&c->lock);
	policy_update(c);
	pthread_mutex_unlock(&c->lock);
}

static void *probe_thread(void *arg)
{
	struct cluster *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		struct timespec until;
		uint64_t ns;

		clock_gettime(CLOCK_REALTIME, &until);
		ns = (uint64_t)until.tv_nsec + (uint64_t)c->config.probe_interval_ms * 1000000ull;
		until.tv_sec += (time_t)(ns / 1000000000ull);
		until.tv_nsec = (long)(ns % 1000000000ull);
		pthread_cond_timedwait(&c->wake, &c->lock, &until);
		if (c->stopping)
			break;
		pthread_mutex_unlock(&c->lock);
		config_reload(c);
		probe_all(c);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* --- writes ---------------------------------------------------------------------------------- */

static struct shard *shard_find(struct cluster *c, uint32_t number)
{
	uint32_t i;

	for (i = 0; i < c->shard_count; i++)
		if (c->shards[i].number == number)
			return &c->shards[i];
	return NULL;
}

/* "replica 1 down (why); replica 2 read-only (why)": why a shard takes no writes. Locked. */
static void shard_why(const struct shard *shard, char *out, size_t len)
{
	size_t used = 0;
	uint32_t i;

	out[0] = '\0';
	for (i = 0; i < shard->replica_count && used < len; i++) {
		const struct cluster_replica_status *st = &shard->replicas[i].status;
		int n = snprintf(out + used, len - used, "%sreplica %u %s%s%.120s%s", i ? "; " : "",
				 st->replica, cluster_replica_state_name(st->state),
				 st->reason[0] ? " (" : "", st->reason, st->reason[0] ? ")" : "");

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static uint64_t next_random(struct cluster *c)
{
	/* xorshift64*: which shard gets the next insert needs no more than this */
	c->random ^= c->random >> 12;
	c->random ^= c->random << 25;
	c->random ^= c->random >> 27;
	return c->random * 0x2545F4914F6CDD1DULL;
}

/*
 * How full a shard is, in thousandths: the bytes of its flows tables on its fullest replica
 * against the capacity the file gives it, or else its server's disk where the server tells
 * (filesystemAvailable, 19.x and later); 0 when neither is known. Under the lock.
 */
static uint32_t shard_fill(const struct shard *shard)
{
	uint64_t capacity = shard->capacity;
	uint32_t i, fill = 0;

	for (i = 0; i < shard->replica_count; i++) {
		const struct cluster_replica_status *st = &shard->replicas[i].status;
		uint64_t replica_used = st->flows_bytes, replica_capacity = capacity;
		uint32_t f;

		if (!st->replication_known)
			continue;
		if (!replica_capacity && st->disk_known && st->disk_total) {
			replica_capacity = st->disk_total;
			replica_used = st->disk_total - st->disk_free;
		}
		if (!replica_capacity)
			continue;
		f = replica_used >= replica_capacity ?
			    1000 :
			    (uint32_t)((unsigned __int128)replica_used * 1000 / replica_capacity);
		if (f > fill)
			fill = f;
	}
	return fill;
}

/*
 * The policy, after every probe round (under the lock): a shard at fill-limit gets no new
 * inserts, one below it gets them in proportion to weight × what is free; a standby shard
 * starts once every other shard that takes writes is at standby-at (the seed's autonomous
 * sharding: old data stays where it is, new data goes where there is room).
 */
static void policy_update(struct cluster *c)
{
	uint32_t i, s, active = 0, at_standby = 0, listed = 0;

	/* a shard added while running waits until every node's Distributed tables see it */
	for (i = 0; i < c->shard_count; i++)
		listed += !c->shards[i].removed;
	for (i = 0; i < c->shard_count; i++) {
		struct shard *shard = &c->shards[i];
		const char *behind = NULL;
		uint32_t known = 0;

		if (!shard->unannounced)
			continue;
		for (s = 0; s < c->shard_count; s++)
			for (uint32_t r = 0; r < c->shards[s].replica_count; r++) {
				const struct cluster_replica_status *st =
					&c->shards[s].replicas[r].status;

				if (st->state != CLUSTER_REPLICA_UP &&
				    st->state != CLUSTER_REPLICA_READ_ONLY)
					continue;
				if (st->cluster_shards < listed && !behind) {
					behind = st->url;
					known = (uint32_t)st->cluster_shards;
				}
			}
		if (behind) {
			if (shard->unannounced == 1)
				pr_warn("cluster: shard %u waits until every node's remote_servers "
					"lists it (%s lists %u of %u shards): reads through the "
					"Distributed tables would miss it\n",
					shard->number, behind, known, listed);
			shard->unannounced = 2;
			continue;
		}
		shard->unannounced = 0;
		pr_warn("cluster: shard %u is in every node's remote_servers: new inserts go to it\n",
			shard->number);
	}

	for (i = 0; i < c->shard_count; i++) {
		struct shard *shard = &c->shards[i];
		int full;

		shard->fill_permille = shard_fill(shard);
		full = shard->fill_permille >= c->config.fill_limit_percent * 10;
		if (full != shard->full)
			pr_warn("cluster: shard %u is %u.%u%% full (fill-limit %u%%): %s\n",
				shard->number, shard->fill_permille / 10, shard->fill_permille % 10,
				c->config.fill_limit_percent,
				full ? "no new inserts go to it" : "new inserts go to it again");
		shard->full = full;
		if (shard->removed || (shard->standby && !shard->standby_active) ||
		    shard->writer < 0)
			continue;
		active++;
		at_standby += shard->fill_permille >= c->config.standby_at_percent * 10;
	}
	if (!active || at_standby < active)
		return;
	for (i = 0; i < c->shard_count; i++) {
		struct shard *shard = &c->shards[i];

		if (!shard->standby || shard->standby_active || shard->removed)
			continue;
		shard->standby_active = 1;
		c->standby_activations++;
		pr_warn("cluster: every shard is at %u%% or more of its capacity: standby shard %u "
			"now takes new inserts\n",
			c->config.standby_at_percent, shard->number);
		return; /* one at a time: the next only if this one fills too */
	}
}

/* A shard's share of new inserts now, 0 for none (under the lock). */
static uint64_t shard_share(const struct cluster *c, const struct shard *shard)
{
	if (shard->writer < 0 || shard->removed || shard->full || shard->unannounced ||
	    (shard->standby && !shard->standby_active))
		return 0;
	(void)c;
	return (uint64_t)shard->weight * (1000 - shard->fill_permille);
}

/* New inserts spread over the shards that take writes, each by its share (shard_share). */
static int pick_shard(void *ctx, uint32_t *number, char *err, size_t err_len)
{
	struct cluster *c = ctx;
	uint64_t total = 0, point;
	uint32_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->shard_count; i++)
		total += shard_share(c, &c->shards[i]);
	if (!total) {
		size_t used =
			(size_t)snprintf(err, err_len, "no shard of the cluster takes writes");

		for (i = 0; i < c->shard_count && used < err_len; i++) {
			const struct shard *shard = &c->shards[i];
			char why[768];

			if (shard->removed || (shard->standby && !shard->standby_active))
				continue;
			if (shard->full && shard->writer >= 0)
				snprintf(why, sizeof(why), "%u.%u%% full (fill-limit %u%%)",
					 shard->fill_permille / 10, shard->fill_permille % 10,
					 c->config.fill_limit_percent);
			else
				shard_why(shard, why, sizeof(why));
			used += (size_t)snprintf(err + used, err_len - used, "; shard %u: %s",
						 c->shards[i].number, why);
		}
		pthread_mutex_unlock(&c->lock);
		return -EAGAIN;
	}
	point = next_random(c) % total;
	for (i = 0; i < c->shard_count; i++) {
		uint64_t share = shard_share(c, &c->shards[i]);

		if (point < share)
			break;
		point -= share;
	}
	*number = c->shards[i].number;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int has_shard(void *ctx, uint32_t number)
{
	struct cluster *c = ctx;
	int found;

	pthread_mutex_lock(&c->lock);
	found = shard_find(c, number) != NULL;
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* A server's answer after which the insert may or may not be stored: retried, never dropped. */
static int outcome_unknown(int code)
{
	return code == CH_UNKNOWN_STATUS_OF_INSERT || code == CH_TIMEOUT_EXCEEDED ||
	       code == CH_SOCKET_TIMEOUT || code == CH_NETWORK_ERROR || code == CH_TOO_MANY_PARTS;
}

static int insert(void *ctx, uint32_t number, const char *insert_sql, const void *data, size_t len,
		  char *err, size_t err_len)
{
	struct cluster *c = ctx;
	struct shard *shard;
	int tried[CLUSTER_MAX_REPLICAS] = { 0 }, last = -EAGAIN;
	char why[1024] = "";

	pthread_mutex_lock(&c->lock);
	shard = shard_find(c, number); /* shards are only ever appended: the pointer lasts */
	pthread_mutex_unlock(&c->lock);
	if (!shard) {
		snprintf(err, err_len, "the cluster has no shard %u", number);
		return -ENOENT;
	}
	for (;;) {
		struct replica *r = NULL;
		uint32_t i, pass;
		int ret, code;

		/* the replicas that take writes first, in order; then those not asked yet */
		pthread_mutex_lock(&c->lock);
		for (pass = 0; pass < 2 && !r; pass++)
			for (i = 0; i < shard->replica_count && !r; i++) {
				enum cluster_replica_state state = shard->replicas[i].status.state;

				if (!tried[i] && state == (pass ? CLUSTER_REPLICA_UNKNOWN :
								  CLUSTER_REPLICA_UP)) {
					r = &shard->replicas[i];
					tried[i] = 1;
				}
			}
		if (!r) {
			char states[768];

			shard_why(shard, states, sizeof(states));
			pthread_mutex_unlock(&c->lock);
			snprintf(err, err_len, "shard %u: no replica took the insert%s%s (%s)",
				 number, why[0] ? ": " : "", why, states);
			return last;
		}
		pthread_mutex_unlock(&c->lock);

		ret = store_insert_rowbinary(r->insert_store, insert_sql, data, len, why,
					     sizeof(why));
		code = store_last_exception_code(r->insert_store);
		pthread_mutex_lock(&c->lock);
		if (!ret) {
			r->status.inserts++;
			shard->inserts++;
			shard->insert_bytes += len;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		r->status.insert_failures++;
		if (store_last_failure(r->insert_store) == STORE_FAILURE_TRANSPORT) {
			/* maybe stored: the next replica drops the block if so */
			state_set(c, shard, r, CLUSTER_REPLICA_DOWN, why);
			last = -EAGAIN;
		} else if (replica_cannot_write(code)) {
			state_set(c, shard, r, CLUSTER_REPLICA_READ_ONLY, why);
			last = -EAGAIN;
		} else if (outcome_unknown(code)) {
			last = -EAGAIN;
		} else {
			pthread_mutex_unlock(&c->lock);
			snprintf(err, err_len, "shard %u replica %u: %s", number, r->status.replica,
				 why);
			return -EIO;
		}
		pthread_mutex_unlock(&c->lock);
		pr_debug("cluster: shard %u replica %u: %s; trying the next replica\n", number,
			 r->status.replica, why);
	}
}

/* --- opening, the file changing, closing ------------------------------------------------------ */

static int shard_init(struct cluster *c, struct shard *shard, const struct cluster_shard_config *sc,
		      char *err, size_t err_len)
{
	uint32_t i;
	int ret = 0;

	memset(shard, 0, sizeof(*shard));
	shard->number = sc->number;
	shard->weight = sc->weight;
	shard->capacity = sc->capacity;
	shard->standby = sc->standby;
	shard->replica_count = sc->replica_count;
	shard->writer = -1;
	for (i = 0; i < sc->replica_count && !ret; i++) {
		struct replica *r = &shard->replicas[i];

		snprintf(r->url, sizeof(r->url), "%s", sc->replicas[i].url);
		r->status.shard = sc->number;
		r->status.replica = i + 1;
		r->status.url = r->url;
		ret = store_for(c, r->url, INSERT_TIMEOUT_MS, INSERT_CONNECT_TIMEOUT_MS,
				&r->insert_store, err, err_len);
		if (!ret)
			ret = store_for(c, r->url, PROBE_TIMEOUT_MS, PROBE_CONNECT_TIMEOUT_MS,
					&r->probe_store, err, err_len);
	}
	return ret;
}

static void shard_free(struct shard *shard)
{
	uint32_t i;

	for (i = 0; i < shard->replica_count; i++) {
		store_close(shard->replicas[i].insert_store);
		store_close(shard->replicas[i].probe_store);
		shard->replicas[i].insert_store = shard->replicas[i].probe_store = NULL;
	}
}

/* Remembers the file's time and size; 1 when they changed since the last call. */
static int config_file_seen(struct cluster *c, const char *path)
{
	struct stat st;
	int changed;

	if (stat(path, &st))
		return 0;
	changed = st.st_mtim.tv_sec != c->config_mtime.tv_sec ||
		  st.st_mtim.tv_nsec != c->config_mtime.tv_nsec || st.st_size != c->config_size;
	c->config_mtime = st.st_mtim;
	c->config_size = st.st_size;
	return changed;
}

static int same_replicas(const struct shard *shard, const struct cluster_shard_config *sc)
{
	uint32_t i;

	if (shard->replica_count != sc->replica_count)
		return 0;
	for (i = 0; i < sc->replica_count; i++)
		if (strcmp(shard->replicas[i].url, sc->replicas[i].url))
			return 0;
	return 1;
}

/*
 * The cluster file changed: shards added to it are taken in (stores opened here, published
 * under the lock; the probe applies their schema, and they take writes once every node's
 * remote_servers lists them), weights, capacities and limits follow the file, and a shard
 * gone from it takes no new inserts (those sealed for it are still finished there). A file
 * that does not parse changes nothing.
 */
static void config_reload(struct cluster *c)
{
	const char *path = c->options.config_path;
	struct cluster_config *fresh;
	char err[1024];
	uint32_t i, s;

	if (!path || !config_file_seen(c, path))
		return;
	fresh = malloc(sizeof(*fresh));
	if (!fresh)
		return;
	if (cluster_config_load(path, fresh, err, sizeof(err))) {
		pr_warn("cluster file %s changed, but %s: keeping the cluster as it was\n", path,
			err);
		free(fresh);
		return;
	}
	if (strcmp(fresh->name, c->config.name))
		pr_warn("cluster file %s: a new cluster name (%s) takes effect at the next start\n",
			path, fresh->name);
	for (i = 0; i < fresh->shard_count; i++) {
		const struct cluster_shard_config *sc = &fresh->shards[i];
		struct shard *shard = NULL, added;

		pthread_mutex_lock(&c->lock);
		for (s = 0; s < c->shard_count; s++)
			if (c->shards[s].number == sc->number)
				shard = &c->shards[s];
		if (shard) {
			if (shard->weight != sc->weight || shard->capacity != sc->capacity ||
			    shard->removed)
				pr_warn("cluster: shard %u: weight %u, capacity %" PRIu64
					" bytes%s\n",
					sc->number, sc->weight, sc->capacity,
					shard->removed ? ", back in the file" : "");
			shard->weight = sc->weight;
			shard->capacity = sc->capacity;
			shard->standby = sc->standby;
			shard->removed = 0;
			pthread_mutex_unlock(&c->lock);
			if (!same_replicas(shard, sc))
				pr_warn("cluster: shard %u: its replicas changed in %s; that takes "
					"effect at the next start\n",
					sc->number, path);
			continue;
		}
		if (c->shard_count == CLUSTER_MAX_SHARDS) {
			pthread_mutex_unlock(&c->lock);
			pr_warn("cluster: shard %u not added: at most %d shards\n", sc->number,
				CLUSTER_MAX_SHARDS);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		if (shard_init(c, &added, sc, err, sizeof(err))) {
			pr_warn("cluster: shard %u not added: %s\n", sc->number, err);
			shard_free(&added);
			continue;
		}
		added.unannounced = 1;
		pthread_mutex_lock(&c->lock);
		c->shards[c->shard_count] = added;
		/* the replicas' status points at their own url: fix it in the array's copy */
		for (s = 0; s < added.replica_count; s++)
			c->shards[c->shard_count].replicas[s].status.url =
				c->shards[c->shard_count].replicas[s].url;
		c->shard_count++;
		pthread_mutex_unlock(&c->lock);
		pr_warn("cluster: shard %u (%u replicas) added from %s: its schema is applied, and "
			"it takes new inserts once every node lists it\n",
			sc->number, sc->replica_count, path);
	}
	pthread_mutex_lock(&c->lock);
	for (s = 0; s < c->shard_count; s++) {
		struct shard *shard = &c->shards[s];

		if (shard->removed || cluster_config_shard(fresh, shard->number))
			continue;
		shard->removed = 1;
		pr_warn("cluster: shard %u is no longer in %s: no new inserts go to it (those "
			"sealed for it are still finished there)\n",
			shard->number, path);
	}
	c->config.fill_limit_percent = fresh->fill_limit_percent;
	c->config.standby_at_percent = fresh->standby_at_percent;
	c->config.probe_interval_ms = fresh->probe_interval_ms;
	pthread_mutex_unlock(&c->lock);
	free(fresh);
}

int cluster_open(const struct cluster_options *options, struct cluster **out, char *err,
		 size_t err_len)
{
	const char *urls[CLUSTER_MAX_SHARDS * CLUSTER_MAX_REPLICAS];
	struct store_options query = { 0 };
	struct cluster *c = calloc(1, sizeof(*c));
	uint32_t s, i, url_count = 0, answered = 0;
	int ret = 0;

	if (!c) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	c->config = *options->config;
	c->options = *options;
	c->options.config = &c->config;
	if (options->migrate.sql_dir)
		snprintf(c->sql_dir, sizeof(c->sql_dir), "%s", options->migrate.sql_dir);
	c->options.migrate.sql_dir = c->sql_dir;
	c->options.migrate.cluster_name = c->config.name;
	c->options.migrate.replicated = 1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	if (getrandom(&c->random, sizeof(c->random), 0) != sizeof(c->random) || !c->random)
		c->random = (uint64_t)wall_ns() | 1;
	c->router = (struct ingest_router){
		.ctx = c, .pick_shard = pick_shard, .has_shard = has_shard, .insert = insert
	};
	snprintf(c->clusters_sql, sizeof(c->clusters_sql),
		 "SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = '%s'",
		 c->config.name);
	if (options->config_path)
		config_file_seen(c, options->config_path);
	for (s = 0; s < c->config.shard_count && !ret; s++) {
		ret = shard_init(c, &c->shards[s], &c->config.shards[s], err, err_len);
		c->shard_count = s + 1;
	}
	/* queries ask the first replica of each shard first, then the others */
	for (i = 0; i < CLUSTER_MAX_REPLICAS; i++)
		for (s = 0; s < c->shard_count; s++)
			if (i < c->config.shards[s].replica_count)
				urls[url_count++] = c->config.shards[s].replicas[i].url;
	query.http_url = urls[0];
	query.http_failover_urls = urls + 1;
	query.http_failover_count = url_count - 1;
	query.http_user = c->config.user[0] ? c->config.user : NULL;
	query.http_password_file = c->config.password_file[0] ? c->config.password_file : NULL;
	if (!ret)
		ret = store_open(&query, &c->query_store, err, err_len);
	if (ret) {
		cluster_close(c);
		return ret;
	}
	probe_all(c);
	for (s = 0; s < c->shard_count; s++)
		for (i = 0; i < c->shards[s].replica_count; i++)
			answered += c->shards[s].replicas[i].status.state != CLUSTER_REPLICA_DOWN;
	if (!answered && options->apply_schema) {
		snprintf(err, err_len, "no server of the cluster answers (first: %s: %s)",
			 c->shards[0].replicas[0].status.url,
			 c->shards[0].replicas[0].status.reason);
		cluster_close(c);
		return -EHOSTUNREACH;
	}
	if (options->probe_thread) {
		if (pthread_create(&c->thread, NULL, probe_thread, c)) {
			snprintf(err, err_len, "cannot start the probe thread");
			cluster_close(c);
			return -EAGAIN;
		}
		c->thread_running = 1;
	}
	*out = c;
	return 0;
}

void cluster_close(struct cluster *c)
{
	uint32_t s;

	if (!c)
		return;
	if (c->thread_running) {
		pthread_mutex_lock(&c->lock);
		c->stopping = 1;
		pthread_cond_broadcast(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	for (s = 0; s < c->shard_count; s++)
		shard_free(&c->shards[s]);
	store_close(c->query_store);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

uint64_t cluster_recoveries(struct cluster *c)
{
	return __atomic_load_n(&c->recoveries, __ATOMIC_RELAXED);
}

size_t cluster_unreadable_shards(struct cluster *c, char *list, size_t len)
{
	size_t count = 0, used = 0;
	uint32_t s, i;

	if (len)
		list[0] = '\0';
	pthread_mutex_lock(&c->lock);
	for (s = 0; s < c->shard_count; s++) {
		const struct shard *shard = &c->shards[s];
		int readable = 0;

		for (i = 0; i < shard->replica_count; i++)
			readable |= shard->replicas[i].status.state == CLUSTER_REPLICA_UP ||
				    shard->replicas[i].status.state == CLUSTER_REPLICA_READ_ONLY;
		if (readable || shard->unannounced)
			continue;
		if (used < len)
			used += (size_t)snprintf(list + used, len - used, "%s%u", count ? ", " : "",
						 shard->number);
		count++;
	}
	pthread_mutex_unlock(&c->lock);
	return count;
}

struct store *cluster_query_store(struct cluster *c)
{
	return c->query_store;
}

const struct ingest_router *cluster_router(struct cluster *c)
{
	return &c->router;
}

/* --- status ---------------------------------------------------------------------------------- */

size_t cluster_status(struct cluster *c, struct cluster_replica_status *out, size_t max)
{
	size_t n = 0;
	uint32_t s, i;

	pthread_mutex_lock(&c->lock);
	for (s = 0; s < c->shard_count; s++)
		for (i = 0; i < c->shards[s].replica_count && n < max; i++)
			out[n++] = c->shards[s].replicas[i].status;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void human_bytes(uint64_t bytes, char *out, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double value = (double)bytes;
	int unit = 0;

	while (value >= 1024 && unit < 5) {
		value /= 1024;
		unit++;
	}
	snprintf(out, len, unit ? "%.1f %s" : "%.0f %s", value, units[unit]);
}

void cluster_print_status(struct cluster *c, FILE *out)
{
	struct cluster_replica_status st[CLUSTER_MAX_SHARDS * CLUSTER_MAX_REPLICAS];
	size_t n = cluster_status(c, st, sizeof(st) / sizeof(st[0])), i;

	fprintf(out, "cluster %s: %u shards\n", c->config.name, c->shard_count);
	fprintf(out, "%-5s %-7s %-32s %-9s %-6s %-7s %-5s %-7s %12s %10s %10s %-7s %9s\n", "SHARD",
		"REPLICA", "URL", "STATE", "WRITES", "VERSION", "QUEUE", "LOG_LAG", "ROWS",
		"DISK_USED", "DISK_FREE", "ACTIVE", "GEO");
	for (i = 0; i < n; i++) {
		char used[32] = "-", free_text[32] = "-", queue[24] = "-", lag[24] = "-",
		     rows[24] = "-", version[24] = "-", active[24] = "-", geo[24] = "-";

		if (st[i].version_major)
			snprintf(version, sizeof(version), "%d.%d", st[i].version_major,
				 st[i].version_minor);
		if (st[i].replication_known) {
			snprintf(queue, sizeof(queue), "%" PRIu64, st[i].queue_size);
			snprintf(lag, sizeof(lag), "%" PRIu64, st[i].log_lag);
			snprintf(rows, sizeof(rows), "%" PRIu64, st[i].rows);
			snprintf(active, sizeof(active), "%" PRIu64 "/%" PRIu64,
				 st[i].active_replicas, st[i].total_replicas);
			human_bytes(st[i].bytes, used, sizeof(used));
		}
		if (st[i].disk_known)
			human_bytes(st[i].disk_free, free_text, sizeof(free_text));
		if (st[i].geo_known)
			snprintf(geo, sizeof(geo), "%" PRIu64, st[i].geo_prefixes);
		fprintf(out, "%-5u %-7u %-32s %-9s %-6s %-7s %-5s %-7s %12s %10s %10s %-7s %9s\n",
			st[i].shard, st[i].replica, st[i].url,
			cluster_replica_state_name(st[i].state), st[i].writer ? "*" : "", version,
			queue, lag, rows, used, free_text, active, geo);
	}
	for (i = 1; i < n; i++)
		if (st[i].geo_known && st[0].geo_known &&
		    st[i].geo_prefixes != st[0].geo_prefixes) {
			fprintf(out,
				"geolocation: the nodes hold different prefix counts (GEO): one "
				"missed a geo load; run geo load --cluster FILE again\n");
			break;
		}
	for (i = 0; i < n; i++)
		if (st[i].reason[0])
			fprintf(out, "shard %u replica %u: %s\n", st[i].shard, st[i].replica,
				st[i].reason);
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->shard_count; i++) {
		const struct shard *shard = &c->shards[i];
		char capacity[32] = "the server's disk";

		if (shard->capacity)
			human_bytes(shard->capacity, capacity, sizeof(capacity));
		fprintf(out, "shard %u: weight %u, %u.%u%% of %s used: %s\n", shard->number,
			shard->weight, shard->fill_permille / 10, shard->fill_permille % 10,
			capacity,
			shard->removed				 ? "not in the file any more" :
			shard->standby && !shard->standby_active ? "standby" :
			shard->unannounced ? "waits for remote_servers on every node" :
			shard->full	   ? "full (fill-limit), no new inserts" :
			shard->writer < 0  ? "no replica takes writes" :
					     "takes new inserts");
	}
	pthread_mutex_unlock(&c->lock);
}

void cluster_metrics_render(struct cluster *c, struct prom_writer *out)
{
	struct cluster_replica_status st[CLUSTER_MAX_SHARDS * CLUSTER_MAX_REPLICAS];
	size_t n = cluster_status(c, st, sizeof(st) / sizeof(st[0])), i;
	char labels[CLUSTER_URL_MAX + 64];
	uint32_t s;

	static const struct {
		const char *name, *type, *help;
	} families[] = {
		{ "flowcollector_cluster_replica_up", "gauge", "1 when the replica takes writes." },
		{ "flowcollector_cluster_replica_reachable", "gauge",
		  "1 when the replica answers." },
		{ "flowcollector_cluster_replica_read_only", "gauge",
		  "1 when its replicated tables are read-only (ZooKeeper)." },
		{ "flowcollector_cluster_replica_writer", "gauge",
		  "1 for the replica its shard's inserts go to." },
		{ "flowcollector_cluster_replica_queue_size", "gauge",
		  "Replication queue of flows.raw_local." },
		{ "flowcollector_cluster_replica_log_lag", "gauge",
		  "Replication log entries not yet pulled (log_max_index + 1 - log_pointer)." },
		{ "flowcollector_cluster_replica_rows", "gauge", "Rows of flows.raw_local." },
		{ "flowcollector_cluster_replica_bytes", "gauge", "Bytes of flows.raw_local." },
		{ "flowcollector_cluster_replica_disk_free_bytes", "gauge",
		  "Free disk of the server's data path." },
		{ "flowcollector_cluster_replica_geo_prefixes", "gauge",
		  "Rows of its flows.geo_ranges (every node holds all of them)." },
		{ "flowcollector_cluster_replica_inserts_total", "counter", "Blocks it took." },
		{ "flowcollector_cluster_replica_insert_failures_total", "counter",
		  "Blocks it did not take (tried on the next replica)." },
		{ "flowcollector_cluster_replica_state_changes_total", "counter",
		  "Changes of its state (up, down, read-only, no-schema)." },
	};

	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		prom_family(out, families[f].name, families[f].type, families[f].help);
		for (i = 0; i < n; i++) {
			uint64_t value = 0;

			snprintf(labels, sizeof(labels), "shard=\"%u\",replica=\"%u\"", st[i].shard,
				 st[i].replica);
			switch (f) {
			case 0:
				value = st[i].state == CLUSTER_REPLICA_UP;
				break;
			case 1:
				value = st[i].state != CLUSTER_REPLICA_DOWN &&
					st[i].state != CLUSTER_REPLICA_UNKNOWN;
				break;
			case 2:
				value = st[i].state == CLUSTER_REPLICA_READ_ONLY;
				break;
			case 3:
				value = (uint64_t)st[i].writer;
				break;
			case 4:
				value = st[i].queue_size;
				break;
			case 5:
				value = st[i].log_lag;
				break;
			case 6:
				value = st[i].rows;
				break;
			case 7:
				value = st[i].bytes;
				break;
			case 8:
				if (!st[i].disk_known)
					continue;
				value = st[i].disk_free;
				break;
			case 9:
				if (!st[i].geo_known)
					continue;
				value = st[i].geo_prefixes;
				break;
			case 10:
				value = st[i].inserts;
				break;
			case 11:
				value = st[i].insert_failures;
				break;
			default:
				value = st[i].state_changes;
				break;
			}
			prom_u64(out, families[f].name, labels, value);
		}
	}
	pthread_mutex_lock(&c->lock);
	prom_family(out, "flowcollector_cluster_shard_writable", "gauge",
		    "1 when a replica of the shard takes writes.");
	for (s = 0; s < c->shard_count; s++) {
		snprintf(labels, sizeof(labels), "shard=\"%u\"", c->shards[s].number);
		prom_u64(out, "flowcollector_cluster_shard_writable", labels,
			 c->shards[s].writer >= 0);
	}
	prom_family(out, "flowcollector_cluster_shard_weight", "gauge",
		    "The shard's share of new inserts (the cluster file's weight).");
	for (s = 0; s < c->shard_count; s++) {
		snprintf(labels, sizeof(labels), "shard=\"%u\"", c->shards[s].number);
		prom_u64(out, "flowcollector_cluster_shard_weight", labels, c->shards[s].weight);
	}
	prom_family(out, "flowcollector_cluster_shard_fill_ratio", "gauge",
		    "Of the shard's capacity used (its fullest replica); 0 when unknown.");
	for (s = 0; s < c->shard_count; s++) {
		snprintf(labels, sizeof(labels), "shard=\"%u\"", c->shards[s].number);
		prom_double(out, "flowcollector_cluster_shard_fill_ratio", labels, "%.3f",
			    c->shards[s].fill_permille / 1000.0);
	}
	prom_family(out, "flowcollector_cluster_shard_takes_new_inserts", "gauge",
		    "1 when new inserts may go to the shard (writable, not full, not standby).");
	for (s = 0; s < c->shard_count; s++) {
		snprintf(labels, sizeof(labels), "shard=\"%u\"", c->shards[s].number);
		prom_u64(out, "flowcollector_cluster_shard_takes_new_inserts", labels,
			 shard_share(c, &c->shards[s]) > 0);
	}
	prom_counter(out, "flowcollector_cluster_standby_activations_total",
		     "Standby shards started because every shard was at standby-at.",
		     c->standby_activations);
	prom_family(out, "flowcollector_cluster_shard_inserts_total", "counter",
		    "Blocks stored in the shard.");
	for (s = 0; s < c->shard_count; s++) {
		snprintf(labels, sizeof(labels), "shard=\"%u\"", c->shards[s].number);
		prom_u64(out, "flowcollector_cluster_shard_inserts_total", labels,
			 c->shards[s].inserts);
	}
	prom_family(out, "flowcollector_cluster_shard_insert_bytes_total", "counter",
		    "RowBinary bytes stored in the shard.");
	for (s = 0; s < c->shard_count; s++) {
		snprintf(labels, sizeof(labels), "shard=\"%u\"", c->shards[s].number);
		prom_u64(out, "flowcollector_cluster_shard_insert_bytes_total", labels,
			 c->shards[s].insert_bytes);
	}
	pthread_mutex_unlock(&c->lock);
}
