/*
 * replay: runs a fuzz target's LLVMFuzzerTestOneInput over saved inputs
 * without libFuzzer, so `make check` keeps every committed corpus file (and
 * every crash that was fixed) passing with the ordinary compiler.
 *
 * Usage: replay_<target> FILE|DIR...   (directories: their regular files,
 * not recursively; names starting with '.' are skipped).  A property the
 * target checks aborts the process; otherwise it prints how many inputs ran
 * and exits 0, or 1 when an input could not be read or none was given.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay_file runs one input; returns 0, or -1 if it could not be read. */
static int replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *data = malloc(cap);
	while (data != NULL) {
		len += fread(data + len, 1, cap - len, fp);
		if (len < cap)
			break;
		uint8_t *p = realloc(data, cap * 2);
		if (p == NULL) {
			free(data);
			data = NULL;
			break;
		}
		data = p;
		cap *= 2;
	}
	int failed = data == NULL || ferror(fp);
	fclose(fp);
	if (failed) {
		fprintf(stderr, "replay: %s: could not read\n", path);
		free(data);
		return -1;
	}
	/* An exact-size copy lets ASan catch reads past the input's end. */
	uint8_t *exact = malloc(len ? len : 1);
	if (exact == NULL) {
		free(data);
		return -1;
	}
	memcpy(exact, data, len);
	free(data);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

/* replay_dir runs every regular file in dir; returns the count or -1. */
static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	long n = 0;
	struct dirent *e;
	while (n >= 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		size_t len = strlen(dir) + strlen(e->d_name) + 2;
		char *path = malloc(len);
		if (path == NULL) {
			n = -1;
			break;
		}
		snprintf(path, len, "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			n = replay_file(path) == 0 ? n + 1 : -1;
		free(path);
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	long total = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			return 1;
		total += n;
	}
	printf("replayed %ld inputs\n", total);
	return total > 0 ? 0 : 1;
}
