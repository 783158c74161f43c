/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Attaching the programs to an interface: XDP on ingress and TC on egress.
 *
 * Both go through BPF links where the kernel has them (XDP links since 5.9, TCX since 6.6):
 * a link belongs to the file descriptor that holds it, so the kernel detaches the program
 * when the agent exits, however it exits, and a restart after a crash finds nothing left
 * behind. Without links, XDP goes through netlink and TC through a clsact filter, and both
 * must be detached explicitly. Every path needs only CAP_NET_ADMIN once the programs are
 * loaded.
 */
#ifndef FLOWAGENT_ATTACH_H
#define FLOWAGENT_ATTACH_H

#include <stdbool.h>

enum attach_xdp_mode {
	ATTACH_XDP_AUTO = 0, /* native, falling back to generic (SKB) mode with a warning */
	ATTACH_XDP_NATIVE,
	ATTACH_XDP_SKB,
};

enum attach_how {
	ATTACH_NONE = 0,
	ATTACH_LINK,   /* a BPF link: XDP link, or TCX for TC */
	ATTACH_LEGACY, /* netlink for XDP, a clsact filter for TC */
};

struct attach_interface {
	const char *name;
	int ifindex;
	enum attach_how xdp_how;
	bool xdp_native;
	int xdp_link_fd;
	int xdp_prog_fd; /* not owned: the netlink detach removes only this program */
	enum attach_how tc_how;
	int tc_link_fd;
	bool tc_hook_created; /* a clsact qdisc of ours, removed with our filter */
};

/* The interface's fields before its first attach. */
void attach_interface_init(struct attach_interface *iface, const char *name, int ifindex);

/*
 * Attaches the XDP program. A flowagent program a killed run left attached through netlink is
 * replaced; another program on the hook is refused (-EBUSY) with its id. legacy forces netlink.
 */
int attach_xdp(struct attach_interface *iface, int prog_fd, enum attach_xdp_mode mode, bool legacy);

/* Attaches the TC egress program through TCX, or (legacy, or an older kernel) clsact. */
int attach_tc_egress(struct attach_interface *iface, int prog_fd, bool legacy);

/* Detaches whatever of ours is attached; safe to call when nothing is. */
void attach_detach(struct attach_interface *iface);

/*
 * The interface went away and the kernel removed our programs with it: release what this
 * process holds for them, without asking the kernel to detach anything.
 */
void attach_forget(struct attach_interface *iface);

/* "native" or "generic (SKB)", and "BPF link" or "netlink": for the log. */
const char *attach_xdp_describe(const struct attach_interface *iface);
const char *attach_tc_describe(const struct attach_interface *iface);

#endif
