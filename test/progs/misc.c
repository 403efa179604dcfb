/*
 * misc: sets up kernel objects whose state a restart must rebuild, counts
 * until it finds itself restored, and then checks each of them.
 *
 *   misc [selftest]
 *
 * Setup, before "ready" (any failure: "FAIL setup ..." and exit 2):
 *   memfd          memfd_create("misc-memfd"): 200000 bytes of a known pattern
 *   deleted-file   deleted.dat in the cwd, opened O_APPEND, 20000 bytes
 *                  written, then unlinked while open
 *   signalfd       SIGUSR1 blocked and read through a signalfd
 *   timerfd        a 10 ms periodic timerfd that is never read before phase
 *                  2: it holds unread ticks at the checkpoint
 *   timerfd-armed  a timerfd first due 2 s after setup, then every 50 ms
 *   posix-timer    timer_create(CLOCK_MONOTONIC), SIGUSR2 with value 4242
 *                  every 20 ms; a handler counts
 *   itimer         ITIMER_REAL every 20 ms; a SIGALRM handler counts
 *   pending-shared SIGRTMIN blocked and sigqueue()d to the process twice,
 *                  with values 1111 and 2222
 *   pending-thread SIGRTMIN+1 blocked and queued to this thread
 *                  (rt_tgsigqueueinfo) with value 3333
 *   caps           CAP_NET_RAW dropped from the bounding set and CAP_MKNOD
 *                  from the effective set (needs root)
 *
 * Then "tick N" every 20 ms, N = 1, 2, ... Phase 2 starts when the parent
 * pid changes (the process was restored under cr_restart) or, with
 * selftest, after tick 10. It prints "phase2 ppid P", then one line per
 * check, "OK NAME detail" or "FAIL NAME detail", for the names above and
 * memfd-append and deleted-file-append (the files still take writes). The
 * signalfd check waits up to 5 s for a SIGUSR1 sent from outside and
 * reports its sender: "OK signalfd SIGUSR1 from pid P". The last line is
 * "done OK n FAIL m"; the exit status is 0 if nothing failed, 1 otherwise.
 * Every line is flushed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000L /* nanoseconds */

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (fflush(stdout) != 0) {
		perror("misc: write");
		exit(1);
	}
}

static void setup_fail(const char *what)
{
	out("FAIL setup %s: %s\n", what, strerror(errno));
	exit(2);
}

static int nok, nfail;

