// CFuse3: the libfuse3 low-level API for Swift (FuseKit is its only user).
#ifndef CFUSE3_H
#define CFUSE3_H
#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>
#include <sys/xattr.h>

/// FUSE_ARGS_INIT is a macro; this is the same as a function.
struct fuse_args CFuse3_args_init(int argc, char **argv);

/// fuse_session_loop_mt is a versioned macro; runs the multi-threaded loop with at
/// most `max_threads` worker threads.
int CFuse3_session_loop_mt(struct fuse_session *se, unsigned int max_threads, int clone_fd);

/// Installs a handler that does nothing for `signum`, without SA_RESTART: delivered to
/// the thread waiting in the loop, it interrupts that wait (so an exited session ends).
int CFuse3_install_wake_handler(int signum);

/// fuse_lowlevel_notify_store of `size` bytes at `mem` (FUSE_BUFVEC_INIT is a macro):
/// the kernel puts them into `ino`'s page cache at `offset`. 0 or a negative errno.
int CFuse3_notify_store(struct fuse_session *se, fuse_ino_t ino, off_t offset, const void *mem, size_t size);

#endif
