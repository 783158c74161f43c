// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * agent/attach: XDP and TC egress attached and detached through BPF links and through netlink
 * and clsact, what a killed run leaves behind, and a foreign program left alone. Each test
 * runs in a network namespace of its own with a fresh veth pair, and loads two one-instruction
 * programs named like the agent's. Needs root (CAP_NET_ADMIN, CAP_BPF); skipped without.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "attach.h"

struct fixture {
	int ifindex;
	int xdp_fd;	/* named xdp_flow_ingress, as the agent's */
	int foreign_fd; /* an XDP program of another name */
	int tc_fd;
};

/* r0 = value; exit */
static int load(enum bpf_prog_type type, const char *name, int value)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = value },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(type, name, "GPL", insns, 2, NULL);
}

static int setup(void **state)
{
	static struct fixture f;

	if (geteuid() != 0)
		return -1;
	if (unshare(CLONE_NEWNET))
		return -1;
	if (system("ip link add fa0 type veth peer name fa1 && ip link set fa0 up && "
		   "ip link set fa1 up"))
		return -1;
	f.ifindex = (int)if_nametoindex("fa0");
	f.xdp_fd = load(BPF_PROG_TYPE_XDP, "xdp_flow_ingress", XDP_PASS);
	f.foreign_fd = load(BPF_PROG_TYPE_XDP, "xdp_other", XDP_PASS);
	f.tc_fd = load(BPF_PROG_TYPE_SCHED_CLS, "tc_flow_egress", -1);
	if (!f.ifindex || f.xdp_fd < 0 || f.foreign_fd < 0 || f.tc_fd < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* deleting one end takes the pair, the clsact qdisc and whatever is attached */
	return system("ip link del fa0 2>/dev/null") ? 0 : 0;
}

static __u32 xdp_prog_id(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);

	assert_int_equal(bpf_xdp_query(ifindex, 0, &query), 0);
	return query.prog_id;
}

static bool our_clsact_filter(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 0xf10a, .priority = 0xf10a);

	return !bpf_tc_query(&hook, &opts);
}

static void test_links_attach_and_detach(void **state)
{
	struct fixture *f = *state;
	struct attach_interface iface;

	attach_interface_init(&iface, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&iface, f->xdp_fd, ATTACH_XDP_AUTO, false), 0);
	assert_int_equal(attach_tc_egress(&iface, f->tc_fd, false), 0);
	assert_int_equal(iface.xdp_how, ATTACH_LINK);
	assert_true(iface.xdp_native); /* veth at MTU 1500 has native XDP */
	assert_int_equal(iface.tc_how, ATTACH_LINK);
	assert_int_not_equal(xdp_prog_id(f->ifindex), 0);
	assert_false(our_clsact_filter(f->ifindex));
	attach_detach(&iface);
	assert_int_equal(xdp_prog_id(f->ifindex), 0);
	assert_int_equal(iface.xdp_link_fd, -1);
	assert_int_equal(iface.tc_link_fd, -1);
}

static void test_skb_mode_when_asked(void **state)
{
	struct fixture *f = *state;
	struct attach_interface iface;
	LIBBPF_OPTS(bpf_xdp_query_opts, query);

	attach_interface_init(&iface, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&iface, f->xdp_fd, ATTACH_XDP_SKB, false), 0);
	assert_false(iface.xdp_native);
	assert_int_equal(bpf_xdp_query(f->ifindex, 0, &query), 0);
	assert_int_equal(query.attach_mode, XDP_ATTACHED_SKB);
	attach_detach(&iface);
	assert_int_equal(xdp_prog_id(f->ifindex), 0);
}

static void test_legacy_attach_and_detach(void **state)
{
	struct fixture *f = *state;
	struct attach_interface iface;

	attach_interface_init(&iface, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&iface, f->xdp_fd, ATTACH_XDP_AUTO, true), 0);
	assert_int_equal(attach_tc_egress(&iface, f->tc_fd, true), 0);
	assert_int_equal(iface.xdp_how, ATTACH_LEGACY);
	assert_int_equal(iface.tc_how, ATTACH_LEGACY);
	assert_true(our_clsact_filter(f->ifindex));
	attach_detach(&iface);
	assert_int_equal(xdp_prog_id(f->ifindex), 0);
	assert_false(our_clsact_filter(f->ifindex));
}

