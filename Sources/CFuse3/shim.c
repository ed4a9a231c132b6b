#include <signal.h>
#include <stddef.h>
#include <string.h>
#include "CFuse3.h"

static void CFuse3_wake(int signum) { (void)signum; }

int CFuse3_install_wake_handler(int signum) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = CFuse3_wake;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the interrupted wait returns EINTR */
    return sigaction(signum, &sa, NULL);
}

struct fuse_args CFuse3_args_init(int argc, char **argv) {
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    return args;
}

int CFuse3_session_loop_mt(struct fuse_session *se, unsigned int max_threads, int clone_fd) {
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    if (config == NULL) return -1;
    fuse_loop_cfg_set_clone_fd(config, clone_fd);
    fuse_loop_cfg_set_max_threads(config, max_threads);
    fuse_loop_cfg_set_idle_threads(config, max_threads / 2 + 1);
    int rc = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
    return rc;
}

int CFuse3_notify_store(struct fuse_session *se, fuse_ino_t ino, off_t offset, const void *mem, size_t size) {
    struct fuse_bufvec bufv = FUSE_BUFVEC_INIT(size);
    // fuse_buf.mem is not const, but a store only reads it (it is written to /dev/fuse).
    bufv.buf[0].mem = (void *)mem;
    return fuse_lowlevel_notify_store(se, ino, offset, &bufv, 0);
}
