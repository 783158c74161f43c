// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE /* sync_file_range */
/* The on-disk spool of batches waiting for Kafka; see spool.h for what survives what. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bytes.h"
#include "log.h"
#include "spool.h"
#include "wire.h"
#include "write_full.h"

#define SPOOL_MAGIC	 "FLSP"
#define SPOOL_HEADER_LEN 16
#define BATCH_SUFFIX	 ".batch"
#define OPEN_SUFFIX	 ".open"
#define CORRUPT_SUFFIX	 ".corrupt"
#define LOCK_FILE	 ".lock"
#define TMP_PREFIX	 "tmp."
#define ORDINAL_DIGITS	 20
/* "<20 digits>-<u32>-<u32>.batch.corrupt", and a "tmp." before it */
#define FILE_NAME_MAX 80

enum file_kind {
	FILE_OPEN,   /* <first>.open: being filled, or left uncommitted by a crash */
	FILE_GROUP,  /* <first>-<batches>-<records>.batch: committed */
	FILE_SINGLE, /* <ordinal>.batch: one batch, as earlier agents wrote them */
};

struct spool_file {
	uint64_t first;	  /* ordinal of its first batch; its batches' ordinals follow */
	uint64_t size;	  /* bytes in it */
	uint32_t batches; /* batches written into it */
	uint32_t records;
	uint32_t live; /* of them, not yet delivered or dropped */
	int fd;	       /* while being filled: open for writing; -1 once committed */
	int damaged;   /* a batch of it was torn or it vanished: logged once, kept aside */
	char name[FILE_NAME_MAX];
};

struct spool_entry {
	uint64_t id;	 /* ordinal: the order batches were spooled in */
	uint64_t file;	 /* its file's first ordinal */
	uint64_t offset; /* of its spool record in the file */
	uint32_t size;	 /* header and payload */
	uint32_t records;
	int sending;
};

struct spool {
	char *dir;
	int dir_fd;
	int lock_fd;
	int durable;
	int unsynced;	  /* renames and removals since the last directory fsync */
	uint64_t filling; /* first ordinal of the file being filled, 0 if none */
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
	struct spool_file *files; /* sorted by first */
	uint32_t file_count;
	uint32_t file_capacity;
};

static int grow(void **array, uint32_t *capacity, uint32_t count, size_t size)
{
	uint32_t wanted;
	void *grown;

	if (count < *capacity)
		return 0;
	wanted = *capacity ? *capacity * 2 : 64;
	grown = realloc(*array, wanted * size);
	if (!grown)
		return -ENOMEM;
	*array = grown;
	*capacity = wanted;
	return 0;
}

/* The ordinal of element i of an array of element_size-byte structs that hold it at offset. */
static uint64_t ordinal_of(const uint8_t *elements, uint32_t i, size_t element_size,
			   size_t ordinal_offset)
{
	return *(const uint64_t *)(elements + (size_t)i * element_size + ordinal_offset);
}

/*
 * The element with the given ordinal in an array sorted by ordinal, or NULL. The entries (by
 * id) and the files (by first) are both such arrays: one binary search serves both, told the
 * element's size and where its ordinal sits in it.
 */
static void *ordinal_find(void *array, uint32_t count, size_t element_size, size_t ordinal_offset,
			  uint64_t ordinal)
{
	uint8_t *elements = array;
	uint32_t low = 0, high = count;

	while (low < high) {
		uint32_t mid = low + (high - low) / 2;

		if (ordinal_of(elements, mid, element_size, ordinal_offset) < ordinal)
			low = mid + 1;
		else
			high = mid;
	}
	if (low < count && ordinal_of(elements, low, element_size, ordinal_offset) == ordinal)
		return elements + (size_t)low * element_size;
	return NULL;
}

static struct spool_entry *entry_find(struct spool *spool, uint64_t id)
{
	return ordinal_find(spool->entries, spool->count, sizeof(*spool->entries),
			    offsetof(struct spool_entry, id), id);
}

