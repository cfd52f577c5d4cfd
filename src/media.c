/*
 * media: ffprobe and ffmpeg run for a worker (media.h).  A child gets
 * /dev/null as stdin and stderr and a pipe as stdout; it is killed when it
 * outlives the time limit (20 s), and reaped either way.
 */
#include "media.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int media_timeout_ms = 20000;
#define MEDIA_OUT_MAX 4096

void media_set_timeout_ms(int ms)
{
	media_timeout_ms = ms > 0 ? ms : 20000;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* run_program runs argv, its stdout into out (NUL-terminated, cut at n-1
 * bytes); the exit status, or -1 when it could not run, was killed or
 * timed out. */
static int run_program(char *const *argv, char *out, size_t n)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		if (strchr(argv[0], '/') != NULL)
			execv(argv[0], argv);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	size_t got = 0;
	long long end = mono_ms() + media_timeout_ms;
	int timed_out = 0;
	for (;;) {
		long long left = end - mono_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd p = { fds[0], POLLIN, 0 };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			timed_out = r == 0;
			break;
		}
		char buf[1024];
		ssize_t k = read(fds[0], buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		size_t take = (size_t)k < n - 1 - got ? (size_t)k : n - 1 - got;
		memcpy(out + got, buf, take);
		got += take;
	}
	out[got] = '\0';
	close(fds[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (timed_out || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* ffprobe_of: the ffprobe beside ffmpeg ("/opt/ff/ffmpeg" gives
 * "/opt/ff/ffprobe"), else "ffprobe". */
static void ffprobe_of(const char *ffmpeg, char *out, size_t n)
{
	const char *slash = ffmpeg ? strrchr(ffmpeg, '/') : NULL;
	if (slash != NULL && strcmp(slash + 1, "ffmpeg") == 0)
		snprintf(out, n, "%.*sffprobe", (int)(slash + 1 - ffmpeg), ffmpeg);
	else
		snprintf(out, n, "ffprobe");
}

int media_probe(const char *ffmpeg, const char *path, struct media_info *out, char *why, size_t n)
{
	char probe[4096], text[MEDIA_OUT_MAX];
	ffprobe_of(ffmpeg, probe, sizeof(probe));
	char *argv[] = { probe,
			 "-v",
			 "error",
			 "-select_streams",
			 "v:0",
			 "-show_entries",
			 "stream=width,height:format=duration",
			 "-of",
			 "default=noprint_wrappers=1",
			 (char *)path,
			 NULL };
	memset(out, 0, sizeof(*out));
	if (run_program(argv, text, sizeof(text)) != 0) {
		snprintf(why, n, "the clip could not be decoded as a video");
		return -1;
	}
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "width=", 6) == 0)
			out->width = atoi(line + 6);
		else if (strncmp(line, "height=", 7) == 0)
			out->height = atoi(line + 7);
		else if (strncmp(line, "duration=", 9) == 0)
			out->seconds = strtod(line + 9, NULL);
	}
	if (out->width <= 0 || out->height <= 0) {
		snprintf(why, n, "the clip has no video stream");
		return -1;
	}
	if (!(out->seconds > 0)) {
		snprintf(why, n, "the clip's length cannot be read");
		return -1;
	}
	return 0;
}

int media_still(const char *ffmpeg, const char *path, const char *out_png)
{
	char text[256];
	char *argv[] = { (char *)(ffmpeg ? ffmpeg : "ffmpeg"),
			 "-nostdin",
			 "-v",
			 "error",
			 "-y",
			 "-i",
			 (char *)path,
			 "-frames:v",
			 "1",
			 "-f",
			 "image2",
			 "-c:v",
			 "png",
			 (char *)out_png,
			 NULL };
	if (run_program(argv, text, sizeof(text)) != 0) {
		unlink(out_png);
		return -1;
	}
	int fd = open(out_png, O_RDONLY | O_CLOEXEC);
	int rc = fd >= 0 ? fdatasync(fd) : -1;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(out_png);
	return rc;
}
