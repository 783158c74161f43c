// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Write-ahead files of sealed inserts; see wal.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bytes.h"
#include "wal.h"
#include "wire.h"
#include "write_full.h"

#define WAL_MAGIC	"FLWA"
#define WAL_VERSION	2
#define WAL_HEADER_SIZE 24
#define WAL_PART_SIZE	32
#define WAL_MAX_PARTS	(1u << 20)
/* version 2 starts the payload at a multiple of this, so that O_DIRECT can write it */
#define WAL_ALIGN 4096

static size_t align_up(size_t n)
{
	return (n + WAL_ALIGN - 1) & ~(size_t)(WAL_ALIGN - 1);
}

int wal_buffer_reserve(uint8_t **buffer, size_t *cap, size_t need)
{
	size_t grown_cap;
	void *grown;

	if (need <= *cap)
		return 0;
	grown_cap = align_up(need > *cap * 2 ? need : *cap * 2);
	if (*buffer)
		grown = mremap(*buffer, *cap, grown_cap, MREMAP_MAYMOVE);
	else
		grown = mmap(NULL, grown_cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
	if (grown == MAP_FAILED)
		return -ENOMEM;
	*buffer = grown;
	*cap = grown_cap;
	return 0;
}

void wal_buffer_free(uint8_t *buffer, size_t cap)
{
	if (buffer && cap)
		munmap(buffer, cap);
}

int wal_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	if (ret)
		errno = -ret;
	return ret;
}

/* CRC-32C of the header's first 20 bytes and the part table: all but the CRC field. */
static uint32_t header_crc(uint8_t *buffer, size_t table_len)
{
	uint8_t saved[4];
	uint32_t crc;

	/* the field sits between the two: zero it for the sum, then put it back */
	memcpy(saved, buffer + 20, 4);
	memset(buffer + 20, 0, 4);
	crc = wire_crc32c(buffer, WAL_HEADER_SIZE + table_len);
	memcpy(buffer + 20, saved, 4);
	return crc;
}

/*
 * Writes len bytes of buffer at offset with O_DIRECT: whole blocks straight from buffer, the
 * last partial one through a zero-padded block (the caller cuts the file to its size after).
 * Returns 0, -EINVAL when the file system or the buffer does not allow it (nothing written
 * that matters then), or another negative errno.
 */
static int write_direct(int fd, const uint8_t *buffer, size_t len, off_t offset)
{
	size_t whole = len & ~(size_t)(WAL_ALIGN - 1);
	uint8_t *last;
	ssize_t n;
	int ret = 0;

	if (((uintptr_t)buffer | (uintptr_t)offset) & (WAL_ALIGN - 1))
		return -EINVAL;
	while (whole) {
		n = pwrite(fd, buffer, whole, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 || (n & (WAL_ALIGN - 1)))
			return -EIO;
		buffer += n;
		offset += n;
		whole -= (size_t)n;
		len -= (size_t)n;
	}
	if (!len)
		return 0;
	if (posix_memalign((void **)&last, WAL_ALIGN, WAL_ALIGN))
		return -ENOMEM;
	memset(last, 0, WAL_ALIGN);
	memcpy(last, buffer, len);
	do
		n = pwrite(fd, last, WAL_ALIGN, offset);
	while (n < 0 && errno == EINTR);
	if (n != WAL_ALIGN)
		ret = n < 0 ? -errno : -EIO;
	free(last);
	return ret;
}

/*
 * The file's bytes: header, part table and padding in head (head_len, a multiple of
 * WAL_ALIGN, from posix_memalign), then the payload. O_DIRECT when it can, else buffered.
 */