/* Entries are added in ordinal order, at open and by spool_put. */
static int entry_append(struct spool *spool, const struct spool_entry *entry)
{
	if (spool->count && spool->entries[spool->count - 1].id >= entry->id)
		return -EINVAL;
	if (grow((void **)&spool->entries, &spool->capacity, spool->count, sizeof(*entry)))
		return -ENOMEM;
	spool->entries[spool->count++] = *entry;
	spool->records += entry->records;
	if (entry->id >= spool->next_id)
		spool->next_id = entry->id + 1;
	return 0;
}

static void entry_remove(struct spool *spool, struct spool_entry *entry)
{
	uint32_t i = (uint32_t)(entry - spool->entries);

	spool->records -= entry->records;
	if (entry->sending)
		spool->sending--;
	memmove(entry, entry + 1, (spool->count - i - 1) * sizeof(*entry));
	spool->count--;
}

static struct spool_file *file_find(struct spool *spool, uint64_t first)
{
	return ordinal_find(spool->files, spool->file_count, sizeof(*spool->files),
			    offsetof(struct spool_file, first), first);
}

/* Files are added in ordinal order too. */
static struct spool_file *file_append(struct spool *spool, const struct spool_file *file)
{
	if (spool->file_count && spool->files[spool->file_count - 1].first >= file->first)
		return NULL;
	if (grow((void **)&spool->files, &spool->file_capacity, spool->file_count, sizeof(*file)))
		return NULL;
	spool->files[spool->file_count] = *file;
	spool->bytes += file->size;
	return &spool->files[spool->file_count++];
}

static void file_forget(struct spool *spool, struct spool_file *file)
{
	uint32_t i = (uint32_t)(file - spool->files);

	if (spool->filling == file->first)
		spool->filling = 0;
	spool->bytes -= file->size;
	memmove(file, file + 1, (spool->file_count - i - 1) * sizeof(*file));
	spool->file_count--;
}

