/*
 * ds-init: what a session of the emulator's namespace tier keeps running besides its kernel, in two places:
 * pid 1 of the session (it reaps every process that ends in the session, and exits with the kernel) and the
 * process outside the session's pid namespace that the emulator holds a pidfd of (it waits for pid 1). Both used
 * to stay Python processes forked from the template, each keeping 1.4-1.8 MB of pages of its own; exec'ing this
 * instead keeps a few hundred KB. It runs with the rights, limits and seccomp filter its caller already had.
 *
 * Usage: ds-init PID. Waits for every child; exits when PID ends, with PID's exit status (128+n... as Python's
 * os.waitstatus_to_exitcode(status) & 0xFF: the exit code, or 256 - the signal). Exits 0 when no child is left.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    if (argc != 2) return 70;
    char *end;
    long target = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || target <= 0) return 70;
    for (;;) {
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        if (pid == (pid_t)target) {
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return (256 - WTERMSIG(status)) & 0xFF;
        }
    }
}
