// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The on-disk spool of batches waiting for Kafka; see spool.h for what survives what. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "log.h"
#include "spool.h"
#include "wire.h"

#define SPOOL_MAGIC	 "FLSP"
#define SPOOL_HEADER_LEN 16
#define SPOOL_SUFFIX	 ".batch"
#define LOCK_FILE	 ".lock"
#define TMP_PREFIX	 "tmp."
/* %020 digits + suffix */
#define NAME_LEN (20 + sizeof(SPOOL_SUFFIX) - 1)

struct spool_entry {
	uint64_t id;   /* ordinal: the order files were spooled in */
	uint64_t size; /* file size */
	uint32_t records;
	int sending;
};

struct spool {
	char *dir;
	int dir_fd;
	int lock_fd;
	int durable;
	int uncommitted; /* renames since the last directory fsync */
	uint64_t max_bytes;
	uint64_t bytes;
	uint64_t records;
	uint64_t next_id;
	uint64_t corrupt_batches;
	uint64_t corrupt_records;
	uint64_t syncs;
	struct spool_entry *entries; /* sorted by id */
	uint32_t count;
	uint32_t capacity;
	uint32_t sending;
};

static void entry_name(char name[NAME_LEN + 1], uint64_t id)
{
	snprintf(name, NAME_LEN + 1, "%020" PRIu64 SPOOL_SUFFIX, id);
}

