/*
 * Shoal's containerd binary:// logger (see ../src/log-binary.ts for the protocol).
 *
 * The shim starts it with the URI's query as arguments (`out <path> err <path>`, in any
 * order), the process's stdout pipe on fd 3, its stderr pipe on fd 4, and a pipe on fd 5
 * that it reads until EOF before it starts the process. This program ignores SIGTERM (the
 * shim sends it on delete; both pipes are drained to EOF instead, so nothing written before
 * the exit is lost), then says "ready" (closes fd 5), and appends each stream to its file
 * with its own O_APPEND descriptor, one write per read, until both pipes are closed.
 *
 * One process, no shell and no children: it is started on every container start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int open_log(const char *path) {
  int fd;
  do fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* Writes all of buf; a failed write drops the rest of this chunk (the pipe is still drained). */
static void write_all(int fd, const char *buf, ssize_t n) {
  while (n > 0 && fd >= 0) {
    ssize_t w = write(fd, buf, (size_t)n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    buf += w;
    n -= w;
  }
}

int main(int argc, char **argv) {
  /* SIGTERM is ignored before "ready": from then on the shim may send it at any time. */
  signal(SIGTERM, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  close(5);
  const char *out = NULL, *err = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "out") == 0) out = argv[i + 1];
    else if (strcmp(argv[i], "err") == 0) err = argv[i + 1];
  }
  int dest[2] = {out ? open_log(out) : -1, err ? open_log(err) : -1};
  struct pollfd fds[2] = {{.fd = 3, .events = POLLIN}, {.fd = 4, .events = POLLIN}};
  static char buf[65536];
  int open_pipes = 2;
  while (open_pipes > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        write_all(dest[i], buf, n);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_pipes--;
      }
    }
  }
  return 0;
}
