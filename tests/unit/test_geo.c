// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the geolocation loader: range to CIDR, the three formats, errors, map points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "geo.h"

typedef unsigned __int128 u128;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct collected {
	char prefixes[64][64];
	char codes[64][12];
	char names[64][64];
	float latitudes[64];
	float longitudes[64];
	int count;
};

static int collect(void *ctx, const struct geo_prefix *p)
{
	struct collected *c = ctx;

	if (c->count < 64) {
		snprintf(c->prefixes[c->count], 64, "%s", p->prefix);
		memcpy(c->codes[c->count], p->country_code, sizeof(c->codes[0]));
		snprintf(c->names[c->count], 64, "%s", p->country_name);
		c->latitudes[c->count] = p->latitude;
		c->longitudes[c->count] = p->longitude;
	}
	c->count++;
	return 0;
}

struct blocks {
	u128 base[300];
	int len[300];
	int count;
};

static int block(void *ctx, u128 base, int prefix_len)
{
	struct blocks *b = ctx;

	if (b->count < 300) {
		b->base[b->count] = base;
		b->len[b->count] = prefix_len;
	}
	b->count++;
	return 0;
}

#define V4(x) (((u128)0xffff << 32) | (u128)(x))

static void test_split_range(void **state)
{
	struct blocks b = { 0 };

	(void)state;
	assert_int_equal(geo_split_range(V4(0x0a000000), V4(0x0a0000ff), 1, block, &b), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.len[0], 96 + 24);

	memset(&b, 0, sizeof(b)); /* 10.0.0.1 - 10.0.0.6: /32 /31 /31 /32 */
	assert_int_equal(geo_split_range(V4(0x0a000001), V4(0x0a000006), 1, block, &b), 0);
	assert_int_equal(b.count, 4);
	assert_int_equal(b.len[0], 128);
	assert_int_equal(b.len[1], 127);
	assert_int_equal(b.len[2], 127);
	assert_int_equal(b.len[3], 128);

	memset(&b, 0, sizeof(b)); /* one address */
	assert_int_equal(geo_split_range(V4(5), V4(5), 1, block, &b), 0);
	assert_int_equal(b.count, 1);

	memset(&b, 0, sizeof(b)); /* all of IPv4 */
	assert_int_equal(geo_split_range(V4(0), V4(0xffffffff), 1, block, &b), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.len[0], 96);

	memset(&b, 0, sizeof(b)); /* all of IPv6 */
	assert_int_equal(geo_split_range(0, ~(u128)0, 0, block, &b), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.len[0], 0);

	assert_int_equal(geo_split_range(V4(9), V4(8), 1, block, &b), -EINVAL);
}

static char *write_file(const char *name, const char *text, int gzip)
{
	static char path[128];

	snprintf(path, sizeof(path), "/tmp/test_geo.%d.%s", getpid(), name);
	if (gzip) {
		gzFile f = gzopen(path, "wb");

		gzputs(f, text);
		gzclose(f);
	} else {
		FILE *f = fopen(path, "w");

		fputs(text, f);
		fclose(f);
	}
	return path;
}

static void test_tor_geoip(void **state)
{
	struct collected c = { 0 };
	struct geo_stats stats = { 0 };
	char err[256] = "";
	char *path = write_file("geoip",
				"# comment\n16777216,16777471,AU\n16777472,16778239,CN\n"
				"16778240,16779263,??\n",
				0);

	(void)state;
	assert_int_equal(geo_load_file(path, collect, &c, &stats, err, sizeof(err)), 0);
	assert_string_equal(stats.format, "Tor geoip (decimal IPv4 ranges)");
	assert_int_equal(stats.ranges, 2);
	assert_int_equal(stats.skipped_unknown, 1);
	assert_int_equal(c.count, 3); /* 1.0.0.0/24, then 1.0.1.0/24 + 1.0.2.0/23 */
	assert_string_equal(c.prefixes[0], "1.0.0.0/24");
	assert_string_equal(c.codes[0], "AU");
	assert_string_equal(c.names[0], "Australia");
	assert_true(c.latitudes[0] < -20 && c.latitudes[0] > -40);
	assert_string_equal(c.prefixes[1], "1.0.1.0/24");
	assert_string_equal(c.prefixes[2], "1.0.2.0/23");
	unlink(path);
}

