// libc settings Swift's Glibc module does not export.
#pragma once

/// Makes malloc give large blocks (128 KiB and up) their own mappings, returned to
/// the system at free, instead of glibc's default, which raises that threshold to
/// the size of each large block freed (up to 32 MiB) and from then on keeps such
/// blocks in its arenas, so the process's resident size outgrows what it uses.
/// Returns 0 on failure.
int CLibc_return_large_blocks(void);

/// O_DIRECT, which Glibc's Swift module hides behind _GNU_SOURCE (its value differs by
/// architecture).
int CLibc_o_direct(void);
