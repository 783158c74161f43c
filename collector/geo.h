/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Geolocation files to CIDR prefixes with a country: Tor's geoip and geoip6 (IPFire location
 * database), DB-IP lite country CSV, and MaxMind GeoLite2 country CSV. Plain or gzip. Country
 * names and map points come from geo_countries_tsv (Natural Earth and ISO 3166, embedded).
 */
#ifndef FLOWCOLLECTOR_GEO_H
#define FLOWCOLLECTOR_GEO_H

#include <stddef.h>
#include <stdint.h>

struct geo_prefix {
	char prefix[64];       /* "192.0.2.0/24" or "2001:db8::/32" */
	char country_code[12]; /* ISO 3166-1 alpha-2, or a special-use label (PRIVATE) */
	const char *country_name;
	float latitude, longitude; /* NaN for a region without a single place (EU, AP) */
};

/* Called for each prefix; a nonzero return stops the load with that value. */
typedef int (*geo_emit_fn)(void *ctx, const struct geo_prefix *prefix);

/*
 * The special-use ranges no geolocation file names a country for, labelled instead of
 * Unknown (RFC 6890): PRIVATE (RFC 1918, fc00::/7), CGNAT (100.64.0.0/10), LOCAL (loopback,
 * link-local), MULTICAST, DOC (documentation and benchmarking). No map point (NaN). Those
 * whose bit (1 << geo_special_use_match) is set in named_by_files are left out: a file that
 * names the very prefix wins. Returns what emit returned, or 0; *count is how many were
 * emitted.
 */
int geo_special_use(geo_emit_fn emit, void *ctx, uint32_t named_by_files, uint64_t *count);
/* The special-use prefix that is exactly this one ("10.0.0.0/8"), or -1. */
int geo_special_use_match(const char *prefix);

/* Malformed lines printed per file; the rest are counted in one line. */
#define GEO_MALFORMED_PRINTED 10
/* A file with more malformed data lines than this is refused (unless forced): not geo data. */
#define GEO_MALFORMED_MAX_PERCENT 50

struct geo_stats {
	const char *format;
	uint64_t lines;
	uint64_t data_lines; /* neither blank, nor a comment, nor a header */
	uint64_t ranges;
	uint64_t prefixes;
	uint64_t skipped_unknown;   /* unknown country (??, ZZ, no geoname) */
	uint64_t skipped_malformed; /* lines that could not be read; the first few reported */
};

int geo_load_file(const char *path, geo_emit_fn emit, void *ctx, struct geo_stats *stats, char *err,
		  size_t err_len);

/*
 * "CODE\tlatitude\tlongitude\tname" lines, '#' comments: every ISO 3166-1 alpha-2 code with a
 * point inside its largest land area, and the regional codes (EU, AP, ...) with the two
 * coordinates empty. Made at build time by collector/report/map_data.py (build/map/).
 */
extern const char geo_countries_tsv[];

/* 1 when more than GEO_MALFORMED_MAX_PERCENT of a file's data lines were malformed. */
int geo_mostly_malformed(const struct geo_stats *stats);

/* Appends a geo_ranges row in ClickHouse RowBinary to a growable buffer. */
int geo_rowbinary_append(uint8_t **buffer, size_t *len, size_t *cap,
			 const struct geo_prefix *prefix);

/* The minimal CIDR cover of [first, last] (128-bit, IPv4 v4-mapped when ipv4): for tests. */
typedef int (*geo_cidr_fn)(void *ctx, unsigned __int128 base, int prefix_len);
int geo_split_range(unsigned __int128 first, unsigned __int128 last, int ipv4, geo_cidr_fn fn,
		    void *ctx);

#endif
