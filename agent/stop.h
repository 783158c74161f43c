/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's one signal policy. SIGINT, SIGTERM and SIGHUP stop gracefully: stop reading,
 * export what was read, flush or spool Kafka, detach, print the summary. While Kafka is
 * flushed at exit, one more signal says what the agent waits for, and another one stops
 * waiting (what is left is spooled, or counted as dropped).
 *
 * Replay from standard input fed by a pipe keeps reading after a first SIGINT, to the end of
 * the input: Ctrl-C in `tcpdump -w - | flowagent --replay -` stops tcpdump too, which then
 * writes its last packets and closes the pipe. A second signal, or SIGTERM or SIGHUP, stops
 * reading at once.
 */
#ifndef FLOWAGENT_STOP_H
#define FLOWAGENT_STOP_H

/* Installs the handlers (without SA_RESTART, so that waits wake up) and ignores SIGPIPE. */
void stop_signals_install(void);
/* Replay from a pipe: a first SIGINT lets the input run to its end. */
void stop_keep_reading_on_sigint(int keep);
/* Stop signals received so far. */
int stop_signal_count(void);
/* The first of them, for messages. */
int stop_first_signal(void);
/* Input must stop now (readers poll this while they wait for data). */
int stop_input_now(void);

#endif