/* Index of the first entry with an id >= the given one. */
static uint32_t entry_lower_bound(const struct spool *spool, uint64_t id)
{
	uint32_t low = 0, high = spool->count;

	while (low < high) {
		uint32_t mid = low + (high - low) / 2;

		if (spool->entries[mid].id < id)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

static struct spool_entry *entry_find(struct spool *spool, uint64_t id)
{
	uint32_t i = entry_lower_bound(spool, id);

	if (i < spool->count && spool->entries[i].id == id)
		return &spool->entries[i];
	return NULL;
}

static int entry_insert(struct spool *spool, const struct spool_entry *entry)
{
	uint32_t i;

	if (spool->count == spool->capacity) {
		uint32_t capacity = spool->capacity ? spool->capacity * 2 : 256;
		struct spool_entry *grown = realloc(spool->entries, capacity * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		spool->entries = grown;
		spool->capacity = capacity;
	}
	i = entry_lower_bound(spool, entry->id);
	if (i < spool->count && spool->entries[i].id == entry->id)
		return -EEXIST;
	memmove(&spool->entries[i + 1], &spool->entries[i], (spool->count - i) * sizeof(*entry));
	spool->entries[i] = *entry;
	spool->count++;
	spool->bytes += entry->size;
	spool->records += entry->records;
	if (entry->id >= spool->next_id)
		spool->next_id = entry->id + 1;
	return 0;
}

static void entry_remove(struct spool *spool, struct spool_entry *entry)
{
	uint32_t i = (uint32_t)(entry - spool->entries);

	spool->bytes -= entry->size;
	spool->records -= entry->records;
	if (entry->sending)
		spool->sending--;
	memmove(entry, entry + 1, (spool->count - i - 1) * sizeof(*entry));
	spool->count--;
}

static int all_zero(const uint8_t *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (data[i])
			return 0;
	return 1;
}

/*
 * Checks a file's header against its size. Returns 0 with the record count and CRC, or
 * -EBADMSG with what is wrong in why; *records is set whenever the header itself was
 * readable, so a torn payload's records are still counted.
 */
static int check_spool_header(int fd, uint64_t size, uint32_t *records, uint32_t *crc,
			      int *records_known, char *why, size_t why_len)
{
	uint8_t header[SPOOL_HEADER_LEN];
	uint64_t payload_len;

	*records = 0;
	*records_known = 0;
	if (size == 0) {
		snprintf(why, why_len, "empty (0 bytes)");
		return -EBADMSG;
	}
	if (size < SPOOL_HEADER_LEN) {
		snprintf(why, why_len, "truncated inside its header (%" PRIu64 " bytes)", size);
		return -EBADMSG;
	}
	if (pread(fd, header, sizeof(header), 0) != sizeof(header)) {
		snprintf(why, why_len, "header unreadable: %s", strerror(errno ?: EIO));
		return -EBADMSG;
	}
	if (memcmp(header, SPOOL_MAGIC, 4)) {
		snprintf(why, why_len, "%s (%" PRIu64 " bytes)",
			 all_zero(header, sizeof(header)) ? "zero-filled" : "bad magic", size);
		return -EBADMSG;
	}
	*records = get_le32(header + 4);
	*crc = get_le32(header + 8);
	*records_known = 1;
	payload_len = get_le32(header + 12);
	if (payload_len != size - SPOOL_HEADER_LEN) {
		snprintf(why, why_len,
			 "payload %s: %" PRIu64 " bytes where its header says %" PRIu64,
			 payload_len > size - SPOOL_HEADER_LEN ? "truncated" : "too long",
			 size - SPOOL_HEADER_LEN, payload_len);
		return -EBADMSG;
	}
	return 0;
}

static int parse_name(const char *name, uint64_t *id)
{
	char *end;

	if (strlen(name) != NAME_LEN || strcmp(name + 20, SPOOL_SUFFIX))
		return -EINVAL;
	errno = 0;
	*id = strtoull(name, &end, 10);
	return errno || end != name + 20 ? -EINVAL : 0;
}

/* Sets a torn file aside under NAME.corrupt and counts it: its records, if known, are lost. */
static void set_aside(struct spool *spool, const char *name, uint32_t records, int records_known,
		      const char *why)
{
	char corrupt_name[NAME_LEN + 16];

	snprintf(corrupt_name, sizeof(corrupt_name), "%s.corrupt", name);
	if (renameat(spool->dir_fd, name, spool->dir_fd, corrupt_name))
		pr_warn("spool: cannot rename %s/%s aside: %s\n", spool->dir, name,
			strerror(errno));
	spool->corrupt_batches++;
	spool->corrupt_records += records;
	if (records_known)
		pr_warn("spool: %s/%s is torn, %s: set aside as %s, %u records lost\n", spool->dir,
			name, why, corrupt_name, records);
	else
		pr_warn("spool: %s/%s is torn, %s: set aside as %s, its record count is unknown\n",
			spool->dir, name, why, corrupt_name);
}

static int sync_fd(struct spool *spool, int fd, int data_only)
{
	if (!spool->durable)
		return 0;
	spool->syncs++;
	if (data_only ? fdatasync(fd) : fsync(fd))
		return -errno;
	return 0;
}

/* Indexes existing batch files; removes the temporary files of an interrupted write. */
static int scan_dir(struct spool *spool)
{
	DIR *dir;
	struct dirent *dirent;
	int dup_fd, err = 0, removed_tmp = 0;

	dup_fd = dup(spool->dir_fd);
	if (dup_fd < 0)
		return -errno;
	dir = fdopendir(dup_fd);
	if (!dir) {
		close(dup_fd);
		return -errno;
	}
	while ((dirent = readdir(dir))) {
		struct spool_entry entry = { 0 };
		char why[160];
		struct stat st;
		int fd, known;
		uint32_t crc;

		/* never renamed: not spooled yet, so nobody counted on it */
		if (!strncmp(dirent->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) {
			unlinkat(spool->dir_fd, dirent->d_name, 0);
			removed_tmp = 1;
			continue;
		}
		if (parse_name(dirent->d_name, &entry.id))
			continue;
		fd = openat(spool->dir_fd, dirent->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			err = -errno;
			if (fd >= 0)
				close(fd);
			break;
		}
		entry.size = (uint64_t)st.st_size;
		if (check_spool_header(fd, entry.size, &entry.records, &crc, &known, why,
				       sizeof(why))) {
			close(fd);
			set_aside(spool, dirent->d_name, entry.records, known, why);
			/* numbering stays ahead of it, so NAME.corrupt is never overwritten */
			if (entry.id >= spool->next_id)
				spool->next_id = entry.id + 1;
			continue;
		}
		close(fd);
		err = entry_insert(spool, &entry);
		if (err)
			break;
	}
	closedir(dir);
	if (!err && (removed_tmp || spool->corrupt_batches))
		err = sync_fd(spool, spool->dir_fd, 0);
	return err;
}

/* A directory we created is durable only once its parent's entry is. */
static int sync_parent(struct spool *spool, const char *dir)
{
	char *copy = strdup(dir), *slash;
	int fd, err;

	if (!copy)
		return -ENOMEM;
	slash = strrchr(copy, '/');
	if (slash == copy)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	fd = open(slash ? copy : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -errno;
	err = sync_fd(spool, fd, 0);
	close(fd);
	return err;
}

int spool_open(const char *dir, uint64_t max_bytes, struct spool **out, char *err, size_t err_len)
{
	struct spool *spool;
	int ret, created = 0;

	spool = calloc(1, sizeof(*spool));
	if (!spool)
		return -ENOMEM;
	spool->dir_fd = spool->lock_fd = -1;
	spool->durable = 1;
	spool->max_bytes = max_bytes;
	spool->next_id = 1;
	spool->dir = strdup(dir);
	if (!spool->dir) {
		ret = -ENOMEM;
		goto fail;
	}
	if (!mkdir(dir, 0700))
		created = 1;
	else if (errno != EEXIST) {
		ret = -errno;
		snprintf(err, err_len, "spool directory %s: cannot create: %s", dir,
			 strerror(-ret));
		goto fail;
	}
	if (created && (ret = sync_parent(spool, dir))) {
		snprintf(err, err_len, "spool directory %s: cannot sync its parent: %s", dir,
			 strerror(-ret));
		goto fail;
	}
	spool->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (spool->dir_fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "spool directory %s: %s", dir, strerror(-ret));
		goto fail;
	}
	spool->lock_fd = openat(spool->dir_fd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (spool->lock_fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "spool directory %s: cannot create its lock file: %s", dir,
			 strerror(-ret));
		goto fail;
	}
	if (flock(spool->lock_fd, LOCK_EX | LOCK_NB)) {
		ret = -errno;
		snprintf(err, err_len, "spool directory %s is in use by another flowagent", dir);
		goto fail;
	}
	ret = scan_dir(spool);
	if (ret) {
		snprintf(err, err_len, "spool directory %s: cannot read it: %s", dir,
			 strerror(-ret));
		goto fail;
	}
	*out = spool;
	return 0;

fail:
	spool_close(spool);
	return ret;
}

void spool_close(struct spool *spool)
{
	int err;

	if (!spool)
		return;
	err = spool->dir_fd >= 0 ? spool_commit(spool) : 0;
	if (err)
		pr_warn("spool: syncing %s failed: %s\n", spool->dir, strerror(-err));
	if (spool->lock_fd >= 0)
		close(spool->lock_fd);
	if (spool->dir_fd >= 0)
		close(spool->dir_fd);
	free(spool->entries);
	free(spool->dir);
	free(spool);
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int spool_put(struct spool *spool, uint32_t records, const void *payload, size_t len)
{
	struct spool_entry entry = { .id = spool->next_id, .records = records };
	char name[NAME_LEN + 1], tmp_name[NAME_LEN + sizeof(TMP_PREFIX)];
	uint8_t header[SPOOL_HEADER_LEN];
	int fd, err;

	entry.size = SPOOL_HEADER_LEN + len;
	if (len > UINT32_MAX || spool->bytes + entry.size > spool->max_bytes)
		return -ENOSPC;
	entry_name(name, entry.id);
	snprintf(tmp_name, sizeof(tmp_name), TMP_PREFIX "%s", name);
	memcpy(header, SPOOL_MAGIC, 4);
	put_le32(header + 4, records);
	put_le32(header + 8, wire_crc32c(payload, len));
	put_le32(header + 12, (uint32_t)len);

	/*
	 * Data on disk before the name: after a crash the final name holds the whole batch, or
	 * there is only a temporary file, which the next open removes.
	 */
	fd = openat(spool->dir_fd, tmp_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, header, sizeof(header));
	if (!err)
		err = write_all(fd, payload, len);
	if (!err)
		err = sync_fd(spool, fd, 1);
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(spool->dir_fd, tmp_name, spool->dir_fd, name))
		err = -errno;
	if (err) {
		unlinkat(spool->dir_fd, tmp_name, 0);
		return err;
	}
	spool->uncommitted++;
	return entry_insert(spool, &entry);
}

int spool_commit(struct spool *spool)
{
	int err;

	if (!spool->uncommitted)
		return 0;
	err = sync_fd(spool, spool->dir_fd, 0);
	if (!err)
		spool->uncommitted = 0;
	return err;
}

int spool_take(struct spool *spool, uint64_t *id, uint32_t *records, void **payload, size_t *len,
	       char *err, size_t err_len)
{
	struct spool_entry *entry = NULL;
	char name[NAME_LEN + 1], why[160];
	uint32_t i, crc = 0, header_records;
	struct stat st;
	uint64_t size;
	uint8_t *data;
	int fd, ret, known, torn;

	for (i = 0; i < spool->count; i++) {
		if (!spool->entries[i].sending) {
			entry = &spool->entries[i];
			break;
		}
	}
	if (!entry)
		return 0;
	entry_name(name, entry->id);
	*id = entry->id;
	*records = entry->records;

	fd = openat(spool->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "spool file %s/%s vanished (%s): %u records lost",
			 spool->dir, name, strerror(-ret), entry->records);
		pr_warn("spool: %s\n", err);
		spool->corrupt_batches++;
		spool->corrupt_records += entry->records;
		entry_remove(spool, entry);
		return -EBADMSG;
	}
	/* the file may have been torn since it was indexed: check it as it is now */
	size = fstat(fd, &st) ? 0 : (uint64_t)st.st_size;
	torn = check_spool_header(fd, size, &header_records, &crc, &known, why, sizeof(why));
	if (!torn && size != entry->size) {
		snprintf(why, sizeof(why), "%" PRIu64 " bytes where %" PRIu64 " were written", size,
			 entry->size);
		torn = -EBADMSG;
	}
	if (torn) {
		close(fd);
		set_aside(spool, name, entry->records, 1, why);
		snprintf(err, err_len, "spool file %s/%s is torn, %s: set aside as %s.corrupt",
			 spool->dir, name, why, name);
		entry_remove(spool, entry);
		return -EBADMSG;
	}
	*len = entry->size - SPOOL_HEADER_LEN;
	data = malloc(*len ? *len : 1);
	if (!data) {
		close(fd);
		return -ENOMEM;
	}
	if (pread(fd, data, *len, SPOOL_HEADER_LEN) != (ssize_t)*len ||
	    wire_crc32c(data, *len) != crc) {
		close(fd);
		free(data);
		set_aside(spool, name, entry->records, 1, "payload checksum mismatch");
		snprintf(err, err_len,
			 "spool file %s/%s: payload checksum mismatch; %u records set aside as "
			 "%s.corrupt",
			 spool->dir, name, entry->records, name);
		entry_remove(spool, entry);
		return -EBADMSG;
	}
	close(fd);
	entry->sending = 1;
	spool->sending++;
	*payload = data;
	return 1;
}

void spool_delivered(struct spool *spool, uint64_t id)
{
	struct spool_entry *entry = entry_find(spool, id);
	char name[NAME_LEN + 1];

	if (!entry)
		return;
	entry_name(name, id);
	unlinkat(spool->dir_fd, name, 0);
	entry_remove(spool, entry);
}

void spool_retry(struct spool *spool, uint64_t id)
{
	struct spool_entry *entry = entry_find(spool, id);

	if (entry && entry->sending) {
		entry->sending = 0;
		spool->sending--;
	}
}

uint64_t spool_bytes(const struct spool *spool)
{
	return spool->bytes;
}

uint64_t spool_max_bytes(const struct spool *spool)
{
	return spool->max_bytes;
}

uint32_t spool_batches(const struct spool *spool)
{
	return spool->count;
}

uint32_t spool_waiting(const struct spool *spool)
{
	return spool->count - spool->sending;
}

uint64_t spool_records(const struct spool *spool)
{
	return spool->records;
}

const char *spool_dir(const struct spool *spool)
{
	return spool->dir;
}

uint64_t spool_corrupt_batches(const struct spool *spool)
{
	return spool->corrupt_batches;
}

uint64_t spool_corrupt_records(const struct spool *spool)
{
	return spool->corrupt_records;
}

uint64_t spool_syncs(const struct spool *spool)
{
	return spool->syncs;
}

void spool_set_durable(struct spool *spool, int durable)
{
	spool->durable = durable;
}
