// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Attaching the programs to an interface; see attach.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "log.h"

/* the kernel keeps BPF_OBJ_NAME_LEN - 1 = 15 characters of a program's name */
#define XDP_PROG_NAME "xdp_flow_ingress"
/* our filter on clsact egress; a restart finds and replaces its own */
#define TC_HANDLE   0xf10a
#define TC_PRIORITY 0xf10a
/* enum bpf_attach_type of Linux 6.6 (TCX): the build's headers may predate it */
#define ATTACH_BPF_TCX_EGRESS 47

void attach_interface_init(struct attach_interface *iface, const char *name, int ifindex)
{
	memset(iface, 0, sizeof(*iface));
	iface->name = name;
	iface->ifindex = ifindex;
	iface->xdp_link_fd = -1;
	iface->xdp_prog_fd = -1;
	iface->tc_link_fd = -1;
}

static __u32 xdp_mode_flag(bool native)
{
	return native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

/*
 * Whether program prog_id is flowagent's XDP program: 1 yes, 0 no, or a negative errno when
 * it cannot be told (finding a program by id takes CAP_SYS_ADMIN).
 */
static int xdp_prog_is_ours(__u32 prog_id, char *name, size_t name_len)
{
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(prog_id), err = 0;

	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		err = -errno;
	close(fd);
	if (err)
		return err;
	snprintf(name, name_len, "%s", info.name);
	return !strncmp(info.name, XDP_PROG_NAME, sizeof(info.name) - 1);
}

/*
 * A program already on the XDP hook in one mode. Ours, attached through netlink by a run that
 * was killed (a link would have gone with it), is removed; anything else is refused.
 */
static int xdp_clear_one(struct attach_interface *iface, __u32 prog_id, bool native)
{
	char name[32] = "";
	int ours = xdp_prog_is_ours(prog_id, name, sizeof(name)), err;

	if (ours < 0) {
		pr_warn("%s already carries an XDP program (id %u) that this process cannot "
			"identify without CAP_SYS_ADMIN (%s); if a flowagent killed on a kernel "
			"without XDP links left it, remove it with 'ip link set dev %s %s off'\n",
			iface->name, prog_id, strerror(-ours), iface->name,
			native ? "xdpdrv" : "xdpgeneric");
		return -EBUSY;
	}
	if (!ours) {
		pr_warn("%s already carries a foreign XDP program (%s, id %u); remove it first, "
			"for example with 'ip link set dev %s %s off'\n",
			iface->name, name, prog_id, iface->name, native ? "xdpdrv" : "xdpgeneric");
		return -EBUSY;
	}
	err = bpf_xdp_detach(iface->ifindex, xdp_mode_flag(native), NULL);
	if (err == -EBUSY) {
		/* held by a link: a flowagent that is still running */
		pr_warn("%s: another running flowagent holds its XDP program there (id %u)\n",
			iface->name, prog_id);
		return -EBUSY;
	}
	if (err) {
		pr_warn("%s: removing the XDP program a killed flowagent left attached (id %u) "
			"failed: %s\n",
			iface->name, prog_id, strerror(-err));
		return err;
	}
	pr_warn("%s: removed the XDP program a killed flowagent left attached (id %u)\n",
		iface->name, prog_id);
	return 0;
}

static int xdp_clear_stale(struct attach_interface *iface)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	int err = bpf_xdp_query(iface->ifindex, 0, &query);

	if (err) {
		pr_warn("%s: reading its XDP hook failed: %s\n", iface->name, strerror(-err));
		return err;
	}
	if (query.drv_prog_id && (err = xdp_clear_one(iface, query.drv_prog_id, true)))
		return err;
	if (query.skb_prog_id && (err = xdp_clear_one(iface, query.skb_prog_id, false)))
		return err;
	if (query.hw_prog_id) {
		pr_warn("%s already carries an offloaded XDP program (id %u); remove it first\n",
			iface->name, query.hw_prog_id);
		return -EBUSY;
	}
	return 0;
}

/* One attempt in one mode: a link unless legacy or the kernel has none, else netlink. */
static int xdp_attach_mode(struct attach_interface *iface, int prog_fd, bool native, bool legacy)
{
	int fd;

	if (!legacy) {
		LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xdp_mode_flag(native));

		fd = bpf_link_create(prog_fd, iface->ifindex, BPF_XDP, &opts);
		if (fd >= 0) {
			iface->xdp_how = ATTACH_LINK;
			iface->xdp_link_fd = fd;
			return 0;
		}
		/* a kernel before 5.9 does not know the attach type */
		if (fd != -EINVAL)
			return fd;
		pr_info("%s: this kernel has no XDP links; attaching through netlink\n",
			iface->name);
	}
	fd = bpf_xdp_attach(iface->ifindex, prog_fd,
			    XDP_FLAGS_UPDATE_IF_NOEXIST | xdp_mode_flag(native), NULL);
	if (fd)
		return fd;
	iface->xdp_how = ATTACH_LEGACY;
	iface->xdp_prog_fd = prog_fd;
	return 0;
}