static void check(int ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void check(int ok, const char *name, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	out("%s %s %s\n", ok ? "OK" : "FAIL", name, buf);
	if (ok)
		nok++;
	else
		nfail++;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * MS };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------
 * Files whose contents live only in the kernel (and, after a checkpoint, in
 * the image). want is what the file must hold: it lives in our memory.
 */

struct shadow {
	int fd;
	char *want;
	size_t len, cap;
};

static void sh_init(struct shadow *s, int fd)
{
	s->fd = fd;
	s->cap = 1 << 20;
	s->len = 0;
	s->want = malloc(s->cap);
	if (s->want == NULL)
		setup_fail("malloc");
}

/* sh_write writes at the fd's offset (the end) and records what it wrote. */
static int sh_write(struct shadow *s, const void *p, size_t n)
{
	if (s->len + n > s->cap)
		return 0; /* enough */
	const char *c = p;
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(s->fd, c + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	memcpy(s->want + s->len, p, n);
	s->len += n;
	return 1;
}

/* sh_verify reads the whole file back with pread from 0; on a mismatch it
 * says what differs in why. */
static int sh_verify(struct shadow *s, char *why, size_t whylen)
{
	struct stat st;
	if (fstat(s->fd, &st) != 0) {
		snprintf(why, whylen, "fstat: %s", strerror(errno));
		return 0;
	}
	if ((size_t)st.st_size != s->len) {
		snprintf(why, whylen, "size %lld, want %zu", (long long)st.st_size, s->len);
		return 0;
	}
	char *got = malloc(s->len + 1);
	if (got == NULL) {
		snprintf(why, whylen, "malloc");
		return 0;
	}
	size_t done = 0;
	while (done < s->len) {
		ssize_t r = pread(s->fd, got + done, s->len - done, (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(why, whylen, "pread at %zu: %s", done, r < 0 ? strerror(errno) : "end of file");
			free(got);
			return 0;
		}
		done += (size_t)r;
	}
	for (size_t i = 0; i < s->len; i++) {
		if (got[i] != s->want[i]) {
			snprintf(why, whylen, "byte %zu is 0x%02x, want 0x%02x", i, (unsigned char)got[i],
				 (unsigned char)s->want[i]);
			free(got);
			return 0;
		}
	}
	free(got);
	off_t pos = lseek(s->fd, 0, SEEK_CUR);
	if (pos != (off_t)s->len) {
		snprintf(why, whylen, "offset %lld, want %zu (the end)", (long long)pos, s->len);
		return 0;
	}
	snprintf(why, whylen, "%zu bytes match, offset at the end", s->len);
	return 1;
}

/* fdflags checks an fd's status flags and close-on-exec bit. */
static int fdflags(int fd, int want, int mask, int cloexec, char *why, size_t whylen)
{
	int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
	if (fl < 0 || fdf < 0) {
		snprintf(why, whylen, "fd %d: fcntl: %s", fd, strerror(errno));
		return 0;
	}
	if ((fl & mask) != want || !!(fdf & FD_CLOEXEC) != cloexec) {
		snprintf(why, whylen, "fd %d: flags 0%o cloexec %d, want 0%o (of 0%o) cloexec %d", fd, fl & mask,
			 !!(fdf & FD_CLOEXEC), want, mask, cloexec);
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------------
 * /proc/self/status
 */

static int status_field(const char *key, char *val, size_t len)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return 0;
	char line[512];
	size_t kl = strlen(key);
	int found = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			char *v = line + kl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			v[strcspn(v, "\n")] = 0;
			snprintf(val, len, "%s", v);
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static uint64_t status_mask(const char *key)
{
	char v[64];
	if (!status_field(key, v, sizeof v))
		return 0;
	return strtoull(v, NULL, 16);
}

static uint64_t sigbit(int sig) { return 1ULL << (sig - 1); }

static const char *capkeys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
static char capsBefore[5][64];

static int read_caps(char caps[5][64])
{
	for (int i = 0; i < 5; i++)
		if (!status_field(capkeys[i], caps[i], 64))
			return 0;
	return 1;
}

static int capget2(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return (int)syscall(SYS_capget, &hdr, d);
}

/* ------------------------------------------------------------------------
 * Signals.
 */

static volatile sig_atomic_t nUsr2, nAlrm, usr2Value, usr2Code;

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	nUsr2++;
	usr2Value = si->si_value.sival_int;
	usr2Code = si->si_code;
}

static void on_alrm(int sig)
{
	(void)sig;
	nAlrm++;
}

/* take dequeues one pending sig without waiting: the signal, or -1. */
static int take(int sig, siginfo_t *si)
{
	sigset_t set;
	struct timespec zero = { 0, 0 };
	sigemptyset(&set);
	sigaddset(&set, sig);
	for (;;) {
		memset(si, 0, sizeof *si);
		int r = sigtimedwait(&set, si, &zero);
		if (r < 0 && errno == EINTR)
			continue;
		return r;
	}
}

static double ts(struct timespec t) { return t.tv_sec + t.tv_nsec / 1e9; }

/* ------------------------------------------------------------------------
 */

int main(int argc, char **argv)
{
	int selftest = argc > 1 && strcmp(argv[1], "selftest") == 0;
	char why[512];

	/* caps: a smaller bounding set and effective set than root's. */
	if (prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) != 0)
		setup_fail("prctl(PR_CAPBSET_DROP, CAP_NET_RAW) (run as root)");
	struct __user_cap_data_struct cd[2];
	if (capget2(cd) != 0)
		setup_fail("capget");
	if (!(cd[0].permitted & (1u << CAP_MKNOD)))
		setup_fail("CAP_MKNOD is not permitted (run as root)");
	cd[0].effective &= ~(1u << CAP_MKNOD);
	{
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		if (syscall(SYS_capset, &hdr, cd) != 0)
			setup_fail("capset");
	}
	if (!read_caps(capsBefore))
		setup_fail("Cap* in /proc/self/status");

	/* memfd */
	struct shadow mem, del;
	int mfd = memfd_create("misc-memfd", MFD_CLOEXEC);
	if (mfd < 0)
		setup_fail("memfd_create");
	sh_init(&mem, mfd);
	{
		static char pat[200000];
		uint32_t x = 2463534242u;
		for (size_t i = 0; i < sizeof pat; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			pat[i] = (char)x;
		}
		if (sh_write(&mem, pat, sizeof pat) != 1)
			setup_fail("write memfd");
	}

	/* a deleted file */
	int dfd = open("deleted.dat", O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (dfd < 0)
		setup_fail("open deleted.dat");
	sh_init(&del, dfd);
	for (int i = 0; del.len < 20000; i++) {
		char line[64];
		int n = snprintf(line, sizeof line, "deleted line %d\n", i);
		if (sh_write(&del, line, (size_t)n) != 1)
			setup_fail("write deleted.dat");
	}
	if (unlink("deleted.dat") != 0)
		setup_fail("unlink deleted.dat");

	/* blocked signals: SIGUSR1 for the signalfd, the queued RT signals */
	int rt0 = SIGRTMIN, rt1 = SIGRTMIN + 1;
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, rt0);
	sigaddset(&block, rt1);
	if (sigprocmask(SIG_BLOCK, &block, NULL) != 0)
		setup_fail("sigprocmask");
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	int sfd = signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		setup_fail("signalfd");
	union sigval sv;
	sv.sival_int = 1111;
	if (sigqueue(getpid(), rt0, sv) != 0)
		setup_fail("sigqueue 1111");
	sv.sival_int = 2222;
	if (sigqueue(getpid(), rt0, sv) != 0)
		setup_fail("sigqueue 2222");
	{
		siginfo_t si;
		memset(&si, 0, sizeof si);
		si.si_signo = rt1;
		si.si_code = SI_QUEUE;
		si.si_pid = getpid();
		si.si_uid = getuid();
		si.si_value.sival_int = 3333;
		if (syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), rt1, &si) != 0)
			setup_fail("rt_tgsigqueueinfo 3333");
	}
	if (!(status_mask("ShdPnd") & sigbit(rt0)) || !(status_mask("SigPnd") & sigbit(rt1))) {
		errno = 0;
		setup_fail("SIGRTMIN in ShdPnd and SIGRTMIN+1 in SigPnd");
	}

	/* timerfds */
	int tfa = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	int tfb = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfa < 0 || tfb < 0)
		setup_fail("timerfd_create");
	struct itimerspec its = { { 0, 10 * MS }, { 0, 10 * MS } };
	if (timerfd_settime(tfa, 0, &its, NULL) != 0)
		setup_fail("timerfd_settime 10 ms");
	struct itimerspec itb = { { 0, 50 * MS }, { 2, 0 } };
	if (timerfd_settime(tfb, 0, &itb, NULL) != 0)
		setup_fail("timerfd_settime 2 s");

	/* a POSIX timer and an itimer, each counted by a handler */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	if (sigaction(SIGUSR2, &sa, NULL) != 0)
		setup_fail("sigaction SIGUSR2");
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alrm;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		setup_fail("sigaction SIGALRM");
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR2;
	sev.sigev_value.sival_int = 4242;
	timer_t timer;
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0)
		setup_fail("timer_create");
	struct itimerspec pit = { { 0, 20 * MS }, { 0, 20 * MS } };
	if (timer_settime(timer, 0, &pit, NULL) != 0)
		setup_fail("timer_settime");
	struct itimerval itv = { { 0, 20000 }, { 0, 20000 } };
	if (setitimer(ITIMER_REAL, &itv, NULL) != 0)
		setup_fail("setitimer");

	out("ready\n");

	pid_t ppid0 = getppid();
	int bEarly = 0;
	for (long n = 1;; n++) {
		if (getppid() != ppid0 || (selftest && n > 10))
			break;
		uint64_t v;
		if (read(tfb, &v, sizeof v) == sizeof v)
			bEarly = 1;
		out("tick %ld\n", n);
		sleep_ms(20);
	}

	/* Phase 2. */
	out("phase2 ppid %d\n", (int)getppid());
	double deadline = now() + 5;

	/* memfd */
	{
		char link[256], path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
		ssize_t l = readlink(path, link, sizeof link - 1);
		link[l < 0 ? 0 : l] = 0;
		int ok = sh_verify(&mem, why, sizeof why);
		if (ok && strcmp(link, "/memfd:misc-memfd (deleted)") != 0) {
			ok = 0;
			snprintf(why, sizeof why, "fd %d is %s, want /memfd:misc-memfd (deleted)", mfd, link);
		}
		if (ok && !fdflags(mfd, O_RDWR, O_ACCMODE | O_APPEND, 1, why, sizeof why))
			ok = 0;
		check(ok, "memfd", "%s", why);
	}

	/* the deleted file */
	{
		int ok = sh_verify(&del, why, sizeof why);
		if (ok && access("deleted.dat", F_OK) == 0) {
			ok = 0;
			snprintf(why, sizeof why, "deleted.dat exists again in the cwd");
		}
		if (ok && !fdflags(dfd, O_RDWR | O_APPEND, O_ACCMODE | O_APPEND, 1, why, sizeof why))
			ok = 0;
		check(ok, "deleted-file", "%s", why);
	}

	/* pending signals */
	{
		siginfo_t a, b, c;
		int inShd = !!(status_mask("ShdPnd") & sigbit(rt0));
		int r1 = take(rt0, &a), r2 = take(rt0, &b), r3 = take(rt0, &c);
		int ok = inShd && r1 == rt0 && a.si_value.sival_int == 1111 && a.si_code == SI_QUEUE &&
			 a.si_pid == getpid() && r2 == rt0 && b.si_value.sival_int == 2222 && r3 < 0;
		check(ok, "pending-shared",
		      "in ShdPnd %d; SIGRTMIN values %d (code %d pid %d), %d; then %s", inShd,
		      r1 == rt0 ? a.si_value.sival_int : -1, a.si_code, (int)a.si_pid,
		      r2 == rt0 ? b.si_value.sival_int : -1, r3 < 0 ? "none" : "one more");

		int inPnd = !!(status_mask("SigPnd") & sigbit(rt1));
		r1 = take(rt1, &a);
		r2 = take(rt1, &b);
		ok = inPnd && r1 == rt1 && a.si_value.sival_int == 3333 && a.si_code == SI_QUEUE && r2 < 0;
		check(ok, "pending-thread", "in SigPnd %d; SIGRTMIN+1 value %d (code %d); then %s", inPnd,
		      r1 == rt1 ? a.si_value.sival_int : -1, a.si_code, r2 < 0 ? "none" : "one more");
	}

	/* capabilities */
	{
		char caps[5][64];
		int ok = read_caps(caps);
		why[0] = 0;
		for (int i = 0; ok && i < 5; i++) {
			if (strcmp(caps[i], capsBefore[i]) != 0) {
				ok = 0;
				snprintf(why, sizeof why, "%s %s, was %s", capkeys[i], caps[i], capsBefore[i]);
			}
		}
		int bnd = prctl(PR_CAPBSET_READ, CAP_NET_RAW, 0, 0, 0);
		if (ok && bnd != 0) {
			ok = 0;
			snprintf(why, sizeof why, "prctl(PR_CAPBSET_READ, CAP_NET_RAW) = %d, want 0", bnd);
		}
		struct __user_cap_data_struct d[2];
		if (ok && capget2(d) != 0) {
			ok = 0;
			snprintf(why, sizeof why, "capget: %s", strerror(errno));
		}
		if (ok && ((d[0].effective & (1u << CAP_MKNOD)) || !(d[0].permitted & (1u << CAP_MKNOD)))) {
			ok = 0;
			snprintf(why, sizeof why, "CAP_MKNOD effective %d permitted %d, want 0 1",
				 !!(d[0].effective & (1u << CAP_MKNOD)), !!(d[0].permitted & (1u << CAP_MKNOD)));
		}
		if (ok)
			snprintf(why, sizeof why, "CapEff %s CapBnd %s, no CAP_NET_RAW in the bounding set", caps[2],
				 caps[3]);
		check(ok, "caps", "%s", why);
	}

	/* timer settings */
	struct itimerspec pcur, acur, bcur;
	struct itimerval icur;
	int pget = timer_gettime(timer, &pcur);
	int iget = getitimer(ITIMER_REAL, &icur);
	int aget = timerfd_gettime(tfa, &acur);
	int bget = timerfd_gettime(tfb, &bcur);
	char pwhy[256] = "", iwhy[256] = "", awhy[256] = "", bwhy[256] = "";
	if (pget != 0)
		snprintf(pwhy, sizeof pwhy, "timer_gettime: %s", strerror(errno));
	else if (pcur.it_interval.tv_sec != 0 || pcur.it_interval.tv_nsec != 20 * MS)
		snprintf(pwhy, sizeof pwhy, "timer_gettime interval %.9f, want 0.020", ts(pcur.it_interval));
	if (iget != 0)
		snprintf(iwhy, sizeof iwhy, "getitimer: %s", strerror(errno));
	else if (icur.it_interval.tv_sec != 0 || icur.it_interval.tv_usec != 20000 ||
		 (icur.it_value.tv_sec == 0 && icur.it_value.tv_usec == 0))
		snprintf(iwhy, sizeof iwhy, "getitimer interval %ld.%06ld value %ld.%06ld, want interval 0.020000 and armed",
			 (long)icur.it_interval.tv_sec, (long)icur.it_interval.tv_usec, (long)icur.it_value.tv_sec,
			 (long)icur.it_value.tv_usec);
	if (aget != 0)
		snprintf(awhy, sizeof awhy, "timerfd_gettime: %s", strerror(errno));
	else if (acur.it_interval.tv_sec != 0 || acur.it_interval.tv_nsec != 10 * MS)
		snprintf(awhy, sizeof awhy, "timerfd_gettime interval %.9f value %.9f, want interval 0.010",
			 ts(acur.it_interval), ts(acur.it_value));
	if (bEarly)
		snprintf(bwhy, sizeof bwhy, "it fired before phase 2 (the checkpoint came more than 2 s after setup)");
	else if (bget != 0)
		snprintf(bwhy, sizeof bwhy, "timerfd_gettime: %s", strerror(errno));
	else if (bcur.it_interval.tv_sec != 0 || bcur.it_interval.tv_nsec != 50 * MS || ts(bcur.it_value) <= 0 ||
		 ts(bcur.it_value) > 2)
		snprintf(bwhy, sizeof bwhy, "timerfd_gettime interval %.9f value %.9f, want 0.050 and (0, 2]",
			 ts(bcur.it_interval), ts(bcur.it_value));
	double bDue = ts(bcur.it_value);

	/* flags that, lost, would make the reads below block */
	{
		int ok = fdflags(sfd, O_NONBLOCK, O_NONBLOCK, 1, why, sizeof why) &&
			 fdflags(tfa, O_NONBLOCK, O_NONBLOCK, 1, why, sizeof why) &&
			 fdflags(tfb, O_NONBLOCK, O_NONBLOCK, 1, why, sizeof why);
		if (!ok) {
			check(0, "fd-flags", "%s", why);
			fcntl(sfd, F_SETFL, O_NONBLOCK);
			fcntl(tfa, F_SETFL, O_NONBLOCK);
			fcntl(tfb, F_SETFL, O_NONBLOCK);
		}
	}

	/* the ticks the timerfd held at the checkpoint: read first, no waiting */
	uint64_t aKept = 0, aMore = 0, bTicks = 0;
	int aErr = 0;
	{
		uint64_t v;
		ssize_t r = read(tfa, &v, sizeof v);
		if (r == sizeof v)
			aKept = v;
		else
			aErr = errno;
	}

	/* What happens from now on. */
	sigset_t mask;
	sigprocmask(SIG_SETMASK, NULL, &mask);
	int usr1Blocked = sigismember(&mask, SIGUSR1);
	int usr1From = 0, gotUsr1 = 0;
	long usr2Base = nUsr2, alrmBase = nAlrm;
	usr2Value = 0;
	usr2Code = 0;
	int appendErr = 0;
	for (int i = 0;; i++) {
		char line[64];
		int n = snprintf(line, sizeof line, "append %d\n", i);
		if (sh_write(&mem, line, (size_t)n) < 0 || sh_write(&del, line, (size_t)n) < 0)
			appendErr = errno;

		struct pollfd p[3] = { { sfd, POLLIN, 0 }, { tfa, POLLIN, 0 }, { tfb, POLLIN, 0 } };
		if (poll(p, 3, 20) < 0 && errno != EINTR) {
			check(0, "poll", "%s", strerror(errno));
			break;
		}
		struct signalfd_siginfo ssi;
		while (read(sfd, &ssi, sizeof ssi) == sizeof ssi) {
			if (ssi.ssi_signo == SIGUSR1 && !gotUsr1) {
				gotUsr1 = 1;
				usr1From = (int)ssi.ssi_pid;
			}
		}
		uint64_t v;
		if (read(tfa, &v, sizeof v) == sizeof v)
			aMore += v;
		if (read(tfb, &v, sizeof v) == sizeof v)
			bTicks += v;
		int done = gotUsr1 && aMore >= 3 && bTicks >= 3 && nUsr2 - usr2Base >= 5 && usr2Value != 0 &&
			   nAlrm - alrmBase >= 5;
		if (done || now() > deadline)
			break;
	}

	check(usr1Blocked && gotUsr1, "signalfd", "SIGUSR1 %s%s%d (SIGUSR1 %s)",
	      gotUsr1 ? "from pid" : "not read in 5 s", gotUsr1 ? " " : "", gotUsr1 ? usr1From : 0,
	      usr1Blocked ? "blocked" : "NOT blocked");
	check(aget == 0 && !awhy[0] && aKept >= 1 && aMore >= 3, "timerfd",
	      "%s%s%llu ticks were waiting, %llu more since", awhy, awhy[0] ? "; " : "",
	      (unsigned long long)aKept, (unsigned long long)aMore);
	if (aErr && aKept == 0)
		out("  (the first read of the timerfd: %s)\n", strerror(aErr));
	check(!bwhy[0] && bTicks >= 3, "timerfd-armed", "%s%sdue in %.3f s at phase 2, %llu ticks since", bwhy,
	      bwhy[0] ? "; " : "", bDue, (unsigned long long)bTicks);
	check(!pwhy[0] && nUsr2 - usr2Base >= 5 && usr2Value == 4242 && usr2Code == SI_TIMER, "posix-timer",
	      "%s%s%ld SIGUSR2 since phase 2, last value %d code %d", pwhy, pwhy[0] ? "; " : "",
	      (long)(nUsr2 - usr2Base), (int)usr2Value, (int)usr2Code);
	check(!iwhy[0] && nAlrm - alrmBase >= 5, "itimer", "%s%s%ld SIGALRM since phase 2", iwhy, iwhy[0] ? "; " : "",
	      (long)(nAlrm - alrmBase));

	int ok = !appendErr && sh_verify(&mem, why, sizeof why);
	check(ok, "memfd-append", "%s", appendErr ? strerror(appendErr) : why);
	ok = !appendErr && sh_verify(&del, why, sizeof why);
	check(ok, "deleted-file-append", "%s", appendErr ? strerror(appendErr) : why);

	out("done OK %d FAIL %d\n", nok, nfail);
	return nfail ? 1 : 0;
}
