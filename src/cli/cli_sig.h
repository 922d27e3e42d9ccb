/*
 * cli_sig.h - Ctrl-C for long subcommands (index, locate, eval): the first
 * SIGINT/SIGTERM asks the library to stop at its next progress callback, so
 * the work committed so far is kept and a rerun resumes; a second one kills
 * the process as usual.
 *
 *     cli_sig_install();
 *     opts.progress = cli_sig_progress;      // draws the bar too
 *     opts.progress_user = &bar;             // a cli_progress
 *     rc = long_call(...);
 *     if (rc == TG_ECANCEL && cli_sig_interrupted()) ...
 *
 * Header-only (static): each command is its own translation unit and only one
 * command runs per process.
 */
#ifndef TG_CLI_SIG_H
#define TG_CLI_SIG_H

#include <signal.h>
#include <string.h>

#include "cli.h"

static volatile sig_atomic_t cli_sig_flag;

static void cli_sig_handler(int sig)
{
    cli_sig_flag = 1;
    signal(sig, SIG_DFL); /* a second signal ends the process */
}

static inline void cli_sig_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli_sig_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static inline int cli_sig_interrupted(void)
{
    return cli_sig_flag != 0;
}

/* A tg_progress_fn: 0 (cancel) after a signal, else draws the cli_progress bar. */
static inline int cli_sig_progress(double done, double total, const char *msg, void *user)
{
    if (cli_sig_flag) return 0;
    return cli_progress_cb(done, total, msg, user);
}

#endif /* TG_CLI_SIG_H */
