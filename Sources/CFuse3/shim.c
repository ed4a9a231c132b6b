#include "CFuse3.h"

struct fuse_args CFuse3_args_init(int argc, char **argv) {
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    return args;
}