static int write_file(const char *tmp, const uint8_t *head, size_t head_len, const uint8_t *payload,
		      size_t payload_len)
{
	struct iovec iov[2] = { { (void *)head, head_len }, { (void *)payload, payload_len } };
	int fd, ret;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0600);
	if (fd >= 0) {
		ret = write_direct(fd, head, head_len, 0);
		if (!ret)
			ret = write_direct(fd, payload, payload_len, (off_t)head_len);
		if (!ret && ftruncate(fd, (off_t)(head_len + payload_len)))
			ret = -errno;
		if (ret != -EINVAL) {
			if (!ret && fdatasync(fd))
				ret = -errno;
			if (close(fd) && !ret)
				ret = -errno;
			return ret;
		}
		close(fd);
	} else if (errno != EINVAL) {
		return -errno;
	}
	/* no O_DIRECT here (tmpfs, some FUSE and network file systems): through the page cache */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = write_full(fd, iov, 2);
	if (!ret && fdatasync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

int64_t wal_write(const char *dir, struct wal_insert *insert, char *path, size_t path_len,
		  char *err, size_t err_len)
{
	size_t table_len = (size_t)insert->part_count * WAL_PART_SIZE;
	size_t head_len = align_up(WAL_HEADER_SIZE + table_len);
	uint8_t *buffer, *header, *table;
	char tmp[PATH_MAX];
	uint32_t i;
	int ret;

	/* header and part table in one buffer: one CRC covers both, the insert id included */
	if (posix_memalign((void **)&buffer, WAL_ALIGN, head_len)) {
		snprintf(err, err_len, "out of memory writing a write-ahead file");
		return -ENOMEM;
	}
	memset(buffer, 0, head_len);
	header = buffer;
	table = buffer + WAL_HEADER_SIZE;
	for (i = 0; i < insert->part_count; i++) {
		struct wal_part *part = &insert->parts[i];
		uint8_t *p = table + (size_t)i * WAL_PART_SIZE;

		part->crc = wire_crc32c(insert->payload + part->offset, part->len);
		put_le32(p, part->table);
		put_le32(p + 4, part->rows);
		put_le64(p + 8, part->offset);
		put_le64(p + 16, part->len);
		put_le32(p + 24, part->crc);
	}
	memcpy(header, WAL_MAGIC, 4);
	put_le32(header + 4, WAL_VERSION);
	put_le64(header + 8, insert->id);
	put_le32(header + 16, insert->part_count);
	put_le32(header + 20, header_crc(buffer, table_len));
	snprintf(path, path_len, "%s/%016" PRIx64 WAL_SUFFIX, dir, insert->id);
	snprintf(tmp, sizeof(tmp), "%s/%016" PRIx64 WAL_TMP_SUFFIX, dir, insert->id);
	ret = write_file(tmp, buffer, head_len, insert->payload, insert->payload_len);
	free(buffer);
	/* the rename makes the whole file appear at once; the directory's fsync makes it last */
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (!ret)
		ret = wal_fsync_dir(dir);
	if (ret) {
		snprintf(err, err_len, "write-ahead file %s: %s", ret == -ENOENT ? tmp : path,
			 strerror(-ret));
		unlink(tmp);
		unlink(path);
		return ret;
	}
	return (int64_t)(head_len + insert->payload_len);
}

static int read_file(const char *path, uint8_t **data, size_t *cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;
	struct stat st;
	size_t done = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*data = NULL;
	*cap = 0;
	if (wal_buffer_reserve(data, cap, (size_t)st.st_size + 1)) {
		close(fd);
		return -ENOMEM;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, *data + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = -errno;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	if (ret) {
		wal_buffer_free(*data, *cap);
		*data = NULL;
		return ret;
	}
	*len = done;
	return 0;
}

int wal_read(const char *path, struct wal_insert *insert, const char **why)
{
	size_t len = 0, cap = 0, table_len, payload_start, i;
	uint8_t *data = NULL;
	uint32_t count, version;
	int ret;

	memset(insert, 0, sizeof(*insert));
	*why = "unreadable";
	ret = read_file(path, &data, &cap, &len);
	if (ret)
		return ret;
	*why = "shorter than its header";
	if (len < WAL_HEADER_SIZE)
		goto bad;
	*why = "not a write-ahead file (magic or version)";
	version = get_le32(data + 4);
	if (memcmp(data, WAL_MAGIC, 4) || (version != 1 && version != WAL_VERSION))
		goto bad;
	count = get_le32(data + 16);
	table_len = (size_t)count * WAL_PART_SIZE;
	*why = "part table cut short or corrupt";
	if (!count || count > WAL_MAX_PARTS || len - WAL_HEADER_SIZE < table_len ||
	    header_crc(data, table_len) != get_le32(data + 20))
		goto bad;
	payload_start = WAL_HEADER_SIZE + table_len;
	if (version == WAL_VERSION) {
		payload_start = align_up(payload_start);
		*why = "cut short before its payload";
		if (len < payload_start)
			goto bad;
		*why = "padding before the payload is not zeros (corrupt)";
		for (i = WAL_HEADER_SIZE + table_len; i < payload_start; i++)
			if (data[i])
				goto bad;
	}
	insert->parts = calloc(count, sizeof(*insert->parts));
	if (!insert->parts) {
		wal_buffer_free(data, cap);
		*why = "out of memory";
		return -ENOMEM;
	}
	insert->id = get_le64(data + 8);
	insert->part_count = count;
	insert->payload_len = len - payload_start;
	for (i = 0; i < count; i++) {
		const uint8_t *p = data + WAL_HEADER_SIZE + (size_t)i * WAL_PART_SIZE;
		struct wal_part *part = &insert->parts[i];

		*why = "a part of an unknown table";
		if (get_le32(p) > WAL_TABLE_SHARD)
			goto bad;
		part->table = (enum wal_table)get_le32(p);
		part->rows = get_le32(p + 4);
		part->offset = get_le64(p + 8);
		part->len = get_le64(p + 16);
		part->crc = get_le32(p + 24);
		*why = "a part lies outside the file (cut short)";
		if (part->offset > insert->payload_len ||
		    part->len > insert->payload_len - part->offset)
			goto bad;
		*why = "a part's checksum does not match (torn or corrupt)";
		if (wire_crc32c(data + payload_start + part->offset, part->len) != part->crc)
			goto bad;
	}
	memmove(data, data + payload_start, insert->payload_len);
	insert->payload = data;
	insert->payload_cap = cap;
	return 0;
bad:
	wal_buffer_free(data, cap);
	free(insert->parts);
	memset(insert, 0, sizeof(*insert));
	return -EBADMSG;
}

void wal_insert_free(struct wal_insert *insert)
{
	if (insert->payload_cap)
		wal_buffer_free(insert->payload, insert->payload_cap);
	else
		free(insert->payload);
	free(insert->parts);
	memset(insert, 0, sizeof(*insert));
}
