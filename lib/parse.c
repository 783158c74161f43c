// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Parsing of numbers, times and addresses; see parse.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"

int parse_u32(const char *text, unsigned long min, unsigned long max, uint32_t *value)
{
	unsigned long parsed;
	char *end;

	errno = 0;
	parsed = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || parsed < min || parsed > max)
		return -EINVAL;
	*value = (uint32_t)parsed;
	return 0;
}

int parse_bytes(const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
	unsigned long long parsed;
	char *end;
	int shift = 0;

	errno = 0;
	parsed = strtoull(text, &end, 10);
	if (errno || end == text || text[0] == '-')
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (*end || parsed > (max >> shift))
		return -EINVAL;
	parsed <<= shift;
	if (parsed < min)
		return -EINVAL;
	*value = parsed;
	return 0;
}

int parse_seconds(const char *text, double max_seconds, uint64_t *ns)
{
	char *end;
	double seconds;

	errno = 0;
	seconds = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(seconds) || seconds < 0 ||
	    seconds > max_seconds)
		return -EINVAL;
	*ns = (uint64_t)llround(seconds * 1e9);
	return 0;
}

int parse_time(const char *text, uint64_t *seconds)
{
	struct tm tm = { 0 };
	const char *end;
	char *number_end;
	unsigned long long value;

	errno = 0;
	value = strtoull(text, &number_end, 10);
	if (!errno && *text && !*number_end) {
		*seconds = value;
		return 0;
	}
	end = strptime(text, "%Y-%m-%d", &tm);
	if (end && *end)
		end = strptime(end, " %H:%M", &tm);
	if (end && *end == ':')
		end = strptime(end, ":%S", &tm);
	if (!end || *end)
		return -EINVAL;
	*seconds = (uint64_t)timegm(&tm);
	return 0;
}

int parse_ip_address(const char *text, uint8_t addr[16])
{
	uint8_t parsed[16] = { 0 };

	if (strchr(text, ':')) {
		if (inet_pton(AF_INET6, text, parsed) != 1)
			return -EINVAL;
	} else {
		parsed[10] = parsed[11] = 0xff;
		if (inet_pton(AF_INET, text, parsed + 12) != 1)
			return -EINVAL;
	}
	memcpy(addr, parsed, sizeof(parsed));
	return 0;
}
