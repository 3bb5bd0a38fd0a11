/*
 * exec-probe PATH...: measures whether and how fast each PATH can be executed, without running any
 * of its code (for the exec-guard's test and benchmark).
 *
 * For each path: fork; the child asks to be traced (PTRACE_TRACEME) and calls execve(path, {path},
 * {}). A successful execve stops the traced child with SIGTRAP before its first instruction, and the
 * parent kills it; a failed execve makes the child exit with the errno as its status. One line per
 * path on stdout: "<ok|EPERM|ENOENT|...>\t<microseconds from fork to the stop or exit>\t<path>".
 * Exit status 0 when every line was written, 1 on a setup failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *path = argv[i];
    long long start = now_us();
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "exec-probe: fork: %s\n", strerror(errno));
      return 1;
    }
    if (pid == 0) {
      if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) _exit(255);
      char *child_argv[] = {(char *)path, NULL};
      char *child_envp[] = {NULL};
      execve(path, child_argv, child_envp);
      _exit(errno > 0 && errno < 255 ? errno : 254);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) {
      fprintf(stderr, "exec-probe: waitpid: %s\n", strerror(errno));
      return 1;
    }
    long long took = now_us() - start;
    char outcome[32];
    if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP) {
      snprintf(outcome, sizeof outcome, "ok");
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 255) {
      snprintf(outcome, sizeof outcome, "EPTRACE"); /* PTRACE_TRACEME refused (e.g. seccomp/yama) */
    } else if (WIFEXITED(status)) {
      const char *name = strerrorname_np(WEXITSTATUS(status));
      snprintf(outcome, sizeof outcome, "%s", name ? name : "EUNKNOWN");
    } else {
      snprintf(outcome, sizeof outcome, "signal%d", WIFSIGNALED(status) ? WTERMSIG(status) : WSTOPSIG(status));
    }
    if (WIFSTOPPED(status)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    printf("%s\t%lld\t%s\n", outcome, took, path);
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
