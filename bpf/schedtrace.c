/* schedtrace: run a command (or watch a process) under the schedlab eBPF
 * probes and write one JSON document about what the scheduler did to it.
 *
 * The probes are the table in probe_table.c (probe.h says what a probe
 * declares); each one's design is in the opening comment of its .bpf.c. The
 * document is described in docs/tracer.md and schemas/tracer.schema.json.
 *
 * Lifecycle (command mode): resolve the command, load and attach the probes,
 * fork a child that blocks on a pipe before exec, put its pid in `tracked`,
 * release it, wait for it (forwarding SIGINT/SIGTERM/SIGHUP/SIGQUIT), collect,
 * detach (on every path), exit with the command's status (128+N if killed by
 * signal N). Exit codes of its own: 2 bad input, 77 cannot trace here (no
 * root, no BTF, no probe attachable), 1 failed while running.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "docfile.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "probe.h"

#define EXIT_BAD_INPUT 2
#define EXIT_SKIP      77

static const char usage_text[] =
	"usage: schedtrace [OPTIONS] -- CMD [ARGS...]\n"
	"       schedtrace [OPTIONS] --pid PID [--duration SECONDS] [--interval SECONDS]\n"
	"\n"
	"Runs CMD under eBPF probes on the kernel scheduler (and io_uring, and the\n"
	"coroutine runtime's USDT probes), following its threads and descendants,\n"
	"and writes one JSON document. CMD's stdout and stderr pass through; the exit\n"
	"status is CMD's (128+N if a signal N killed it). Design: docs/tracer.md.\n"
	"\n"
	"  --json FILE          write the JSON document to FILE (def: a summary on stderr)\n"
	"  --events FILE        also write a per-event record stream (bpf/events.h) to\n"
	"                       FILE; off by default, it costs more\n"
	"  --probes LIST        comma-separated, of the probes below (def: the starred)\n"
	"  --list               the probes as JSON, and exit\n"
	"  --binary PATH        the executable whose USDT probes attach (def: CMD's own,\n"
	"                       or PID's); for a CMD that runs it, e.g. perf stat\n"
	"  --pid PID            trace a running process instead of a command\n"
	"  --duration SECONDS   with --pid: stop after this long (def: until it exits\n"
	"                       or SIGINT/SIGTERM)\n"
	"  --interval SECONDS   print a cumulative summary on stderr this often (def: off)\n"
	"  --max-threads N      rows kept for threads that ended (def: 65536)\n"
	"  --max-thread-rows N  per-thread rows written per process (def: 1024)\n"
	"  --events-kb N        ring buffer size for --events, KiB, power of 2 (def: 8192)\n"
	"  --cost               turn on the kernel's BPF run-time statistics for the run,\n"
	"                       so cost has the probes' run time (cost.method bpf_stats);\n"
	"                       they slow every BPF program run system-wide (about 8%%\n"
	"                       of a thread hand-off here). Default: cost has run counts\n"
	"                       from the probes' own counters and no run time\n"
	"                       (cost.method own_counts)\n"
	"  --no-cost            the default (kept for old scripts)\n"
	"  --clock rq|ktime|kernel|both\n"
	"                       where the sched probe's times come from: rq takes the\n"
	"                       scheduler's rq clock where it is fresh and reads the\n"
	"                       clock only around a wakeup that preempts, which leaves\n"
	"                       it stale (docs/tracer.md); ktime reads the clock at\n"
	"                       every switch and wakeup; kernel takes the rq clock and\n"
	"                       the kernel's run-queue accounting (no clock read; a wait\n"
	"                       that ends in a wakeup preemption reads short); both is\n"
	"                       ktime with the kernel's and rq's figures for the same\n"
	"                       events beside it (clock_check), to see the difference\n"
	"                       (def: ktime, the exact one)\n"
	"  --wake-sample N      with --clock ktime: time the run-queue wait of 1 wakeup\n"
	"                       in N (counts stay exact; the histogram says it was\n"
	"                       sampled and from how many waits) (def: 1, every one)\n"
	"  -v, --verbose        libbpf's messages\n"
	"  -h, --help           this text\n"
	"\n"
	"PROBES\n"
	"%s"
	"\n"
	"Exit status: CMD's; 2 bad input; 77 cannot trace here (needs root and BTF);\n"
	"1 the tracer failed while running.\n"
	"\n"
	"EXAMPLES\n"
	"  schedtrace --json t.json -- build/workload pingpong --model threads\n"
	"  schedtrace --probes sched,uring --json t.json -- build/workload echo --model uring\n"
	"  schedtrace --pid 1234 --duration 5 --interval 1\n";

static int bad_input(const char *fmt, const char *arg)
{
	fprintf(stderr, "schedtrace: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see --help)\n");
	return EXIT_BAD_INPUT;
}

/* "a, b, c": the probes --probes accepts, from the table */
static void selectable(char *buf, size_t len)
{
	buf[0] = '\0';
	for (int i = 0; probe_table[i]; i++)
		if (!probe_table[i]->always)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "",
				 probe_table[i]->name);
}