int attach_xdp(struct attach_interface *iface, int prog_fd, enum attach_xdp_mode mode, bool legacy)
{
	int err = xdp_clear_stale(iface);

	if (err)
		return err;
	if (mode != ATTACH_XDP_SKB) {
		err = xdp_attach_mode(iface, prog_fd, true, legacy);
		if (!err) {
			iface->xdp_native = true;
			return 0;
		}
		if (mode == ATTACH_XDP_NATIVE || err == -EBUSY || err == -EEXIST) {
			pr_warn("%s: attaching XDP in native mode failed: %s\n", iface->name,
				strerror(-err));
			return err;
		}
		pr_warn("%s: native XDP failed (%s); using generic (SKB) mode, which is slower\n",
			iface->name, strerror(-err));
	}
	err = xdp_attach_mode(iface, prog_fd, false, legacy);
	if (err) {
		pr_warn("%s: attaching XDP failed: %s\n", iface->name, strerror(-err));
		return err;
	}
	iface->xdp_native = false;
	return 0;
}

/* Our clsact filter, left by a run that was killed or used clsact: removed before TCX. */
static void tc_clear_stale_filter(struct attach_interface *iface)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = iface->ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, stale, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	libbpf_print_fn_t previous;
	int err;

	/* the usual answer is "no such qdisc": libbpf would print the kernel's message for it */
	previous = libbpf_set_print(NULL);
	err = bpf_tc_query(&hook, &stale);
	libbpf_set_print(previous);
	if (err)
		return; /* no clsact qdisc, or no filter of ours on it */
	/* both would meter egress: every packet counted twice */
	stale.prog_fd = stale.prog_id = stale.flags = 0;
	err = bpf_tc_detach(&hook, &stale);
	if (err)
		pr_warn("%s: removing the TC filter a previous flowagent left on clsact failed: "
			"%s\n",
			iface->name, strerror(-err));
	else
		pr_warn("%s: removed the TC filter a previous flowagent left on clsact\n",
			iface->name);
}

static int tc_attach_clsact(struct attach_interface *iface, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = iface->ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY,
		    .flags = BPF_TC_F_REPLACE, .prog_fd = prog_fd);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pr_warn("%s: creating the clsact qdisc failed: %s\n", iface->name, strerror(-err));
		return err;
	}
	iface->tc_hook_created = !err;
	if (err == -EEXIST) {
		LIBBPF_OPTS(bpf_tc_opts, stale, .handle = TC_HANDLE, .priority = TC_PRIORITY);

		/* our filter from a killed run: that run made the qdisc, so this one removes it */
		if (!bpf_tc_query(&hook, &stale)) {
			pr_warn("%s: replacing the TC filter a killed flowagent left on clsact\n",
				iface->name);
			iface->tc_hook_created = true;
		}
	}
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		pr_warn("%s: attaching the TC egress program failed: %s\n", iface->name,
			strerror(-err));
		return err;
	}
	iface->tc_how = ATTACH_LEGACY;
	return 0;
}

int attach_tc_egress(struct attach_interface *iface, int prog_fd, bool legacy)
{
	int fd;

	if (legacy)
		return tc_attach_clsact(iface, prog_fd);
	tc_clear_stale_filter(iface);
	fd = bpf_link_create(prog_fd, iface->ifindex, ATTACH_BPF_TCX_EGRESS, NULL);
	if (fd >= 0) {
		iface->tc_how = ATTACH_LINK;
		iface->tc_link_fd = fd;
		return 0;
	}
	if (fd != -EINVAL) {
		pr_warn("%s: attaching the TC egress program (TCX) failed: %s\n", iface->name,
			strerror(-fd));
		return fd;
	}
	/* a kernel before 6.6 */
	pr_info("%s: this kernel has no TCX; attaching to the clsact qdisc\n", iface->name);
	return tc_attach_clsact(iface, prog_fd);
}

static void tc_detach_clsact(struct attach_interface *iface)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = iface->ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	int err = bpf_tc_detach(&hook, &opts);

	if (err)
		pr_warn("%s: detaching the TC program failed: %s\n", iface->name, strerror(-err));
	/* the qdisc goes only if we made it: someone else's filters may sit on it */
	if (iface->tc_hook_created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
}

static void xdp_detach_netlink(struct attach_interface *iface)
{
	/* only while it is still our program there: the kernel compares, atomically */
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = iface->xdp_prog_fd);
	int err = bpf_xdp_detach(iface->ifindex,
				 XDP_FLAGS_REPLACE | xdp_mode_flag(iface->xdp_native), &opts);

	if (err)
		pr_warn("%s: detaching XDP failed: %s\n", iface->name, strerror(-err));
}

void attach_detach(struct attach_interface *iface)
{
	if (iface->tc_how == ATTACH_LEGACY)
		tc_detach_clsact(iface);
	if (iface->xdp_how == ATTACH_LEGACY)
		xdp_detach_netlink(iface);
	/* a link detaches when its last descriptor closes */
	attach_forget(iface);
}

void attach_forget(struct attach_interface *iface)
{
	if (iface->xdp_link_fd >= 0)
		close(iface->xdp_link_fd);
	if (iface->tc_link_fd >= 0)
		close(iface->tc_link_fd);
	iface->xdp_link_fd = iface->tc_link_fd = -1;
	iface->xdp_how = iface->tc_how = ATTACH_NONE;
	iface->tc_hook_created = false;
}

const char *attach_xdp_describe(const struct attach_interface *iface)
{
	if (iface->xdp_how == ATTACH_LINK)
		return iface->xdp_native ? "native mode, BPF link" : "generic (SKB) mode, BPF link";
	return iface->xdp_native ? "native mode, netlink" : "generic (SKB) mode, netlink";
}

const char *attach_tc_describe(const struct attach_interface *iface)
{
	return iface->tc_how == ATTACH_LINK ? "TCX link" : "clsact filter";
}