static void test_ranges_ipv6_and_gzip(void **state)
{
	struct collected c = { 0 };
	struct geo_stats stats = { 0 };
	char err[256] = "";
	char *path = write_file("geoip6.gz",
				"2001:2::,2001:2:0:ffff:ffff:ffff:ffff:ffff,JP\n"
				"1.0.0.0,1.0.0.255,AU\n",
				1);

	(void)state;
	assert_int_equal(geo_load_file(path, collect, &c, &stats, err, sizeof(err)), 0);
	assert_int_equal(c.count, 2);
	assert_string_equal(c.prefixes[0], "2001:2::/48");
	assert_string_equal(c.names[0], "Japan");
	assert_string_equal(c.prefixes[1], "1.0.0.0/24");
	unlink(path);
}

static void test_malformed_lines_reported(void **state)
{
	struct collected c = { 0 };
	struct geo_stats stats = { 0 };
	char err[256] = "";
	char *path = write_file("bad", "1.0.0.0,1.0.0.255,AU\nnot,a,US\n1.0.1.0,1.0.0.0,AU\n", 0);

	(void)state;
	assert_int_equal(geo_load_file(path, collect, &c, &stats, err, sizeof(err)), 0);
	assert_int_equal(stats.skipped_malformed, 2);
	assert_non_null(strstr(err, ":2: bad address range"));
	assert_int_equal(c.count, 1);
	unlink(path);
}

static void test_mostly_malformed(void **state)
{
	struct collected c = { 0 };
	struct geo_stats stats = { 0 };
	char err[256] = "", text[4096] = "# header comment\n\n1.0.0.0,1.0.0.255,AU\n";
	char *path;
	int i;

	(void)state;
	for (i = 0; i < 30; i++)
		strcat(text, "garbage line\n");
	path = write_file("mostly-bad", text, 0);
	assert_int_equal(geo_load_file(path, collect, &c, &stats, err, sizeof(err)), 0);
	assert_int_equal(stats.lines, 33);
	assert_int_equal(stats.data_lines, 31); /* the comment and the blank line are not data */
	assert_int_equal(stats.skipped_malformed, 30);
	assert_int_equal(c.count, 1);
	assert_true(geo_mostly_malformed(&stats));
	unlink(path);

	/* half and half is not "most" */
	stats = (struct geo_stats){ .data_lines = 4, .skipped_malformed = 2 };
	assert_false(geo_mostly_malformed(&stats));
	stats.skipped_malformed = 3;
	assert_true(geo_mostly_malformed(&stats));
	stats = (struct geo_stats){ 0 };
	assert_false(geo_mostly_malformed(&stats));
}

static void test_geolite2(void **state)
{
	struct collected c = { 0 };
	struct geo_stats stats = { 0 };
	char err[256] = "", dir[64], blocks[128], locations[128];
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_geo.%d.d", getpid());
	mkdir(dir, 0700);
	snprintf(locations, sizeof(locations), "%s/GeoLite2-Country-Locations-en.csv", dir);
	f = fopen(locations, "w");
	fputs("geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,"
	      "is_in_european_union\n1861060,en,AS,Asia,JP,Japan,0\n"
	      "1835841,en,AS,Asia,KR,\"Korea, Republic of\",0\n",
	      f);
	fclose(f);
	snprintf(blocks, sizeof(blocks), "%s/GeoLite2-Country-Blocks-IPv4.csv", dir);
	f = fopen(blocks, "w");
	fputs("network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,"
	      "is_anonymous_proxy,is_satellite_provider\n1.0.16.0/20,1861060,1861060,,0,0\n"
	      "1.11.0.0/16,,1835841,,0,0\n1.2.3.0/24,,,,1,0\n",
	      f);
	fclose(f);
	assert_int_equal(geo_load_file(blocks, collect, &c, &stats, err, sizeof(err)), 0);
	assert_string_equal(stats.format, "GeoLite2 country CSV");
	assert_int_equal(c.count, 2);
	assert_string_equal(c.prefixes[0], "1.0.16.0/20");
	assert_string_equal(c.names[0], "Japan");
	assert_string_equal(c.names[1], "Korea, Republic of");
	assert_int_equal(stats.skipped_unknown, 1);
	unlink(blocks);
	unlink(locations);
	rmdir(dir);
}

