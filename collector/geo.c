// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Geolocation files to CIDR prefixes; see geo.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "geo.h"
#include "parse.h"

#define LINE_MAX_LEN 4096
#define MAX_FIELDS   16
#define CODES	     (26 * 26)
#define MAX_GEONAMES 4096 /* GeoLite2 country locations: ~250 */

typedef unsigned __int128 u128;

struct country {
	char *name;
	float latitude, longitude;
	int has_coordinates; /* else NaN: a regional code (EU, AP), no single place */
};

struct geoname {
	uint32_t id;
	char code[3];
};

struct loader {
	const char *path;
	struct country countries[CODES];
	struct geoname *geonames;
	int geoname_count;
	geo_emit_fn emit;
	void *ctx;
	struct geo_stats *stats;
	char code[3];
	int stop;
};

static int code_index(const char *code)
{
	if (!isupper((unsigned char)code[0]) || !isupper((unsigned char)code[1]) || code[2])
		return -1;
	return (code[0] - 'A') * 26 + (code[1] - 'A');
}

/*
 * Names and map points from geo_countries_tsv ("CODE\tlatitude\tlongitude\tname" lines, the
 * coordinates empty for regional codes such as EU): a point inside the country's largest
 * land area (collector/report/map_data.py).
 */
static void load_countries(struct loader *loader)
{
	const char *p = geo_countries_tsv;

	while (*p) {
		const char *eol = p + strcspn(p, "\n");
		char line[256], *fields[4], *cursor = line;
		int f, index;

		if (*p != '#' && (size_t)(eol - p) < sizeof(line)) {
			memcpy(line, p, (size_t)(eol - p));
			line[eol - p] = '\0';
			for (f = 0; f < 4 && cursor; f++) {
				fields[f] = cursor;
				cursor = strchr(cursor, '\t');
				if (cursor)
					*cursor++ = '\0';
			}
			index = f == 4 ? code_index(fields[0]) : -1;
			if (index >= 0) {
				struct country *country = &loader->countries[index];

				country->name = strdup(fields[3]);
				country->has_coordinates = fields[1][0] && fields[2][0];
				country->latitude =
					country->has_coordinates ? strtof(fields[1], NULL) : NAN;
				country->longitude =
					country->has_coordinates ? strtof(fields[2], NULL) : NAN;
			}
		}
		p = *eol ? eol + 1 : eol;
	}
}

static const struct {
	const char *prefix, *code, *name;
} special_use[] = {
	{ "10.0.0.0/8", "PRIVATE", "Private network (RFC 1918, RFC 4193)" },
	{ "172.16.0.0/12", "PRIVATE", "Private network (RFC 1918, RFC 4193)" },
	{ "192.168.0.0/16", "PRIVATE", "Private network (RFC 1918, RFC 4193)" },
	{ "fc00::/7", "PRIVATE", "Private network (RFC 1918, RFC 4193)" },
	{ "100.64.0.0/10", "CGNAT", "Carrier-grade NAT (RFC 6598)" },
	{ "127.0.0.0/8", "LOCAL", "Loopback or link-local" },
	{ "169.254.0.0/16", "LOCAL", "Loopback or link-local" },
	{ "::1/128", "LOCAL", "Loopback or link-local" },
	{ "fe80::/10", "LOCAL", "Loopback or link-local" },
	{ "224.0.0.0/4", "MULTICAST", "Multicast" },
	{ "ff00::/8", "MULTICAST", "Multicast" },
	{ "192.0.2.0/24", "DOC", "Documentation or benchmarking range" },
	{ "198.51.100.0/24", "DOC", "Documentation or benchmarking range" },
	{ "203.0.113.0/24", "DOC", "Documentation or benchmarking range" },
	{ "198.18.0.0/15", "DOC", "Documentation or benchmarking range" },
	{ "2001:db8::/32", "DOC", "Documentation or benchmarking range" },
};

int geo_special_use_match(const char *prefix)
{
	size_t i;

	for (i = 0; i < sizeof(special_use) / sizeof(special_use[0]); i++)
		if (prefix[0] == special_use[i].prefix[0] && !strcmp(prefix, special_use[i].prefix))
			return (int)i;
	return -1;
}

int geo_special_use(geo_emit_fn emit, void *ctx, uint32_t named_by_files, uint64_t *count)
{
	size_t i;
	int ret;

	*count = 0;
	for (i = 0; i < sizeof(special_use) / sizeof(special_use[0]); i++) {
		struct geo_prefix prefix = { .latitude = NAN, .longitude = NAN };

		if (named_by_files & (1u << i))
			continue; /* the same prefix twice would be one too many in the trie */

		snprintf(prefix.prefix, sizeof(prefix.prefix), "%s", special_use[i].prefix);
		snprintf(prefix.country_code, sizeof(prefix.country_code), "%s",
			 special_use[i].code);
		prefix.country_name = special_use[i].name;
		ret = emit(ctx, &prefix);
		if (ret)
			return ret;
		(*count)++;
	}
	return 0;
}

