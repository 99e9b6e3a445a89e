/*
 * reaper: run one program as a child subreaper.
 *
 * libvirtd daemonizes QEMU, so a QEMU process's parent is whichever process reaps orphans.
 * When that is a slow PID 1, every destroy and every outgoing migration waits for it. This
 * wrapper marks itself a subreaper, reaps every orphan as soon as it exits, forwards
 * SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to the program and exits with its status.
 *
 * Usage: reaper PROGRAM [ARG...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child = 0;

static void forward(int sig)
{
    if (child > 0)
        kill(child, sig);
}

int main(int argc, char **argv)
{
    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    if (argc < 2) {
        fprintf(stderr, "usage: reaper PROGRAM [ARG...]\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("reaper: prctl(PR_SET_CHILD_SUBREAPER)");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaction(forwarded[i], &sa, NULL);

    pid_t pid = fork();
    if (pid < 0) {
        perror("reaper: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        fprintf(stderr, "reaper: cannot run %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    child = pid;

    int status = 0;
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break; /* ECHILD: nothing left */
        }
        if (w == pid) {
            status = st;
            while (waitpid(-1, NULL, WNOHANG) > 0) {
            }
            break;
        }
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}
