// CFuse3: the libfuse3 low-level API for Swift (FuseKit is its only user).
#ifndef CFUSE3_H
#define CFUSE3_H
#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>

/// FUSE_ARGS_INIT is a macro; this is the same as a function.
struct fuse_args CFuse3_args_init(int argc, char **argv);

#endif
