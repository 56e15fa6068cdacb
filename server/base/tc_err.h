#ifndef TC_SERVER_BASE_TC_ERR_H
#define TC_SERVER_BASE_TC_ERR_H

/* tcluster's own error codes. Functions return 0 or a negative errno; codes
 * that errno cannot say live below TC_ERR_BASE so one tc_strerror() names
 * both kinds. LMDB and nng codes are converted where those libraries are
 * called, nowhere else. */
#define TC_ERR_BASE    (-5000)
#define TC_ELOCKED     (TC_ERR_BASE - 1) /* data-dir held by another process */
#define TC_ECORRUPT    (TC_ERR_BASE - 2) /* store file is damaged or not ours */
#define TC_ESCHEMA     (TC_ERR_BASE - 3) /* store written by a newer schema */
#define TC_EFOREIGN    (TC_ERR_BASE - 4) /* store belongs to another node name */
#define TC_EFULL       (TC_ERR_BASE - 5) /* store map is full */
#define TC_ECONFIG     (TC_ERR_BASE - 6) /* configuration is invalid */
#define TC_EUNKNOWN_DN (TC_ERR_BASE - 7) /* DN is not in the directory */
#define TC_ESTALE      (TC_ERR_BASE - 8) /* a newer version is already held */
#define TC_ESTORE      (TC_ERR_BASE - 9) /* the data-dir cannot be used (cause logged) */

/* Return a static, human-readable description of err (negative errno or a
 * TC_E* code). Any thread. Never NULL. */
const char *tc_strerror(int err);

#endif
