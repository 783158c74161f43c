// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The on-disk spool of batches waiting for Kafka; see spool.h. */
#include <dirent.h>
#include <endian.h>
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
#include "spool.h"
#include "wire.h"

#define SPOOL_MAGIC	 "FLSP"
#define SPOOL_HEADER_LEN 16
#define SPOOL_SUFFIX	 ".batch"
#define SEQUENCE_FILE	 "sequence"
#define LOCK_FILE	 ".lock"
/* %020 digits + suffix */
#define NAME_LEN (20 + sizeof(SPOOL_SUFFIX) - 1)

struct spool_entry {
	uint64_t sequence;
	uint64_t size; /* file size */
	uint32_t records;
	int sending;
};

struct spool {
	char *dir;
	int dir_fd;
	int lock_fd;
	int sequence_fd;
	uint64_t max_bytes;
	uint64_t bytes;
	uint64_t records;
	uint64_t next_sequence;
	struct spool_entry *entries; /* sorted by sequence */
	uint32_t count;
	uint32_t capacity;
	uint32_t sending;
};

static void entry_name(char name[NAME_LEN + 1], uint64_t sequence)
{
	snprintf(name, NAME_LEN + 1, "%020" PRIu64 SPOOL_SUFFIX, sequence);
}

/* Index of the first entry with a sequence >= the given one. */
static uint32_t entry_lower_bound(const struct spool *spool, uint64_t sequence)
{
	uint32_t low = 0, high = spool->count;

	while (low < high) {
		uint32_t mid = low + (high - low) / 2;

		if (spool->entries[mid].sequence < sequence)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

static struct spool_entry *entry_find(struct spool *spool, uint64_t sequence)
{
	uint32_t i = entry_lower_bound(spool, sequence);

	if (i < spool->count && spool->entries[i].sequence == sequence)
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
	i = entry_lower_bound(spool, entry->sequence);
	if (i < spool->count && spool->entries[i].sequence == entry->sequence)
		return -EEXIST;
	memmove(&spool->entries[i + 1], &spool->entries[i], (spool->count - i) * sizeof(*entry));
	spool->entries[i] = *entry;
	spool->count++;
	spool->bytes += entry->size;
	spool->records += entry->records;
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

/* Reads a file's header; returns 0 and its record count, or -EBADMSG. */
static int read_spool_header(int fd, uint64_t size, uint32_t *records, uint32_t *crc)
{
	uint8_t header[SPOOL_HEADER_LEN];

	if (size < SPOOL_HEADER_LEN || pread(fd, header, sizeof(header), 0) != sizeof(header) ||
	    memcmp(header, SPOOL_MAGIC, 4) || get_le32(header + 12) != size - SPOOL_HEADER_LEN)
		return -EBADMSG;
	*records = get_le32(header + 4);
	*crc = get_le32(header + 8);
	return 0;
}

static int parse_name(const char *name, uint64_t *sequence)
{
	char *end;

	if (strlen(name) != NAME_LEN || strcmp(name + 20, SPOOL_SUFFIX))
		return -EINVAL;
	errno = 0;
	*sequence = strtoull(name, &end, 10);
	return errno || end != name + 20 ? -EINVAL : 0;
}

static int load_sequence(struct spool *spool)
{
	uint8_t stored[8];
	ssize_t n;

	spool->sequence_fd =
		openat(spool->dir_fd, SEQUENCE_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (spool->sequence_fd < 0)
		return -errno;
	n = pread(spool->sequence_fd, stored, sizeof(stored), 0);
	if (n == sizeof(stored)) {
		uint64_t next;

		memcpy(&next, stored, sizeof(next));
		next = le64toh(next);
		if (next > spool->next_sequence)
			spool->next_sequence = next;
	}
	return 0;
}

/* Indexes existing batch files; removes the temporary files of an interrupted write. */
static int scan_dir(struct spool *spool)
{
	DIR *dir;
	struct dirent *dirent;
	int dup_fd, err = 0;

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
		struct stat st;
		uint32_t crc;
		int fd;

		if (!strncmp(dirent->d_name, "tmp.", 4)) {
			unlinkat(spool->dir_fd, dirent->d_name, 0);
			continue;
		}
		if (parse_name(dirent->d_name, &entry.sequence))
			continue;
		fd = openat(spool->dir_fd, dirent->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			err = -errno;
			if (fd >= 0)
				close(fd);
			break;
		}
		entry.size = (uint64_t)st.st_size;
		/* A file with an unreadable header stays in the index, reported when taken. */
		read_spool_header(fd, entry.size, &entry.records, &crc);
		close(fd);
		err = entry_insert(spool, &entry);
		if (err)
			break;
		if (entry.sequence >= spool->next_sequence)
			spool->next_sequence = entry.sequence + 1;
	}
	closedir(dir);
	return err;
}

int spool_open(const char *dir, uint64_t max_bytes, struct spool **out, char *err, size_t err_len)
{
	struct spool *spool;
	int ret;

	spool = calloc(1, sizeof(*spool));
	if (!spool)
		return -ENOMEM;
	spool->dir_fd = spool->lock_fd = spool->sequence_fd = -1;
	spool->max_bytes = max_bytes;
	spool->dir = strdup(dir);
	if (!spool->dir) {
		ret = -ENOMEM;
		goto fail;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, err_len, "spool directory %s: cannot create: %s", dir,
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
	if (!ret)
		ret = load_sequence(spool);
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
	if (!spool)
		return;
	if (spool->sequence_fd >= 0)
		close(spool->sequence_fd);
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

int spool_put(struct spool *spool, uint64_t sequence, uint32_t records, const void *payload,
	      size_t len)
{
	struct spool_entry entry = { .sequence = sequence, .records = records };
	uint8_t header[SPOOL_HEADER_LEN];
	char name[NAME_LEN + 1], tmp_name[NAME_LEN + 8];
	int fd, err;

	entry.size = SPOOL_HEADER_LEN + len;
	if (len > UINT32_MAX || spool->bytes + entry.size > spool->max_bytes)
		return -ENOSPC;
	if (entry_find(spool, sequence))
		return -EEXIST;
	entry_name(name, sequence);
	snprintf(tmp_name, sizeof(tmp_name), "tmp.%s", name);
	memcpy(header, SPOOL_MAGIC, 4);
	put_le32(header + 4, records);
	put_le32(header + 8, wire_crc32c(payload, len));
	put_le32(header + 12, (uint32_t)len);

	/* Written under a temporary name and renamed: a crash never leaves half a batch. */
	fd = openat(spool->dir_fd, tmp_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, header, sizeof(header));
	if (!err)
		err = write_all(fd, payload, len);
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(spool->dir_fd, tmp_name, spool->dir_fd, name))
		err = -errno;
	if (err) {
		unlinkat(spool->dir_fd, tmp_name, 0);
		return err;
	}
	err = entry_insert(spool, &entry);
	if (err)
		return err;
	if (sequence >= spool->next_sequence)
		spool->next_sequence = sequence + 1;
	return 0;
}

/* Sets a corrupt file aside under NAME.corrupt, out of the index and of the byte count. */
static void set_aside(struct spool *spool, struct spool_entry *entry, const char *name)
{
	char corrupt_name[NAME_LEN + 16];

	snprintf(corrupt_name, sizeof(corrupt_name), "%s.corrupt", name);
	renameat(spool->dir_fd, name, spool->dir_fd, corrupt_name);
	entry_remove(spool, entry);
}

int spool_take(struct spool *spool, uint64_t *sequence, uint32_t *records, void **payload,
	       size_t *len, char *err, size_t err_len)
{
	struct spool_entry *entry = NULL;
	char name[NAME_LEN + 1];
	uint32_t i, crc = 0;
	uint8_t *data;
	int fd, ret;

	for (i = 0; i < spool->count; i++) {
		if (!spool->entries[i].sending) {
			entry = &spool->entries[i];
			break;
		}
	}
	if (!entry)
		return 0;
	entry_name(name, entry->sequence);
	*sequence = entry->sequence;
	*records = 0;

	fd = openat(spool->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "spool file %s/%s vanished: %s", spool->dir, name,
			 strerror(-ret));
		entry_remove(spool, entry);
		return -EBADMSG;
	}
	if (read_spool_header(fd, entry->size, records, &crc)) {
		close(fd);
		snprintf(err, err_len, "spool file %s/%s: bad header; set aside as %s.corrupt",
			 spool->dir, name, name);
		set_aside(spool, entry, name);
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
		snprintf(err, err_len,
			 "spool file %s/%s: payload checksum mismatch; %u records set aside as "
			 "%s.corrupt",
			 spool->dir, name, *records, name);
		set_aside(spool, entry, name);
		return -EBADMSG;
	}
	close(fd);
	entry->sending = 1;
	spool->sending++;
	*payload = data;
	return 1;
}

void spool_delivered(struct spool *spool, uint64_t sequence)
{
	struct spool_entry *entry = entry_find(spool, sequence);
	char name[NAME_LEN + 1];

	if (!entry)
		return;
	entry_name(name, sequence);
	unlinkat(spool->dir_fd, name, 0);
	entry_remove(spool, entry);
}

void spool_retry(struct spool *spool, uint64_t sequence)
{
	struct spool_entry *entry = entry_find(spool, sequence);

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

uint64_t spool_next_sequence(const struct spool *spool)
{
	return spool->next_sequence;
}

int spool_set_next_sequence(struct spool *spool, uint64_t next)
{
	uint64_t stored = htole64(next);

	if (pwrite(spool->sequence_fd, &stored, sizeof(stored), 0) != sizeof(stored))
		return -errno ?: -EIO;
	if (next > spool->next_sequence)
		spool->next_sequence = next;
	return 0;
}
