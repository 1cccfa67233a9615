/*
 * Runs code that is meant to end the process (an abort on a bug or out of memory) in a forked
 * child, so that a test can check how it ended and what it said on stderr.
 */
#ifndef SLUICE_TEST_CHILD_H
#define SLUICE_TEST_CHILD_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Calls fn(arg) in a child whose stderr goes to `said` (NUL-terminated, truncated to size - 1
 * bytes); a child that returns from fn exits 0. Returns the child's wait status, or -1 when
 * the child could not be started. */
static inline int run_in_child(void (*fn)(void *arg), void *arg, char *said, size_t size)
{
    int err[2];
    said[0] = '\0';
    if (pipe(err) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(err[0]);
        close(err[1]);
        return -1;
    }
    if (pid == 0) {
        close(err[0]);
        dup2(err[1], 2);
        fn(arg);
        _exit(0);
    }
    close(err[1]);
    /* read to the end even past `size`: a child blocked on a full pipe would never exit */
    size_t len = 0;
    char buf[4096];
    ssize_t n;
    while ((n = read(err[0], buf, sizeof(buf))) > 0) {
        size_t take = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;
        memcpy(said + len, buf, take);
        len += take;
    }
    said[len] = '\0';
    close(err[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
}

/* 1 when fn(arg), run in a child, ends it with SIGABRT after writing something that contains
 * `said` on stderr ("" for anything); else 0, and what did happen is printed. */
static inline int aborts_saying(void (*fn)(void *arg), void *arg, const char *said)
{
    char text[2048];
    int status = run_in_child(fn, arg, text, sizeof(text));
    if (status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(text, said) != NULL)
        return 1;
    fprintf(stderr, "expected an abort saying \"%s\"; wait status %d, stderr: %s\n", said, status, text);
    return 0;
}

#endif