static void group_name(char name[FILE_NAME_MAX], uint64_t first, uint32_t batches, uint32_t records)
{
	snprintf(name, FILE_NAME_MAX, "%020" PRIu64 "-%u-%u" BATCH_SUFFIX, first, batches, records);
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

static int sync_dir(struct spool *spool)
{
	int err;

	if (!spool->unsynced)
		return 0;
	err = sync_fd(spool, spool->dir_fd, 0);
	if (!err)
		spool->unsynced = 0;
	return err;
}

/*
 * A file that has no batch left is removed; one found damaged is renamed NAME.corrupt
 * instead, for whoever wants to look at it. Not synced: see spool.h.
 */
static void file_release(struct spool *spool, struct spool_file *file)
{
	char corrupt[FILE_NAME_MAX + sizeof(CORRUPT_SUFFIX)];

	if (--file->live || file->fd >= 0)
		return;
	if (file->damaged) {
		snprintf(corrupt, sizeof(corrupt), "%s" CORRUPT_SUFFIX, file->name);
		if (renameat(spool->dir_fd, file->name, spool->dir_fd, corrupt) && errno != ENOENT)
			pr_warn("spool: cannot rename %s/%s aside: %s\n", spool->dir, file->name,
				strerror(errno));
	} else {
		unlinkat(spool->dir_fd, file->name, 0);
	}
	spool->unsynced++;
	file_forget(spool, file);
}

/*
 * Commits the file being filled: its data on disk, then its committed name (the directory
 * fsync that makes the name durable is the caller's). One whose batches were all delivered
 * already is simply removed.
 */
static int file_seal(struct spool *spool, struct spool_file *file)
{
	char name[FILE_NAME_MAX];
	int err;

	if (!file->live) {
		close(file->fd);
		file->fd = -1;
		unlinkat(spool->dir_fd, file->name, 0);
		spool->unsynced++;
		file_forget(spool, file);
		return 0;
	}
	err = sync_fd(spool, file->fd, 1);
	if (err)
		return err;
	group_name(name, file->first, file->batches, file->records);
	if (renameat(spool->dir_fd, file->name, spool->dir_fd, name))
		return -errno;
	close(file->fd);
	file->fd = -1;
	memcpy(file->name, name, sizeof(name));
	spool->filling = 0;
	spool->unsynced++;
	return 0;
}

static int file_start(struct spool *spool, struct spool_file **out)
{
	struct spool_file file = { .first = spool->next_id, .fd = -1 };
	struct spool_file *added;

	snprintf(file.name, sizeof(file.name), "%020" PRIu64 OPEN_SUFFIX, file.first);
	file.fd = openat(spool->dir_fd, file.name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (file.fd < 0)
		return -errno;
	added = file_append(spool, &file);
	if (!added) {
		close(file.fd);
		unlinkat(spool->dir_fd, file.name, 0);
		return -ENOMEM;
	}
	spool->filling = file.first;
	*out = added;
	return 0;
}

int spool_put(struct spool *spool, uint32_t records, const void *payload, size_t len)
{
	struct spool_entry entry = { .records = records };
	struct spool_file *file = spool->filling ? file_find(spool, spool->filling) : NULL;
	uint8_t header[SPOOL_HEADER_LEN];
	struct iovec iov[2];
	int err;

	if (len > UINT32_MAX - SPOOL_HEADER_LEN)
		return -EMSGSIZE;
	entry.size = (uint32_t)(SPOOL_HEADER_LEN + len);
	if (spool->bytes + entry.size > spool->max_bytes)
		return -EDQUOT;
	if (file && (file->batches >= SPOOL_FILE_MAX_BATCHES ||
		     file->size + entry.size > SPOOL_FILE_MAX_BYTES)) {
		err = file_seal(spool, file);
		if (err)
			return err;
		file = NULL;
	}
	if (!file && (err = file_start(spool, &file)))
		return err;

	memcpy(header, SPOOL_MAGIC, 4);
	put_le32(header + 4, records);
	put_le32(header + 8, wire_crc32c(payload, len));
	put_le32(header + 12, (uint32_t)len);
	iov[0] = (struct iovec){ header, sizeof(header) };
	iov[1] = (struct iovec){ (void *)payload, len };
	err = write_full_at(file->fd, iov, 2, (off_t)file->size);
	if (err) {
		/* nothing of it kept: a torn record would hide the ones after it */
		if (ftruncate(file->fd, (off_t)file->size))
			pr_warn("spool: cannot truncate %s/%s after a failed write: %s\n",
				spool->dir, file->name, strerror(errno));
		return err;
	}
	/*
	 * Start writing it back now, without waiting: by the commit's fdatasync most of the
	 * group is on disk already, and the disk's writes overlap with our next batches.
	 */
	if (spool->durable)
		sync_file_range(file->fd, (off_t)file->size, (off_t)entry.size,
				SYNC_FILE_RANGE_WRITE);
	entry.id = spool->next_id;
	entry.file = file->first;
	entry.offset = file->size;
	err = entry_append(spool, &entry);
	if (err) {
		if (ftruncate(file->fd, (off_t)file->size))
			pr_warn("spool: cannot truncate %s/%s: %s\n", spool->dir, file->name,
				strerror(errno));
		return err;
	}
	file->size += entry.size;
	file->batches++;
	file->records += records;
	file->live++;
	spool->bytes += entry.size;
	return 0;
}

int spool_commit(struct spool *spool)
{
	struct spool_file *file = spool->filling ? file_find(spool, spool->filling) : NULL;
	int err = file ? file_seal(spool, file) : 0;

	return err ? err : sync_dir(spool);
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
 * Checks the spool record header at offset against the file's size. Returns 0 with its
 * record count and payload length, or -EBADMSG with what is wrong in why; *records_known
 * says whether *records could be read even so.
 */
static int check_record(int fd, uint64_t offset, uint64_t size, uint32_t *records,
			uint32_t *payload_len, uint32_t *crc, int *records_known, char *why,
			size_t why_len)
{
	uint8_t header[SPOOL_HEADER_LEN];
	uint64_t left = size - offset;

	*records = 0;
	*records_known = 0;
	if (left < SPOOL_HEADER_LEN) {
		snprintf(why, why_len, "truncated inside a record header at offset %" PRIu64,
			 offset);
		return -EBADMSG;
	}
	if (pread(fd, header, sizeof(header), (off_t)offset) != sizeof(header)) {
		snprintf(why, why_len, "header at offset %" PRIu64 " unreadable: %s", offset,
			 strerror(errno ?: EIO));
		return -EBADMSG;
	}
	if (memcmp(header, SPOOL_MAGIC, 4)) {
		snprintf(why, why_len, "%s at offset %" PRIu64,
			 all_zero(header, sizeof(header)) ? "zero-filled" : "bad magic", offset);
		return -EBADMSG;
	}
	*records = get_le32(header + 4);
	*crc = get_le32(header + 8);
	*payload_len = get_le32(header + 12);
	*records_known = 1;
	if (*payload_len > left - SPOOL_HEADER_LEN) {
		snprintf(why, why_len,
			 "payload truncated at offset %" PRIu64 ": %" PRIu64
			 " bytes where its header says %u",
			 offset, left - SPOOL_HEADER_LEN, *payload_len);
		return -EBADMSG;
	}
	return 0;
}

struct found_file {
	uint64_t first;
	uint32_t batches; /* FILE_GROUP: what its name says */
	uint32_t records;
	enum file_kind kind;
	char name[FILE_NAME_MAX];
};

static int parse_ordinal(const char *name, uint64_t *ordinal)
{
	char *end;
	int i;

	for (i = 0; i < ORDINAL_DIGITS; i++)
		if (name[i] < '0' || name[i] > '9')
			return -EINVAL;
	errno = 0;
	*ordinal = strtoull(name, &end, 10);
	return errno || end != name + ORDINAL_DIGITS || !*ordinal ? -EINVAL : 0;
}

static int parse_u32(const char *text, char stop, uint32_t *value, const char **rest)
{
	unsigned long parsed;
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	parsed = strtoul(text, &end, 10);
	if (errno || parsed > UINT32_MAX || *end != stop)
		return -EINVAL;
	*value = (uint32_t)parsed;
	*rest = end;
	return 0;
}

/*
 * Reads a spool file name; -EINVAL for a name that is not one. A NAME.corrupt is recognised
 * (corrupt 1) so that new ordinals stay ahead of it and never overwrite it.
 */
static int parse_name(const char *name, struct found_file *found, int *corrupt)
{
	size_t len = strlen(name), suffix = strlen(CORRUPT_SUFFIX);
	const char *rest;

	memset(found, 0, sizeof(*found));
	*corrupt = len > suffix && !strcmp(name + len - suffix, CORRUPT_SUFFIX);
	if (*corrupt)
		len -= suffix;
	if (len >= FILE_NAME_MAX || len <= ORDINAL_DIGITS || parse_ordinal(name, &found->first))
		return -EINVAL;
	memcpy(found->name, name, len);
	found->name[len] = '\0';
	found->batches = 1;
	if (!strcmp(found->name + ORDINAL_DIGITS, OPEN_SUFFIX)) {
		found->kind = FILE_OPEN;
		return 0;
	}
	if (!strcmp(found->name + ORDINAL_DIGITS, BATCH_SUFFIX)) {
		found->kind = FILE_SINGLE;
		return 0;
	}
	found->kind = FILE_GROUP;
	rest = found->name + ORDINAL_DIGITS;
	if (*rest++ != '-' || parse_u32(rest, '-', &found->batches, &rest) ||
	    parse_u32(rest + 1, '.', &found->records, &rest) || strcmp(rest, BATCH_SUFFIX) ||
	    !found->batches)
		return -EINVAL;
	return 0;
}

/* Copies bytes [from, size) of fd into a new file `name`, synced, for a later look. */
static int copy_aside(struct spool *spool, int fd, uint64_t from, uint64_t size, const char *name)
{
	char tmp[FILE_NAME_MAX + sizeof(TMP_PREFIX) + sizeof(CORRUPT_SUFFIX)];
	uint8_t buffer[65536];
	uint64_t written = 0;
	int out, err = 0;

	snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s", name);
	out = openat(spool->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	while (!err && from < size) {
		size_t chunk = size - from < sizeof(buffer) ? (size_t)(size - from) :
							      sizeof(buffer);
		ssize_t n = pread(fd, buffer, chunk, (off_t)from);
		struct iovec iov = { buffer, (size_t)(n > 0 ? n : 0) };

		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		err = write_full_at(out, &iov, 1, (off_t)written);
		written += (uint64_t)n;
		from += (uint64_t)n;
	}
	if (!err)
		err = sync_fd(spool, out, 1);
	if (close(out) && !err)
		err = -errno;
	if (!err && renameat(spool->dir_fd, tmp, spool->dir_fd, name))
		err = -errno;
	if (err)
		unlinkat(spool->dir_fd, tmp, 0);
	return err;
}

/* Counts batches found lost at open, and says so. */
static void report_lost(struct spool *spool, const char *name, const char *why, uint32_t batches,
			uint32_t records, int records_known, const char *aside)
{
	spool->corrupt_batches += batches;
	spool->corrupt_records += records;
	if (records_known)
		pr_warn("spool: %s/%s is torn, %s: %s, %u batches and %u records lost\n",
			spool->dir, name, why, aside, batches, records);
	else
		pr_warn("spool: %s/%s is torn, %s: %s, %u batch(es) lost, their record count "
			"is unknown\n",
			spool->dir, name, why, aside, batches);
}

/*
 * Indexes one file found at open. A torn file keeps its good records (renamed to say only
 * them) and its torn bytes go to NAME.corrupt; an uncommitted one is committed.
 */
static int recover_file(struct spool *spool, const struct found_file *found)
{
	struct spool_file file = { .first = found->first, .fd = -1 };
	char why[200] = "", aside[2 * FILE_NAME_MAX + 32];
	char corrupt[FILE_NAME_MAX + sizeof(CORRUPT_SUFFIX)];
	uint32_t torn_records = 0, lost_batches = 0, lost_records = 0;
	uint64_t offset = 0, size, first_entry = spool->count;
	int fd, err = 0, torn = 0, known = 0;
	struct stat st;

	fd = openat(spool->dir_fd, found->name, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	size = (uint64_t)st.st_size;
	while (offset < size && file.batches < UINT32_MAX) {
		struct spool_entry entry = { .id = file.first + file.batches,
					     .file = file.first,
					     .offset = offset };
		uint32_t records, payload_len, crc;

		if (check_record(fd, offset, size, &records, &payload_len, &crc, &known, why,
				 sizeof(why))) {
			torn = 1;
			torn_records = records;
			break;
		}
		entry.size = SPOOL_HEADER_LEN + payload_len;
		entry.records = records;
		err = entry_append(spool, &entry);
		if (err)
			goto out;
		file.batches++;
		file.records += records;
		offset += entry.size;
	}
	if (size == 0 && found->kind == FILE_OPEN) {
		/* created, and the agent stopped before its first record: nothing was in it */
		unlinkat(spool->dir_fd, found->name, 0);
		spool->unsynced++;
		goto out;
	}
	if (size == 0) {
		torn = 1;
		snprintf(why, sizeof(why), "empty (0 bytes)");
	}

	if (torn) {
		if (found->kind == FILE_GROUP) {
			/* its name says what it held: the loss is exact */
			lost_batches =
				found->batches > file.batches ? found->batches - file.batches : 0;
			lost_records =
				found->records > file.records ? found->records - file.records : 0;
			known = 1;
		} else {
			lost_batches = 1;
			lost_records = torn_records;
		}
		snprintf(corrupt, sizeof(corrupt), "%s" CORRUPT_SUFFIX, found->name);
		if (!file.batches) {
			if (renameat(spool->dir_fd, found->name, spool->dir_fd, corrupt)) {
				err = -errno;
				goto out;
			}
			snprintf(aside, sizeof(aside), "set aside as %s", corrupt);
		} else {
			err = copy_aside(spool, fd, offset, size, corrupt);
			if (err)
				goto out;
			if (ftruncate(fd, (off_t)offset)) {
				err = -errno;
				goto out;
			}
			snprintf(aside, sizeof(aside),
				 "the torn bytes set aside as %s, its %u good batches kept",
				 corrupt, file.batches);
		}
		spool->unsynced++;
		if (found->kind == FILE_OPEN)
			/* never committed: as a batch in memory at a crash, the gap report counts it */
			pr_warn("spool: %s/%s was not committed when the agent stopped; its end is an "
				"incomplete batch (%s): %s\n",
				spool->dir, found->name, why, aside);
		else
			report_lost(spool, found->name, why, lost_batches, lost_records, known,
				    aside);
	} else if (found->kind == FILE_GROUP &&
		   (file.batches != found->batches || file.records != found->records)) {
		pr_warn("spool: %s/%s holds %u batches and %u records, not what its name says; "
			"they are all sent\n",
			spool->dir, found->name, file.batches, file.records);
	}
	if (!file.batches)
		goto out;

	file.size = offset;
	file.live = file.batches;
	memcpy(file.name, found->name, sizeof(file.name));
	if (torn || found->kind == FILE_OPEN) {
		/* its data synced, then a name that counts only what it holds */
		err = sync_fd(spool, fd, 1);
		if (err)
			goto out;
		group_name(file.name, file.first, file.batches, file.records);
		if (renameat(spool->dir_fd, found->name, spool->dir_fd, file.name)) {
			err = -errno;
			goto out;
		}
		spool->unsynced++;
	}
	if (!file_append(spool, &file))
		err = -ENOMEM;
out:
	close(fd);
	if (err || !file.batches) {
		/* the entries indexed for a file not kept go again */
		while (spool->count > first_entry)
			entry_remove(spool, &spool->entries[spool->count - 1]);
	}
	return err;
}

/*
 * Two names whose ordinals overlap: no agent writes that, someone copied files in. The later
 * one is set aside, and what its name says it held counted as lost.
 */
static int set_aside_overlap(struct spool *spool, const struct found_file *found,
			     const struct found_file *before)
{
	char corrupt[FILE_NAME_MAX + sizeof(CORRUPT_SUFFIX)], why[2 * FILE_NAME_MAX];

	snprintf(corrupt, sizeof(corrupt), "%s" CORRUPT_SUFFIX, found->name);
	if (renameat(spool->dir_fd, found->name, spool->dir_fd, corrupt))
		return -errno;
	spool->unsynced++;
	snprintf(why, sizeof(why), "its ordinals overlap %s's", before->name);
	report_lost(spool, found->name, why, found->batches, found->records,
		    found->kind == FILE_GROUP, "set aside");
	return 0;
}

static int compare_found(const void *a, const void *b)
{
	const struct found_file *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * Indexes the files found, in ordinal order; removes the temporary files of an interrupted
 * write (never renamed: nobody counted on them).
 */
static int scan_dir(struct spool *spool)
{
	struct found_file *found = NULL;
	uint32_t count = 0, capacity = 0, i;
	struct dirent *dirent;
	DIR *dir;
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
		struct found_file file;
		int corrupt;

		if (!strncmp(dirent->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) {
			unlinkat(spool->dir_fd, dirent->d_name, 0);
			spool->unsynced++;
			continue;
		}
		if (parse_name(dirent->d_name, &file, &corrupt))
			continue;
		/* new ordinals stay ahead of every name, NAME.corrupt included */
		if (file.first + file.batches > spool->next_id)
			spool->next_id = file.first + file.batches;
		if (corrupt)
			continue;
		err = grow((void **)&found, &capacity, count, sizeof(*found));
		if (err)
			break;
		found[count++] = file;
	}
	closedir(dir);
	if (!err && count)
		qsort(found, count, sizeof(*found), compare_found);
	for (i = 0; !err && i < count; i++) {
		if (i && found[i].first < found[i - 1].first + found[i - 1].batches) {
			err = set_aside_overlap(spool, &found[i], &found[i - 1]);
			continue;
		}
		err = recover_file(spool, &found[i]);
	}
	free(found);
	return err ? err : sync_dir(spool);
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
	struct spool_file *file;
	int err;

	if (!spool)
		return;
	err = spool->dir_fd >= 0 ? spool_commit(spool) : 0;
	if (err)
		pr_warn("spool: syncing %s failed: %s\n", spool->dir, strerror(-err));
	file = spool->filling ? file_find(spool, spool->filling) : NULL;
	if (file && file->fd >= 0)
		close(file->fd);
	if (spool->lock_fd >= 0)
		close(spool->lock_fd);
	if (spool->dir_fd >= 0)
		close(spool->dir_fd);
	free(spool->entries);
	free(spool->files);
	free(spool->dir);
	free(spool);
}

/* A batch that cannot be sent: counted, logged once per file, and forgotten. */
static void entry_lost(struct spool *spool, struct spool_entry *entry, struct spool_file *file,
		       const char *why, char *err, size_t err_len)
{
	snprintf(err, err_len, "spool file %s/%s, batch %" PRIu64 " (%u records): %s", spool->dir,
		 file->name, entry->id, entry->records, why);
	if (!file->damaged)
		pr_warn("spool: %s; its other batches are checked one by one\n", err);
	file->damaged = 1;
	spool->corrupt_batches++;
	spool->corrupt_records += entry->records;
	entry_remove(spool, entry);
	file_release(spool, file);
}

int spool_take(struct spool *spool, uint64_t *id, uint32_t *records, void **payload, size_t *len,
	       char *err, size_t err_len)
{
	struct spool_entry *entry = NULL;
	struct spool_file *file;
	uint32_t i, crc = 0, header_records, payload_len;
	char why[200];
	struct stat st;
	uint8_t *data;
	int fd, known, torn;

	for (i = 0; i < spool->count; i++) {
		if (!spool->entries[i].sending) {
			entry = &spool->entries[i];
			break;
		}
	}
	if (!entry)
		return 0;
	*id = entry->id;
	*records = entry->records;
	file = file_find(spool, entry->file);
	if (!file)
		return -EINVAL;

	fd = openat(spool->dir_fd, file->name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, sizeof(why), "the file vanished (%s)", strerror(errno));
		entry_lost(spool, entry, file, why, err, err_len);
		return -EBADMSG;
	}
	/* the file may have been torn since it was indexed: check the record as it is now */
	if (fstat(fd, &st)) {
		snprintf(why, sizeof(why), "cannot stat it: %s", strerror(errno));
		torn = -EBADMSG;
	} else {
		torn = check_record(fd, entry->offset, (uint64_t)st.st_size, &header_records,
				    &payload_len, &crc, &known, why, sizeof(why));
	}
	if (!torn &&
	    (header_records != entry->records || SPOOL_HEADER_LEN + payload_len != entry->size)) {
		snprintf(why, sizeof(why),
			 "its header at offset %" PRIu64 " changed since it was written",
			 entry->offset);
		torn = -EBADMSG;
	}
	if (torn) {
		close(fd);
		entry_lost(spool, entry, file, why, err, err_len);
		return -EBADMSG;
	}
	*len = entry->size - SPOOL_HEADER_LEN;
	data = malloc(*len ? *len : 1);
	if (!data) {
		close(fd);
		return -ENOMEM;
	}
	if (pread(fd, data, *len, (off_t)(entry->offset + SPOOL_HEADER_LEN)) != (ssize_t)*len ||
	    wire_crc32c(data, *len) != crc) {
		close(fd);
		free(data);
		entry_lost(spool, entry, file, "payload checksum mismatch", err, err_len);
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
	struct spool_file *file;

	if (!entry)
		return;
	file = file_find(spool, entry->file);
	entry_remove(spool, entry);
	if (file)
		file_release(spool, file);
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

uint32_t spool_files(const struct spool *spool)
{
	return spool->file_count;
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
