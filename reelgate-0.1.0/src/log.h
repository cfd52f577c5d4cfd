/*
 * log: one line per event, key=value, to stderr (the master points stderr at
 * the log file when it runs in the background).  Never pass a secret or a
 * whole request body.
 */
#ifndef REELGATE_LOG_H
#define REELGATE_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* log_set_role names the process in every line ("master", "worker"...). */
void log_set_role(const char *role);
void log_set_level(enum log_level level);
/* log_msg writes "ts=... level=... role=... pid=... event=<event> <fmt...>".
 * fmt continues the line with more key=value pairs; values that may hold
 * spaces must be quoted by the caller with log_quote. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* log_quote copies s into out (size n) as a quoted value with '"' and '\\'
 * and control characters escaped; returns out. */
const char *log_quote(const char *s, char *out, unsigned n);

#define log_error(ev, ...) log_msg(LOG_ERROR, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_msg(LOG_WARN, ev, __VA_ARGS__)
#define log_info(ev, ...) log_msg(LOG_INFO, ev, __VA_ARGS__)
#define log_debug(ev, ...) log_msg(LOG_DEBUG, ev, __VA_ARGS__)

#endif