static void print_usage(void)
{
	char list[2048] = "";

	for (int i = 0; probe_table[i]; i++) {
		const struct probe_ops *p = probe_table[i];

		if (!p->always)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "  %-7s%c %s\n",
				 p->name, p->is_default ? '*' : ' ', p->summary);
	}
	printf(usage_text, list);
}

/* --list: the probes as JSON, like `workload --list` for tasks */
/* "attach": each program's attach point (its ELF section: "tp_btf/NAME" for a
 * tracepoint, "usdt" for a USDT probe attached at run time) and whether the
 * probe is unavailable without it, read from the object as built. */
static void list_attach(struct json *j, const struct probe_ops *p)
{
	struct bpf_program *prog;
	struct bpf_object *obj;
	const void *elf;
	size_t sz;

	json_arr_open(j, "attach");
	elf = p->elf_bytes ? p->elf_bytes(&sz) : NULL;
	obj = elf ? bpf_object__open_mem(elf, sz, NULL) : NULL;
	if (obj) {
		bpf_object__for_each_program(prog, obj)
		{
			json_obj_open(j, NULL);
			json_str(j, "program", bpf_program__name(prog));
			json_str(j, "section", bpf_program__section_name(prog));
			json_bool(j, "essential",
				  p->essential && !strcmp(p->essential, bpf_program__name(prog)));
			json_obj_close(j);
		}
		bpf_object__close(obj);
	}
	json_arr_close(j);
}

static void print_list(void)
{
	struct json j;

	json_init(&j, stdout);
	json_obj_open(&j, NULL);
	json_u64(&j, "schema", TRACE_SCHEMA);
	json_arr_open(&j, "probes");
	for (int i = 0; probe_table[i]; i++) {
		const struct probe_ops *p = probe_table[i];

		json_obj_open(&j, NULL);
		json_str(&j, "name", p->name);
		json_str(&j, "summary", p->summary);
		/* always: loaded whatever --probes says, not a --probes value */
		json_bool(&j, "selectable", !p->always);
		json_bool(&j, "default", p->is_default);
		json_bool(&j, "events", p->writes_events);
		json_arr_open(&j, "programs");
		for (unsigned r = 0; r < p->nruns; r++)
			json_str(&j, NULL, p->runs[r]);
		json_arr_close(&j);
		list_attach(&j, p);
		json_obj_close(&j);
	}
	json_arr_close(&j);
	json_obj_close(&j);
	fputc('\n', stdout);
}

static int parse_probes(const char *list, unsigned *out)
{
	char buf[256], known[256], *save = NULL;

	selectable(known, sizeof(known));
	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	*out = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int p;

		for (p = 0; probe_table[p]; p++)
			if (!probe_table[p]->always && !strcmp(tok, probe_table[p]->name))
				break;
		if (!probe_table[p]) {
			fprintf(stderr, "schedtrace: unknown probe '%s' (known: %s)\n", tok, known);
			return -EINVAL;
		}
		*out |= 1u << p;
	}
	if (!*out) {
		fprintf(stderr, "schedtrace: --probes needs at least one of %s\n", known);
		return -EINVAL;
	}
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (errno || end == s || *end || *out < 0) ? -EINVAL : 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max || s[0] == '-')
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Finds CMD like execvp would, so "not found" is bad input, found before
 * anything runs, and the USDT probe knows which binary to attach to. */
