/* fsutil: confined file system access for the receiver, and atomic files.
 *
 * Every path from the wire is checked with proto_path_check() first, then
 * resolved beneath the receiving directory's fd without following any
 * symlink (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS,
 * or a component-by-component O_NOFOLLOW walk where openat2 is missing).
 * Temporary names share one prefix and suffix, so a reader knows what is
 * ktlscp's.  Small I/O helpers (write all, random bytes, hashing a range of
 * a file) live here too.  This is the lower layer: the receiver's rules for
 * when a file is written, kept or renamed are in store.c.
 */
#ifndef KTLSCP_FSUTIL_H
#define KTLSCP_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <gnutls/crypto.h>

#define FSU_TMP_PREFIX ".ktlscp-"
#define FSU_TMP_SUFFIX ".part"
#define FSU_TMPNAME_MAX 40

/* Open directory 'dir' (relative, already checked; "" means root itself)
 * beneath rootfd, creating missing components (mode 0777 & ~umask) when
 * create is true.  Never follows a symlink.  Returns an O_DIRECTORY fd or a
 * negative errno (ELOOP/ENOTDIR when a component is a symlink or a file). */
int fsu_open_dir_beneath(int rootfd, const char *dir, bool create);

/* Does this kernel (and seccomp policy) offer openat2(2), so paths are
 * resolved beneath DIR in one call rather than a component at a time? */
bool fsu_have_openat2(void);

/* Split a checked relative path into its parent ("" for top level) and last
 * component.  parent must hold at least strlen(path)+1 bytes.  Returns a
 * pointer to the last component inside path. */
const char *fsu_split(const char *path, char *parent);

/* Create a new temporary file in dirfd with a random name (written to name,
 * FSU_TMPNAME_MAX bytes), mode 0600.  Returns the fd or a negative errno. */
int fsu_tmp_create(int dirfd, char *name);

/* Create, at a new random temporary name in dirfd (written to name), a
 * symbolic link to symtarget, or when symtarget is NULL a hard link to
 * oldname in olddirfd (not followed if it is a symlink).  0 or -errno. */
int fsu_tmp_link(int dirfd, char *name, const char *symtarget, int olddirfd, const char *oldname);

/* Write all of buf to fd, retrying short writes and EINTR.  0 or -errno. */
int fsu_write_all(int fd, const void *buf, size_t len);

/* Feed len bytes of fd from off into h (pread, so the file offset does not
 * move).  0, or -errno (-EIO when the file ends first). */
int fsu_hash_range(int fd, uint64_t off, uint64_t len, gnutls_hash_hd_t h);

/* SHA-256 of the first len bytes of fd into out (32 bytes).  0 or -errno. */
int fsu_hash_prefix(int fd, uint64_t len, uint8_t *out);

/* Create dir (mode 0700) and its parents if missing; 0 or -errno. */
int fsu_mkdir_p(const char *dir, mode_t mode);

#endif
