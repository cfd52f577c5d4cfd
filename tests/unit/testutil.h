/* Shared helpers for the Check unit tests: a temporary directory per test. */
#ifndef REELGATE_TESTUTIL_H
#define REELGATE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *test_tmpdir(void)
{
	char tmpl[] = "/tmp/reelgate-unit-XXXXXX";
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

static inline void test_rmrf(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

#define RUN_SUITE(suite_fn)                                                                        \
	int main(void)                                                                             \
	{                                                                                          \
		SRunner *sr = srunner_create(suite_fn());                                          \
		srunner_run_all(sr, CK_NORMAL);                                                    \
		int failed = srunner_ntests_failed(sr);                                            \
		srunner_free(sr);                                                                  \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;                                       \
	}

#endif