/*
 * The points the old zone.tab means put in the sea or on the wrong continent, and a regional
 * code: no place at all (NaN), not (0, 0).
 */
static void test_country_points(void **state)
{
	static const struct {
		const char *code;
		float south, north, west, east;
	} expected[] = {
		{ "NZ", -47, -34, 166, 179 }, /* not the Atlantic */
		{ "ES", 36, 44, -9.5, 3.5 },  /* not Morocco */
		{ "PT", 37, 42.2, -9.6, -6 }, /* not the Atlantic */
		{ "FR", 42, 51, -5, 8 },      /* not between Paris and French Guiana */
		{ "US", 25, 49, -125, -67 },  /* the lower 48 */
		{ "AU", -39, -11, 113, 154 },
		{ "FJ", -19.5, -15.5, 176, 180 }, /* its ring crosses the antimeridian */
	};
	struct collected c = { 0 };
	struct geo_stats stats = { 0 };
	char err[256] = "", text[1024] = "";
	size_t i, used = 0;
	char *path;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(expected); i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%zu,%zu,%s\n",
					 (i + 1) << 24, ((i + 1) << 24) + 255, expected[i].code);
	snprintf(text + used, sizeof(text) - used, "%u,%u,EU\n", 200u << 24, (200u << 24) + 255);
	path = write_file("points", text, 0);
	assert_int_equal(geo_load_file(path, collect, &c, &stats, err, sizeof(err)), 0);
	assert_int_equal(c.count, (int)ARRAY_SIZE(expected) + 1);
	for (i = 0; i < ARRAY_SIZE(expected); i++) {
		assert_string_equal(c.codes[i], expected[i].code);
		if (c.latitudes[i] < expected[i].south || c.latitudes[i] > expected[i].north ||
		    c.longitudes[i] < expected[i].west || c.longitudes[i] > expected[i].east)
			fail_msg("%s at %.2f, %.2f", c.codes[i], c.latitudes[i], c.longitudes[i]);
	}
	assert_string_equal(c.codes[i], "EU");
	assert_string_equal(c.names[i], "European Union (no single country)");
	assert_true(isnan(c.latitudes[i]) && isnan(c.longitudes[i]));
	unlink(path);
}

/* Private and other special-use ranges: labelled, with no map point. */
static void test_special_use(void **state)
{
	struct collected c = { 0 };
	uint64_t count = 0;
	int i, private_ranges = 0;

	(void)state;
	assert_int_equal(geo_special_use(collect, &c, 0, &count), 0);
	assert_int_equal(count, 16);
	assert_int_equal(c.count, 16);
	for (i = 0; i < c.count; i++) {
		assert_true(isnan(c.latitudes[i]) && isnan(c.longitudes[i]));
		if (!strcmp(c.codes[i], "PRIVATE")) {
			private_ranges++;
			assert_string_equal(c.names[i], "Private network (RFC 1918, RFC 4193)");
		}
	}
	assert_string_equal(c.prefixes[0], "10.0.0.0/8");
	assert_string_equal(c.prefixes[3], "fc00::/7");
	assert_int_equal(private_ranges, 4);

	/* a file named 192.0.2.0/24 itself: that one is left out */
	memset(&c, 0, sizeof(c));
	assert_int_equal(geo_special_use_match("192.0.2.0/24"), 11);
	assert_int_equal(geo_special_use_match("192.0.2.0/25"), -1);
	assert_int_equal(geo_special_use(collect, &c, 1u << 11, &count), 0);
	assert_int_equal(count, 15);
	for (i = 0; i < c.count; i++)
		assert_string_not_equal(c.prefixes[i], "192.0.2.0/24");
}

static void test_missing_file(void **state)
{
	struct collected c = { 0 };
	struct geo_stats stats = { 0 };
	char err[256] = "";

	(void)state;
	assert_int_not_equal(
		geo_load_file("/nonexistent/geoip", collect, &c, &stats, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "/nonexistent/geoip"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_range),
		cmocka_unit_test(test_tor_geoip),
		cmocka_unit_test(test_ranges_ipv6_and_gzip),
		cmocka_unit_test(test_malformed_lines_reported),
		cmocka_unit_test(test_mostly_malformed),
		cmocka_unit_test(test_geolite2),
		cmocka_unit_test(test_country_points),
		cmocka_unit_test(test_special_use),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