static void format_prefix(char *dst, size_t size, u128 base, int prefix_len, int ipv4)
{
	uint8_t bytes[16];
	char text[INET6_ADDRSTRLEN];
	int i;

	for (i = 15; i >= 0; i--) {
		bytes[i] = (uint8_t)base;
		base >>= 8;
	}
	if (ipv4) {
		inet_ntop(AF_INET, bytes + 12, text, sizeof(text));
		snprintf(dst, size, "%s/%d", text, prefix_len - 96);
	} else {
		inet_ntop(AF_INET6, bytes, text, sizeof(text));
		snprintf(dst, size, "%s/%d", text, prefix_len);
	}
}

int geo_split_range(u128 first, u128 last, int ipv4, geo_cidr_fn fn, void *ctx)
{
	int ret;

	if (first > last)
		return -EINVAL;
	for (;;) {
		/* the largest block aligned at first that does not pass last */
		int host_bits = 0;

		while (host_bits < (ipv4 ? 32 : 127)) {
			u128 size = (u128)1 << (host_bits + 1);

			if (first & (size - 1))
				break;
			if (first + (size - 1) > last || first + (size - 1) < first)
				break;
			host_bits++;
		}
		if (host_bits == 127 && first == 0 && last == ~(u128)0)
			host_bits = 128;
		ret = fn(ctx, first, 128 - host_bits);
		if (ret)
			return ret;
		if (host_bits == 128)
			return 0;
		{
			u128 block_last = first + (((u128)1 << host_bits) - 1);

			if (block_last >= last)
				return 0;
			first = block_last + 1;
		}
	}
}

/* One CIDR block of the current range: to the caller, with its country. */
static int emit_block(void *ctx, u128 base, int prefix_len)
{
	struct loader *loader = ctx;
	struct geo_prefix prefix = { .latitude = NAN, .longitude = NAN };
	int index = code_index(loader->code), ipv4;

	ipv4 = (base >> 32) == 0xffff && prefix_len >= 96;
	format_prefix(prefix.prefix, sizeof(prefix.prefix), base, prefix_len, ipv4);
	memcpy(prefix.country_code, loader->code, 3);
	prefix.country_name = loader->code;
	if (index >= 0) {
		const struct country *country = &loader->countries[index];

		if (country->name)
			prefix.country_name = country->name;
		if (country->has_coordinates) {
			prefix.latitude = country->latitude;
			prefix.longitude = country->longitude;
		}
	}
	loader->stats->prefixes++;
	return loader->emit(loader->ctx, &prefix);
}

static int parse_address(const char *text, u128 *value, int *ipv4)
{
	uint8_t bytes[16];
	int i;

	if (parse_ip_address(text, bytes))
		return -EINVAL;
	*ipv4 = !strchr(text, ':');
	*value = 0;
	for (i = 0; i < 16; i++)
		*value = (*value << 8) | bytes[i];
	return 0;
}

/* Splits a CSV line in place; quotes may hold commas. Returns the field count. */
static int split_csv(char *line, char **fields)
{
	int count = 0;
	char *p = line;

	while (count < MAX_FIELDS) {
		char *out;

		fields[count++] = p;
		if (*p == '"') {
			fields[count - 1] = out = ++p;
			while (*p && !(*p == '"' && p[1] != '"')) {
				if (*p == '"')
					p++;
				*out++ = *p++;
			}
			if (*p == '"')
				p++;
			*out = '\0';
			if (*p != ',')
				break;
			p++;
			continue;
		}
		p += strcspn(p, ",");
		if (!*p)
			break;
		*p++ = '\0';
	}
	return count;
}

static void malformed(struct loader *loader, uint64_t line_number, const char *why, char *err,
		      size_t err_len)
{
	loader->stats->skipped_malformed++;
	if (loader->stats->skipped_malformed == 1)
		snprintf(err, err_len, "%s:%llu: %s", loader->path, (unsigned long long)line_number,
			 why);
	/* a file of garbage must not flood the log: the rest are counted at its end */
	if (loader->stats->skipped_malformed <= GEO_MALFORMED_PRINTED)
		fprintf(stderr, "flowcollector: %s:%llu: %s; line skipped\n", loader->path,
			(unsigned long long)line_number, why);
}