/* A killed legacy run: its programs stay; the next run (links) removes both first. */
static void test_killed_legacy_run_is_cleared(void **state)
{
	struct fixture *f = *state;
	struct attach_interface killed, next;

	attach_interface_init(&killed, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&killed, f->xdp_fd, ATTACH_XDP_AUTO, true), 0);
	assert_int_equal(attach_tc_egress(&killed, f->tc_fd, true), 0);
	killed.xdp_how = killed.tc_how = ATTACH_NONE; /* as if the process died */

	attach_interface_init(&next, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&next, f->xdp_fd, ATTACH_XDP_AUTO, false), 0);
	assert_int_equal(next.xdp_how, ATTACH_LINK);
	assert_int_equal(attach_tc_egress(&next, f->tc_fd, false), 0);
	assert_int_equal(next.tc_how, ATTACH_LINK);
	/* the old filter would meter egress a second time */
	assert_false(our_clsact_filter(f->ifindex));
	attach_detach(&next);
	assert_int_equal(xdp_prog_id(f->ifindex), 0);
}

/* Two agents on one interface: the second cannot take the hook the first holds by link. */
static void test_hook_held_by_a_link_is_refused(void **state)
{
	struct fixture *f = *state;
	struct attach_interface first, second;
	__u32 id;

	attach_interface_init(&first, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&first, f->xdp_fd, ATTACH_XDP_AUTO, false), 0);
	id = xdp_prog_id(f->ifindex);
	attach_interface_init(&second, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&second, f->xdp_fd, ATTACH_XDP_AUTO, false), -EBUSY);
	assert_int_equal(xdp_prog_id(f->ifindex), id);
	attach_detach(&second); /* nothing of its own: the first keeps its program */
	assert_int_equal(xdp_prog_id(f->ifindex), id);
	attach_detach(&first);
	assert_int_equal(xdp_prog_id(f->ifindex), 0);
}

static void test_foreign_program_left_alone(void **state)
{
	struct fixture *f = *state;
	struct attach_interface iface;
	__u32 id;

	assert_int_equal(bpf_xdp_attach(f->ifindex, f->foreign_fd, XDP_FLAGS_SKB_MODE, NULL), 0);
	id = xdp_prog_id(f->ifindex);
	attach_interface_init(&iface, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&iface, f->xdp_fd, ATTACH_XDP_AUTO, false), -EBUSY);
	assert_int_equal(attach_xdp(&iface, f->xdp_fd, ATTACH_XDP_AUTO, true), -EBUSY);
	assert_int_equal(xdp_prog_id(f->ifindex), id);
	assert_int_equal(bpf_xdp_detach(f->ifindex, XDP_FLAGS_SKB_MODE, NULL), 0);
}

/* The interface went away: forget releases the links without asking the kernel for more. */
static void test_forget_after_interface_gone(void **state)
{
	struct fixture *f = *state;
	struct attach_interface iface;

	attach_interface_init(&iface, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&iface, f->xdp_fd, ATTACH_XDP_AUTO, false), 0);
	assert_int_equal(attach_tc_egress(&iface, f->tc_fd, false), 0);
	assert_int_equal(system("ip link del fa0"), 0);
	attach_forget(&iface);
	assert_int_equal(iface.xdp_how, ATTACH_NONE);
	assert_int_equal(iface.xdp_link_fd, -1);
	assert_int_equal(system("ip link add fa0 type veth peer name fa1 && ip link set fa0 up && "
				"ip link set fa1 up"),
			 0);
	f->ifindex = (int)if_nametoindex("fa0");
	attach_interface_init(&iface, "fa0", f->ifindex);
	assert_int_equal(attach_xdp(&iface, f->xdp_fd, ATTACH_XDP_AUTO, false), 0);
	attach_detach(&iface);
}

static int fresh_pair(void **state)
{
	struct fixture *f = *state;

	if (system("ip link del fa0 2>/dev/null; ip link add fa0 type veth peer name fa1 && "
		   "ip link set fa0 up && ip link set fa1 up"))
		return -1;
	f->ifindex = (int)if_nametoindex("fa0");
	return f->ifindex ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_links_attach_and_detach, fresh_pair),
		cmocka_unit_test_setup(test_skb_mode_when_asked, fresh_pair),
		cmocka_unit_test_setup(test_legacy_attach_and_detach, fresh_pair),
		cmocka_unit_test_setup(test_killed_legacy_run_is_cleared, fresh_pair),
		cmocka_unit_test_setup(test_hook_held_by_a_link_is_refused, fresh_pair),
		cmocka_unit_test_setup(test_foreign_program_left_alone, fresh_pair),
		cmocka_unit_test_setup(test_forget_after_interface_gone, fresh_pair),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_attach: needs root (a network namespace, BPF); skipped\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
