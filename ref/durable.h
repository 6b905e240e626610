/* durable: the two primitives of writes that must survive a crash (CFG-3,
 * ARCH-3): writing a whole buffer to an fd, and an fsync of a directory
 * (making the entries created in it durable). Stateless; errno is kept
 * from the failing call. */
#ifndef IMREF_DURABLE_H
#define IMREF_DURABLE_H

#include <stddef.h>

/* write(2) until all of data is written (EINTR retried); 0 or -1. */
int durable_write_all(int fd, const char *data, size_t len);

/* fsync of the directory `dir`; 0 or -1. */
int durable_sync_dir(const char *dir);

/* fsync of the directory holding `path` ("." for a bare name); 0 or -1. */
int durable_sync_parent(const char *path);

#endif
