// The C source of Shoal's mount helper, kept here as text (not as a .c file beside the package)
// so that it travels inside a service's bundle; `ensureCompiledHelper` compiles it on a host.
export const MOUNT_HELPER_SOURCE = String.raw`/*
 * Shoal's mount helper: mount(2), umount2(2) and mount_setattr(2) for the agent, which runs on
 * Node (no binding for any). One long-lived process per agent instead of a mount(8) or umount(8) per call
 * (mount-helper.ts speaks to it;
 * create-host-os.ts maps its errors).
 *
 * Requests on stdin, one per line, fields separated by tabs (no field holds a tab or a newline):
 *   m <id> <source> <target> <fstype or -> <mountflags, decimal> <data or ->
 *   u <id> <target> <umount2 flags, decimal>
 *   s <id> <path> <attributes to set, decimal> <AT_* flags, decimal>   (mount_setattr(2))
 * One answer per request on stdout, in order:
 *   <id> 0                     done
 *   <id> <errno> <strerror>    refused by the kernel (or 22 for a malformed request)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

/* mount_setattr(2) through syscall(2): older C libraries have no wrapper, and their headers
 * disagree with <linux/mount.h>, so the struct is declared here with the kernel's layout. The
 * number is the same on every architecture that has it. */
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
struct shoal_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

#define MAX_FIELDS 7

int main(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    if (line[n - 1] == '\n') line[--n] = '\0';
    char *f[MAX_FIELDS];
    int k = 0;
    char *p = line;
    f[k++] = p;
    while (k < MAX_FIELDS && (p = strchr(p, '\t')) != NULL) {
      *p++ = '\0';
      f[k++] = p;
    }
    const char *id = k > 1 ? f[1] : "?";
    int rc;
    if (k == 7 && strcmp(f[0], "m") == 0) {
      const char *fstype = strcmp(f[4], "-") == 0 ? NULL : f[4];
      const char *data = strcmp(f[6], "-") == 0 ? NULL : f[6];
      rc = mount(f[2], f[3], fstype, strtoul(f[5], NULL, 10), data);
    } else if (k == 4 && strcmp(f[0], "u") == 0) {
      rc = umount2(f[2], (int)strtol(f[3], NULL, 10));
    } else if (k == 5 && strcmp(f[0], "s") == 0) {
      struct shoal_mount_attr attr = {.attr_set = strtoull(f[3], NULL, 10)};
      rc = (int)syscall(SYS_mount_setattr, AT_FDCWD, f[2], (unsigned int)strtoul(f[4], NULL, 10), &attr, sizeof attr);
    } else {
      printf("%s\t%d\tmalformed request\n", id, EINVAL);
      fflush(stdout);
      continue;
    }
    if (rc == 0) {
      printf("%s\t0\n", id);
    } else {
      int e = errno;
      printf("%s\t%d\t%s\n", id, e, strerror(e));
    }
    fflush(stdout);
  }
  free(line);
  return 0;
}
`;
