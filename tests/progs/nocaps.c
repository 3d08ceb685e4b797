// SPDX-License-Identifier: GPL-2.0
/*
 * nocaps: run a command as the current user (root in the guest) with every
 * capability dropped -- effective, permitted, inheritable and the bounding
 * set -- so a test can tell a file mode check from a capable() check.
 *
 *   nocaps PROG [ARGS...]
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int cap;

	if (argc < 2) {
		fprintf(stderr, "usage: nocaps PROG [ARGS...]\n");
		return 2;
	}
	for (cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) {
			perror("nocaps: PR_CAPBSET_DROP");
			return 1;
		}
	}
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data)) {
		perror("nocaps: capset");
		return 1;
	}
	execvp(argv[1], argv + 1);
	perror("nocaps: exec");
	return 127;
}
