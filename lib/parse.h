/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Parsing of what users type and files hold: numbers with their bounds, byte counts, seconds,
 * times and IP addresses. Each takes the whole string (nothing may follow the value) and
 * returns 0 or -EINVAL, leaving the output untouched on error.
 */
#ifndef FLOW_LIB_PARSE_H
#define FLOW_LIB_PARSE_H

#include <stdint.h>

/* A decimal integer in [min, max]. */
int parse_u32(const char *text, unsigned long min, unsigned long max, uint32_t *value);
/* A byte count in [min, max] with an optional K, M or G suffix (powers of 1024). */
int parse_bytes(const char *text, uint64_t min, uint64_t max, uint64_t *value);
/* Seconds in [0, max_seconds], fractions allowed, as nanoseconds. */
int parse_seconds(const char *text, double max_seconds, uint64_t *ns);
/* "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" (UTC) or Unix seconds. */
int parse_time(const char *text, uint64_t *seconds);
/* IPv4 dotted quad (stored v4-mapped) or IPv6 text, into 16 bytes in network order. */
int parse_ip_address(const char *text, uint8_t addr[16]);

#endif