int geo_mostly_malformed(const struct geo_stats *stats)
{
	return stats->skipped_malformed * 100 > stats->data_lines * GEO_MALFORMED_MAX_PERCENT;
}

static int unknown_code(const char *code)
{
	return !strcmp(code, "??") || !strcmp(code, "ZZ") || !strcmp(code, "--") || !code[0];
}

/* start,end,CC: Tor geoip (decimal IPv4), Tor geoip6 and DB-IP lite (address text). */
static int load_ranges(struct loader *loader, char **fields, int count, uint64_t line_number,
		       char *err, size_t err_len)
{
	u128 first, last;
	int ipv4_first, ipv4_last, ret;
	char *end;

	if (count < 3 || strlen(fields[2]) != 2) {
		malformed(loader, line_number, "expected start,end,country", err, err_len);
		return 0;
	}
	if (isdigit((unsigned char)fields[0][0]) && !strpbrk(fields[0], ".:")) {
		unsigned long long a = strtoull(fields[0], &end, 10), b;

		if (*end || (b = strtoull(fields[1], &end, 10), *end) || a > 0xffffffffULL ||
		    b > 0xffffffffULL) {
			malformed(loader, line_number, "bad decimal IPv4 range", err, err_len);
			return 0;
		}
		first = ((u128)0xffff << 32) | a;
		last = ((u128)0xffff << 32) | b;
		ipv4_first = ipv4_last = 1;
	} else if (parse_address(fields[0], &first, &ipv4_first) ||
		   parse_address(fields[1], &last, &ipv4_last) || ipv4_first != ipv4_last) {
		malformed(loader, line_number, "bad address range", err, err_len);
		return 0;
	}
	if (first > last) {
		malformed(loader, line_number, "range ends before it starts", err, err_len);
		return 0;
	}
	if (unknown_code(fields[2])) {
		loader->stats->skipped_unknown++;
		return 0;
	}
	snprintf(loader->code, sizeof(loader->code), "%s", fields[2]);
	loader->stats->ranges++;
	ret = geo_split_range(first, last, ipv4_first, emit_block, loader);
	return ret;
}

/* GeoLite2-Country-Locations-en.csv beside the blocks file: geoname id to country code. */
static int load_geonames(struct loader *loader, char *err, size_t err_len)
{
	char path[4096], line[LINE_MAX_LEN];
	const char *slash = strrchr(loader->path, '/');
	gzFile file;

	snprintf(path, sizeof(path), "%.*sGeoLite2-Country-Locations-en.csv",
		 slash ? (int)(slash - loader->path + 1) : 0, loader->path);
	file = gzopen(path, "rb");
	if (!file) {
		snprintf(err, err_len, "%s: GeoLite2 blocks need %s beside them", loader->path,
			 path);
		return -ENOENT;
	}
	loader->geonames = calloc(MAX_GEONAMES, sizeof(*loader->geonames));
	while (loader->geonames && gzgets(file, line, sizeof(line))) {
		char *fields[MAX_FIELDS];
		int count, index;

		line[strcspn(line, "\r\n")] = '\0';
		count = split_csv(line, fields);
		if (count < 6 || !isdigit((unsigned char)fields[0][0]) ||
		    loader->geoname_count >= MAX_GEONAMES)
			continue;
		index = code_index(fields[4]);
		loader->geonames[loader->geoname_count].id = (uint32_t)strtoul(fields[0], NULL, 10);
		snprintf(loader->geonames[loader->geoname_count++].code, 3, "%s", fields[4]);
		/* the file's own names win over the embedded table's */
		if (index >= 0 && fields[5][0]) {
			free(loader->countries[index].name);
			loader->countries[index].name = strdup(fields[5]);
		}
	}
	gzclose(file);
	return loader->geonames ? 0 : -ENOMEM;
}

/* network,geoname_id,registered_country_geoname_id,...: a CIDR each. */
static int load_geolite_block(struct loader *loader, char **fields, int count, uint64_t line_number,
			      char *err, size_t err_len)
{
	char *slash = count >= 3 ? strchr(fields[0], '/') : NULL;
	uint32_t id;
	u128 base, mask, last;
	int ipv4, prefix_len, i;

	if (!slash) {
		malformed(loader, line_number, "expected network,geoname_id,...", err, err_len);
		return 0;
	}
	*slash = '\0';
	prefix_len = atoi(slash + 1);
	if (parse_address(fields[0], &base, &ipv4) || prefix_len < 0 ||
	    prefix_len > (ipv4 ? 32 : 128)) {
		malformed(loader, line_number, "bad network", err, err_len);
		return 0;
	}
	id = (uint32_t)strtoul(fields[1][0] ? fields[1] : fields[2], NULL, 10);
	loader->code[0] = '\0';
	for (i = 0; i < loader->geoname_count; i++)
		if (loader->geonames[i].id == id)
			memcpy(loader->code, loader->geonames[i].code, 3);
	if (!id || unknown_code(loader->code)) {
		loader->stats->skipped_unknown++;
		return 0;
	}
	if (ipv4)
		prefix_len += 96;
	mask = prefix_len ? ~(u128)0 << (128 - prefix_len) : 0;
	base &= mask;
	last = base | ~mask;
	loader->stats->ranges++;
	return geo_split_range(base, last, ipv4, emit_block, loader);
}

