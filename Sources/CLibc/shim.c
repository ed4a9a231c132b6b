#define _GNU_SOURCE
#include "CLibc.h"
#include <fcntl.h>
#include <malloc.h>

int CLibc_return_large_blocks(void) {
    // Setting M_MMAP_THRESHOLD explicitly also turns off its dynamic adjustment.
    return mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

int CLibc_o_direct(void) {
    return O_DIRECT;
}