static int resolve_command(const char *cmd, char *out, size_t len)
{
	const char *path = getenv("PATH");
	struct stat st;

	if (strchr(cmd, '/')) {
		if (stat(cmd, &st) || !S_ISREG(st.st_mode) || access(cmd, X_OK))
			return -ENOENT;
		return realpath(cmd, out) ? 0 : -errno;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		char cand[PATH_MAX];

		snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, n ? path : ".", cmd);
		if (!stat(cand, &st) && S_ISREG(st.st_mode) && !access(cand, X_OK))
			return realpath(cand, out) ? 0 : -errno;
		path += n + (colon ? 1 : 0);
	}
	if (len)
		out[0] = '\0';
	return -ENOENT;
}

/* --clock, in the order of the sched probe's enum sched_clock */
static const char *const clock_names[] = {"ktime", "kernel", "both", "rq"};
enum { CLOCK_KTIME = 0, CLOCK_RQ = 3, CLOCK_NR = 4 };

/* Returns 0, an exit status (2) for bad input, -1 for --help, -2 for --list. */
static int parse_args(int argc, char **argv, struct trace_opts *o)
{
	enum {
		O_JSON = 256,
		O_EVENTS,
		O_PROBES,
		O_PID,
		O_DURATION,
		O_INTERVAL,
		O_MAX_THREADS,
		O_MAX_ROWS,
		O_EVENTS_KB,
		O_NO_COST,
		O_COST,
		O_CLOCK,
		O_WAKE_SAMPLE,
		O_LIST,
		O_BINARY
	};
	static const struct option longopts[] = {
		{"json", required_argument, NULL, O_JSON},
		{"events", required_argument, NULL, O_EVENTS},
		{"probes", required_argument, NULL, O_PROBES},
		{"pid", required_argument, NULL, O_PID},
		{"duration", required_argument, NULL, O_DURATION},
		{"interval", required_argument, NULL, O_INTERVAL},
		{"max-threads", required_argument, NULL, O_MAX_THREADS},
		{"max-thread-rows", required_argument, NULL, O_MAX_ROWS},
		{"events-kb", required_argument, NULL, O_EVENTS_KB},
		{"cost", no_argument, NULL, O_COST},
		{"clock", required_argument, NULL, O_CLOCK},
		{"wake-sample", required_argument, NULL, O_WAKE_SAMPLE},
		{"list", no_argument, NULL, O_LIST},
		{"binary", required_argument, NULL, O_BINARY},
		{"no-cost", no_argument, NULL, O_NO_COST},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned pid = 0;
	int c;

	o->probes = 0;
	for (int p = 0; probe_table[p]; p++)
		if (probe_table[p]->is_default)
			o->probes |= 1u << p;
	o->max_threads = 65536;
	o->max_thread_rows = 1024;
	o->events_kb = 8192;
	o->cost = false;
	o->wake_sample = 1;
	o->clock = CLOCK_NR; /* not given */
	opterr = 0;
	/* "+": stop at the first non-option, which must follow "--" */
	while ((c = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
		switch (c) {
		case O_JSON:
			o->json_path = optarg;
			break;
		case O_EVENTS:
			o->events_path = optarg;
			break;
		case O_PROBES:
			if (parse_probes(optarg, &o->probes))
				return EXIT_BAD_INPUT;
			break;
		case O_PID:
			if (parse_uint(optarg, 1u << 30, &pid))
				return bad_input("--pid: '%s' is not a process id", optarg);
			o->pid = (pid_t)pid;
			break;
		case O_DURATION:
			if (parse_double(optarg, &o->duration_s))
				return bad_input("--duration: '%s' is not a number of seconds",
						 optarg);
			break;
		case O_INTERVAL:
			if (parse_double(optarg, &o->interval_s))
				return bad_input("--interval: '%s' is not a number of seconds",
						 optarg);
			break;
		case O_MAX_THREADS:
			if (parse_uint(optarg, 1u << 22, &o->max_threads))
				return bad_input("--max-threads: '%s' is not in 1..4194304",
						 optarg);
			break;
		case O_MAX_ROWS:
			if (parse_uint(optarg, 1u << 22, &o->max_thread_rows))
				return bad_input("--max-thread-rows: '%s' is not in 1..4194304",
						 optarg);
			break;
		case O_EVENTS_KB:
			if (parse_uint(optarg, 1u << 20, &o->events_kb) ||
			    (o->events_kb & (o->events_kb - 1)) || o->events_kb < 4)
				return bad_input("--events-kb: '%s' is not a power of 2 >= 4",
						 optarg);
			break;
		case O_NO_COST:
			o->cost = false;
			break;
		case O_COST:
			o->cost = true;
			break;
		case O_CLOCK:
			for (o->clock = 0; o->clock < CLOCK_NR; o->clock++)
				if (!strcmp(optarg, clock_names[o->clock]))
					break;
			if (o->clock == CLOCK_NR)
				return bad_input("--clock: '%s' is not ktime, rq, kernel or both",
						 optarg);
			break;
		case O_LIST:
			return -2;
		case O_BINARY:
			if (resolve_command(optarg, o->exe_path, sizeof(o->exe_path))) {
				fprintf(stderr, "schedtrace: --binary %s: not found\n", optarg);
				return EXIT_BAD_INPUT;
			}
			break;
		case O_WAKE_SAMPLE:
			if (parse_uint(optarg, 1u << 20, &o->wake_sample))
				return bad_input("--wake-sample: '%s' is not in 1..1048576",
						 optarg);
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			return -1;
		default:
			return bad_input("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	/* --wake-sample saves clock reads at wakeups: only ktime has them */
	if (o->clock == CLOCK_NR)
		o->clock = CLOCK_KTIME;
	if (o->wake_sample > 1 && o->clock != CLOCK_KTIME)
		return bad_input("%s", "--wake-sample needs --clock ktime (the other clocks read "
				       "no clock at a wakeup: nothing to save)");
	if (o->pid && o->exe_path[0])
		return bad_input("%s", "--binary and --pid exclude each other (--pid attaches to "
				       "the process's own executable)");
	if (o->pid) {
		if (optind < argc)
			return bad_input("--pid and a command exclude each other: '%s'",
					 argv[optind]);
		return 0;
	}
	if (o->duration_s > 0)
		return bad_input("%s", "--duration needs --pid (a command runs until it ends)");
	if (optind >= argc || strcmp(argv[optind - 1], "--")) {
		if (optind < argc)
			return bad_input("missing `--` before the command '%s'", argv[optind]);
		return bad_input("%s", "missing `-- CMD` (or --pid PID)");
	}
	o->cmd = &argv[optind];
	if (resolve_command(o->cmd[0], o->cmd_path, sizeof(o->cmd_path))) {
		fprintf(stderr, "schedtrace: %s: command not found\n", o->cmd[0]);
		return EXIT_BAD_INPUT;
	}
	if (!o->exe_path[0])
		snprintf(o->exe_path, sizeof(o->exe_path), "%s", o->cmd_path);
	return 0;
}

/* What makes tracing impossible here, as a one-line reason; NULL if none. */
static const char *cannot_trace(void)
{
	if (geteuid() != 0)
		return "needs root (CAP_BPF and CAP_PERFMON) to load BPF programs; run as root";
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return "needs kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y)";
	return NULL;
}

static pid_t tgid_of(pid_t pid)
{
	char path[64], line[128];
	pid_t tgid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

/* Forks CMD blocked on a pipe: it execs only after trace_release(). */
static int spawn_stopped(struct tracer *t, const sigset_t *oldmask, int *go_fd, int *err_fd)
{
	pid_t tracer = getpid(), pid;
	int go[2], ep[2];

	if (pipe2(go, O_CLOEXEC))
		return -errno;
	if (pipe2(ep, O_CLOEXEC)) {
		int err = -errno;

		close(go[0]);
		close(go[1]);
		return err;
	}
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(go[0]);
		close(go[1]);
		close(ep[0]);
		close(ep[1]);
		return err;
	}
	if (pid == 0) {
		char c = 0;
		ssize_t n;
		int e;

		sigprocmask(SIG_SETMASK, oldmask, NULL);
		/* the command dies with the tracer, however the tracer ends
		 * (kill -9 included): never a command running untraced, nor
		 * one left behind; getppid() closes the window before prctl */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != tracer)
			_exit(127);
		close(go[1]);
		close(ep[0]);
		prctl(PR_SET_NAME, TRACE_HELD_COMM); /* exec names it CMD */
		do
			n = read(go[0], &c, 1);
		while (n < 0 && errno == EINTR);
		/* the tracer gave up before releasing us: do not run untraced */
		if (n != 1 || c != 'g')
			_exit(127);
		execv(t->opts.cmd_path, t->opts.cmd);
		e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(ep[1]);
	t->root = pid;
	*go_fd = go[1];
	*err_fd = ep[0];
	return 0;
}

static int print_summary_now(struct tracer *t)
{
	struct trace_data d;
	int err;

	t->end_ns = now_ns();
	err = trace_collect(t, &d);
	if (!err)
		trace_print_summary(t, &d, stderr);
	trace_data_free(t, &d);
	return err;
}

static bool forwardable(const struct signalfd_siginfo *si)
{
	/* SI_KERNEL: a terminal's ^C or hangup, which already reached the
	 * command's process group; forwarding would deliver it twice */
	return si->ssi_code != SI_KERNEL;
}

/* Waits for the root (command mode) or the end of the watch (--pid);
 * drains events and prints interval summaries meanwhile. */
static int wait_loop(struct tracer *t, int sfd, int pidfd)
{
	uint64_t deadline =
		t->opts.duration_s > 0 ? t->start_ns + (uint64_t)(t->opts.duration_s * 1e9) : 0;
	uint64_t interval_ns = (uint64_t)(t->opts.interval_s * 1e9);
	uint64_t next_summary = interval_ns ? t->start_ns + interval_ns : 0;
	struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
	bool ticking = trace_tick(t);
	int err;

	for (;;) {
		uint64_t now = now_ns(), wake = 0;
		int timeout = -1, n;

		if (deadline && now >= deadline)
			return 0;
		if (next_summary && now >= next_summary) {
			if ((err = print_summary_now(t)))
				return err;
			next_summary += interval_ns;
		}
		if (deadline)
			wake = deadline;
		if (next_summary && (!wake || next_summary < wake))
			wake = next_summary;
		if (wake)
			timeout = (int)((wake - now) / 1000000) + 1;
		/* the ring buffer does not wake us; ticking probes need a beat */
		if ((t->rb || ticking) && (timeout < 0 || timeout > 50))
			timeout = 50;
		n = poll(fds, pidfd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		if ((err = trace_events_drain(t)))
			return err;
		trace_tick(t);
		if (pidfd >= 0 && (fds[1].revents & POLLIN))
			return 0; /* --pid: the process ended */
		if (n > 0 && (fds[0].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGCHLD) {
				pid_t r = t->opts.pid ? 0
						      : wait4(t->root, &t->wait_status, WNOHANG,
							      &t->rusage);

				if (r == t->root) {
					t->exited = true;
					return 0;
				}
				continue;
			}
			if (t->opts.pid)
				return 0; /* --pid: a signal ends the watch */
			if (forwardable(&si))
				kill(t->root, (int)si.ssi_signo);
		}
	}
}

int main(int argc, char **argv)
{
	struct tracer t = {
		.stats_fd = -1, .root = -1, .events_fd = -1, .tracked_fd = -1, .bloom_fd = -1};
	struct trace_data d = {};
	sigset_t mask, oldmask;
	const char *why;
	struct docfile json = {};
	bool json_open = false;
	int go_fd = -1, err_fd = -1, sfd = -1, pidfd = -1;
	int status = 1, err;
	bool mask_set = false;

	err = parse_args(argc, argv, &t.opts);
	if (err == -1)
		print_usage();
	if (err == -2)
		print_list();
	if (err < 0)
		return 0;
	if (err)
		return err;
	for (int p = 0; probe_table[p] && p < PROBES_MAX; p++) {
		t.probe[p].ops = probe_table[p];
		t.probe[p].wanted = probe_table[p]->always || (t.opts.probes & (1u << p));
		t.nprobes++;
	}

	if (t.opts.pid) {
		t.root = tgid_of(t.opts.pid);
		if (t.root < 0) {
			fprintf(stderr, "schedtrace: --pid %d: no such process\n", t.opts.pid);
			return EXIT_BAD_INPUT;
		}
	}
	why = cannot_trace();
	if (why) {
		fprintf(stderr, "schedtrace: %s\n", why);
		return EXIT_SKIP;
	}
	if (t.opts.json_path) {
		err = docfile_open(&json, t.opts.json_path);
		if (err) {
			fprintf(stderr, "schedtrace: --json %s: %s\n", t.opts.json_path,
				strerror(-err));
			return EXIT_BAD_INPUT;
		}
		json_open = true;
	}

	/* Signals arrive through a signalfd, so the loop can forward them and
	 * still reach cleanup; the child restores the old mask before exec. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask)) {
		fprintf(stderr, "schedtrace: sigprocmask: %s\n", strerror(errno));
		goto cleanup;
	}
	mask_set = true;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "schedtrace: signalfd: %s\n", strerror(errno));
		goto cleanup;
	}

	if ((err = trace_events_create(&t)))
		goto cleanup;
	err = trace_probes_open(&t);
	if (err) {
		/* EPERM here: lockdown or a seccomp/LSM policy, not a bug */
		status = (err == -EPERM || err == -EACCES || err == -ENOENT || err == -EOPNOTSUPP)
				 ? EXIT_SKIP
				 : 1;
		goto cleanup;
	}
	{
		bool any = false;

		for (int p = 0; p < t.nprobes; p++)
			any |= t.probe[p].attached && !t.probe[p].ops->always;
		if (!any) {
			fprintf(stderr,
				"schedtrace: none of the requested probes could be attached\n");
			status = EXIT_SKIP;
			goto cleanup;
		}
	}

	if (t.opts.pid) {
		pidfd = syscall(SYS_pidfd_open, t.root, 0);
		if (pidfd < 0) {
			fprintf(stderr, "schedtrace: pidfd_open %d: %s\n", t.root, strerror(errno));
			status = errno == ESRCH ? EXIT_BAD_INPUT : 1;
			goto cleanup;
		}
		err = trace_follow(&t, t.root);
	} else {
		err = spawn_stopped(&t, &oldmask, &go_fd, &err_fd);
		if (err) {
			fprintf(stderr, "schedtrace: fork: %s\n", strerror(-err));
			goto cleanup;
		}
		err = trace_follow(&t, t.root);
	}
	if (err) {
		fprintf(stderr, "schedtrace: track pid %d: %s\n", t.root, strerror(-err));
		goto cleanup;
	}
	if ((err = trace_events_open(&t)))
		goto cleanup;

	t.start_ns = now_ns();
	if (!t.opts.pid) {
		int e = 0;
		ssize_t n;

		/* release the command; the exec-status pipe closes on exec */
		if (write(go_fd, "g", 1) != 1) {
			fprintf(stderr, "schedtrace: release command: %s\n", strerror(errno));
			goto cleanup;
		}
		close(go_fd);
		go_fd = -1;
		do
			n = read(err_fd, &e, sizeof(e));
		while (n < 0 && errno == EINTR);
		if (n == sizeof(e)) {
			fprintf(stderr, "schedtrace: exec %s: %s\n", t.opts.cmd_path, strerror(e));
			waitpid(t.root, NULL, 0);
			t.root = -1;
			status = EXIT_BAD_INPUT;
			goto cleanup;
		}
	}

	err = wait_loop(&t, sfd, pidfd);
	t.end_ns = now_ns();
	if (err) {
		fprintf(stderr, "schedtrace: %s\n", strerror(-err));
		goto cleanup;
	}
	if (!t.opts.pid)
		t.all_rows_final = trace_settle(&t, 1000);
	if ((err = trace_events_drain(&t))) {
		fprintf(stderr, "schedtrace: draining events: %s\n", strerror(-err));
		goto cleanup;
	}
	err = trace_collect(&t, &d);
	if (err) {
		fprintf(stderr, "schedtrace: reading the maps: %s\n", strerror(-err));
		goto cleanup;
	}
	if (json_open) {
		err = trace_write_json(&t, &d, json.f);
		json_open = false;
		if (err || (err = docfile_commit(&json))) {
			docfile_discard(&json);
			fprintf(stderr, "schedtrace: writing %s failed: %s\n", t.opts.json_path,
				strerror(err < 0 ? -err : EIO));
			goto cleanup;
		}
	} else {
		trace_print_summary(&t, &d, stderr);
	}
	if (t.opts.pid)
		status = 0;
	else if (WIFEXITED(t.wait_status))
		status = WEXITSTATUS(t.wait_status);
	else
		status = 128 + WTERMSIG(t.wait_status);

cleanup:
	/* a command that never got released exits 127 on its own (EOF) */
	if (go_fd >= 0)
		close(go_fd);
	if (err_fd >= 0)
		close(err_fd);
	if (t.root > 0 && !t.opts.pid && !t.exited) {
		/* we are failing while it runs: do not leave it behind untraced */
		kill(t.root, SIGTERM);
		waitpid(t.root, NULL, 0);
	}
	trace_data_free(&t, &d);
	trace_events_close(&t);
	trace_probes_close(&t);
	if (json_open)
		docfile_discard(&json);
	if (pidfd >= 0)
		close(pidfd);
	if (sfd >= 0)
		close(sfd);
	if (mask_set)
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	return status;
}