int geo_load_file(const char *path, geo_emit_fn emit, void *ctx, struct geo_stats *stats, char *err,
		  size_t err_len)
{
	struct loader *loader = calloc(1, sizeof(*loader));
	char line[LINE_MAX_LEN];
	uint64_t line_number = 0;
	int geolite = -1, ret = 0, i;
	gzFile file;

	if (!loader)
		return -ENOMEM;
	loader->path = path;
	loader->emit = emit;
	loader->ctx = ctx;
	loader->stats = stats;
	file = gzopen(path, "rb");
	if (!file) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		free(loader);
		return -ENOENT;
	}
	load_countries(loader);
	while (!ret && gzgets(file, line, sizeof(line))) {
		char *fields[MAX_FIELDS];
		int count;

		line_number++;
		stats->lines++;
		if (!strchr(line, '\n') && !gzeof(file)) {
			stats->data_lines++;
			malformed(loader, line_number, "line too long", err, err_len);
			while (gzgets(file, line, sizeof(line)) && !strchr(line, '\n'))
				;
			continue;
		}
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		stats->data_lines++;
		if (geolite < 0) {
			geolite = !strncmp(line, "network,", 8);
			stats->format = geolite ? "GeoLite2 country CSV" :
					strchr(line, ':') ?
						  "address ranges (Tor geoip6 or DB-IP lite)" :
					strchr(line, '.') ? "address ranges (DB-IP lite)" :
							    "Tor geoip (decimal IPv4 ranges)";
			if (geolite) {
				stats->data_lines--; /* the header */
				ret = load_geonames(loader, err, err_len);
				continue;
			}
		}
		count = split_csv(line, fields);
		ret = geolite ?
			      load_geolite_block(loader, fields, count, line_number, err, err_len) :
			      load_ranges(loader, fields, count, line_number, err, err_len);
	}
	if (!ret && !gzeof(file)) {
		int zerr;

		snprintf(err, err_len, "%s: read error: %s", path, gzerror(file, &zerr));
		ret = -EIO;
	}
	if (!ret && geolite < 0) {
		snprintf(err, err_len, "%s: no data lines", path);
		ret = -EINVAL;
	}
	if (stats->skipped_malformed > GEO_MALFORMED_PRINTED)
		fprintf(stderr, "flowcollector: %s: ... and %llu more malformed lines skipped\n",
			path,
			(unsigned long long)(stats->skipped_malformed - GEO_MALFORMED_PRINTED));
	if (!stats->format)
		stats->format = "empty";
	gzclose(file);
	for (i = 0; i < CODES; i++)
		free(loader->countries[i].name);
	free(loader->geonames);
	free(loader);
	return ret;
}

static int reserve(uint8_t **buffer, size_t *len, size_t *cap, size_t more)
{
	if (*len + more > *cap) {
		size_t grown_cap = (*len + more) * 2 + 4096;
		uint8_t *grown = realloc(*buffer, grown_cap);

		if (!grown)
			return -ENOMEM;
		*buffer = grown;
		*cap = grown_cap;
	}
	return 0;
}

/* RowBinary String: LEB128 length, then the bytes. */
static int put_string(uint8_t **buffer, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);
	uint64_t v = n;

	if (reserve(buffer, len, cap, n + 10))
		return -ENOMEM;
	do {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		(*buffer)[(*len)++] = byte | (v ? 0x80 : 0);
	} while (v);
	memcpy(*buffer + *len, s, n);
	*len += n;
	return 0;
}

int geo_rowbinary_append(uint8_t **buffer, size_t *len, size_t *cap,
			 const struct geo_prefix *prefix)
{
	float values[2] = { prefix->latitude, prefix->longitude }; /* little-endian Float32 */

	if (put_string(buffer, len, cap, prefix->prefix) ||
	    put_string(buffer, len, cap, prefix->country_code) ||
	    put_string(buffer, len, cap, prefix->country_name) ||
	    reserve(buffer, len, cap, sizeof(values)))
		return -ENOMEM;
	memcpy(*buffer + *len, values, sizeof(values));
	*len += sizeof(values);
	return 0;
}
