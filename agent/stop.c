// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The agent's signal policy; see stop.h. */
#include <signal.h>
#include <string.h>

#include "stop.h"

static volatile sig_atomic_t signal_count;
static volatile sig_atomic_t first_signal;
static volatile sig_atomic_t input_stop;
static volatile sig_atomic_t keep_reading;

static void on_stop_signal(int sig)
{
	signal_count++;
	if (!first_signal)
		first_signal = sig;
	if (!keep_reading || sig != SIGINT || signal_count > 1)
		input_stop = 1;
}

void stop_signals_install(void)
{
	struct sigaction stop;

	memset(&stop, 0, sizeof(stop));
	stop.sa_handler = on_stop_signal;
	sigemptyset(&stop.sa_mask);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGHUP, &stop, NULL);
	/* a reader that goes away (| head) is a write error to handle, not a death */
	signal(SIGPIPE, SIG_IGN);
}

void stop_keep_reading_on_sigint(int keep)
{
	keep_reading = keep;
}

int stop_signal_count(void)
{
	return signal_count;
}

int stop_first_signal(void)
{
	return first_signal;
}

int stop_input_now(void)
{
	return input_stop;
}
