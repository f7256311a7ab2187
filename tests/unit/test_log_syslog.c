/*
 * test_log_syslog.c - the syslog client against a unix datagram socket of
 * the test, read as a syslog daemon reads it: the line format of syslog(3)
 * (priority of facility mail, time stamp, ident[pid]), one datagram per
 * line in order, hostile bytes escaped, buffered lines leaving only at a
 * flush, a warning leaving at once; a syslog daemon that stops reading
 * loses no line and keeps the order (backpressure); one that is gone has
 * its lost lines counted and reported once it is back.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rcptguard/log.h"

static char dir[48], path[80];

/* bind_log - a syslog daemon's socket at path; rcvbuf small to make it fill fast. */
static int
bind_log(int rcvbuf)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return fd;
}

/* next - one datagram within ms (NUL-terminated), or -1. */
static ssize_t
next(int fd, char *buf, size_t size, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return -1;
	if ((n = recv(fd, buf, size - 1, 0)) < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static int
setup(void **state)
{
	(void)state;
	rg_log_close();	/* nothing left over from a test that failed */
	snprintf(dir, sizeof(dir), "/tmp/rg-syslog-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/log", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

/* The line syslog(3) writes: "<22>Mmm dd hh:mm:ss ident[pid]: text". */
static void
test_format_and_order(void **state)
{
	char buf[4096], head[64];
	int fd = bind_log(0);

	(void)state;
	assert_int_equal(rg_log_set_syslog_socket(path), 0);
	rg_log_init("rcptguard-test", RG_LOG_SYSLOG);
	rg_log_info("first %d", 1);
	assert_true(next(fd, buf, sizeof(buf), 5000) > 0);
	snprintf(head, sizeof(head), " rcptguard-test[%ld]: first 1", (long)getpid());
	assert_memory_equal(buf, "<22>", 4);
	/* "Dec  4 21:37:52" between the priority and the ident. */
	assert_int_equal(buf[7], ' ');
	assert_int_equal(buf[10], ' ');
	assert_int_equal(buf[13], ':');
	assert_int_equal(buf[16], ':');
	assert_string_equal(buf + 19, head);

	/*
	 * Buffered: a few lines wait for the turn's flush; many leave in
	 * batches as they come (as the milter's threads need); all in order.
	 */
	rg_log_set_buffered(1);
	for (int i = 0; i < 30; i++)
		rg_log_info("line %d \x1b[2J\n", i);
	assert_int_equal(next(fd, buf, sizeof(buf), 100), -1);
	for (int i = 30; i < 300; i++)
		rg_log_info("line %d \x1b[2J\n", i);
	for (int i = 0; i < 300; i++) {
		char want[64];
		/*
		 * Each loop turn's flush sends what the socket takes (the kernel
		 * queues 10 datagrams by default); the rest waits for the next.
		 */
		rg_log_flush();
		assert_true(next(fd, buf, sizeof(buf), 5000) > 0);
		snprintf(want, sizeof(want), "]: line %d \\x1b[2J\\x0a", i);
		assert_non_null(strstr(buf, want));
		assert_null(strchr(buf, '\n'));
	}
	/* A warning does not wait for the turn's end; its priority is mail.warning. */
	rg_log_warn("careful");
	assert_true(next(fd, buf, sizeof(buf), 5000) > 0);
	assert_memory_equal(buf, "<20>", 4);
	assert_non_null(strstr(buf, "]: warning: careful"));
	rg_log_set_buffered(0);
	rg_log_close();
	close(fd);
}

struct reader {
	int	fd;
	int	n;
	int	in_order;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	char buf[4096];

	/* Start late: the writer meets a full socket first. */
	usleep(300000);
	while (next(r->fd, buf, sizeof(buf), 5000) > 0) {
		char want[32];
		snprintf(want, sizeof(want), "]: n=%d", r->n);
		if (strstr(buf, want) == NULL || strstr(buf, want)[strlen(want)] != '\0')
			r->in_order = 0;
		r->n++;
	}
	return NULL;
}

/* A syslog daemon that falls behind: nothing lost, nothing reordered. */
static void
test_backpressure(void **state)
{
	struct reader r = { .in_order = 1 };
	pthread_t t;

	(void)state;
	r.fd = bind_log(4096);
	assert_int_equal(rg_log_set_syslog_socket(path), 0);
	rg_log_init("rcptguard-test", RG_LOG_SYSLOG);
	rg_log_set_buffered(1);
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	for (int i = 0; i < 20000; i++) {
		rg_log_info("n=%d", i);
		if (i % 64 == 63)
			rg_log_flush();	/* a loop turn's end */
	}
	rg_log_set_buffered(0);	/* waits until the socket has taken the rest */
	pthread_join(t, NULL);
	rg_log_close();
	close(r.fd);
	assert_int_equal(r.n, 20000);
	assert_true(r.in_order);
}

/* A syslog daemon that is gone: the lines are counted, and said once it is back. */
static void
test_gone_and_back(void **state)
{
	char buf[4096];
	int fd = bind_log(0), got_report = 0, got_after = 0;

	(void)state;
	assert_int_equal(rg_log_set_syslog_socket(path), 0);
	rg_log_init("rcptguard-test", RG_LOG_SYSLOG);
	rg_log_info("before");
	assert_true(next(fd, buf, sizeof(buf), 5000) > 0);
	close(fd);
	unlink(path);
	for (int i = 0; i < 5; i++)
		rg_log_info("into the void %d", i);	/* refused: counted, never blocking */
	fd = bind_log(0);
	sleep(1);	/* a refused socket is asked again after a second */
	rg_log_info("after");
	while (next(fd, buf, sizeof(buf), 3000) > 0) {
		if (strstr(buf, "warning: 5 log lines were lost") != NULL ||
		    strstr(buf, "log lines were lost") != NULL)
			got_report = 1;
		if (strstr(buf, "]: after") != NULL)
			got_after = 1;
	}
	assert_true(got_report);
	assert_true(got_after);
	rg_log_close();
	close(fd);
	assert_int_equal(rg_log_set_syslog_socket(""), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_and_back, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
