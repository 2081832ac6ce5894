/*
 * tests/integration/test_contain.c — the broker's containment of an
 * environment (issue #10, broker side; broker/core/sbxhost.c).
 *
 * The seccomp layer stops a handler from creating processes at all, so
 * these tests do not ask a handler to fork: running as root, the test
 * plants processes into a live environment itself — children of the test
 * that join the worker's cgroups (read from /proc/<worker>/cgroup), take
 * the worker's uid, sit in its tmp dir — then retires the environment
 * (delete, update-config, idle timeout, broker stop, kill -9 and restart)
 * and checks what the broker did: the planted processes are dead (waitpid
 * says SIGKILL), the cgroups and the tmp mount are gone, a uid is not
 * handed out while a process of it lives, the next environment in the
 * same slot finds an empty tmp dir, and a restarted broker reclaims what
 * its killed predecessor left without touching another live broker's.
 * Last, a burst of cold starts shows no legitimate worker is rejected on
 * the work socket (the hello race).
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534

static void need_root_and_cgroups(void)
{
    if (geteuid() != 0 || access("/sys/fs/cgroup/pids/cgroup.procs", W_OK) != 0 ||
        access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) != 0) {
        cr_skip_test("needs root and writable v1 pids and memory cgroups");
    }
}

/* ---- what an environment is made of ---- */

typedef struct env {
    long pid, uid;
    char tmp[256]; /* its TMPDIR */
    char pids[256]; /* its pids cgroup dir */
    char mem[256]; /* its memory cgroup dir */
} env;

static long num_field(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -999;
}

/* TMPDIR from the worker's initial environment. */
static void read_tmp(long pid, char *out, size_t cap)
{
    char path[64], buf[8192];
    snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    out[0] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        if (strncmp(buf + i, "TMPDIR=", 7) == 0) {
            snprintf(out, cap, "%s", buf + i + 7);
        }
    }
    cr_assert(out[0] != '\0', "worker %ld has no TMPDIR", pid);
}

/* The worker's v1 pids and memory cgroup dirs. */
static void read_cgroups(long pid, env *v)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%ld/cgroup", pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    v->pids[0] = v->mem[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *p = strstr(line, ":pids:/");
        char *m = strstr(line, ":memory:/");
        if (p != NULL) {
            snprintf(v->pids, sizeof(v->pids), "/sys/fs/cgroup/pids%s", p + 6);
        } else if (m != NULL) {
            snprintf(v->mem, sizeof(v->mem), "/sys/fs/cgroup/memory%s", m + 8);
        }
    }
    fclose(f);
    cr_assert(strstr(v->pids, "/lamina/") != NULL, "worker %ld is in no lamina pids cgroup: %s",
              pid, v->pids);
    cr_assert(strstr(v->mem, "/lamina/") != NULL, "worker %ld is in no lamina memory cgroup: %s",
              pid, v->mem);
}

/* Invoke a whoami function: its worker's pid and uid, tmp dir, cgroups. */
static env whoami(lt_broker *b, const char *fn)
{
    env v;
    lm_invoke_result r;
    lm_error e;
    memset(&v, 0, sizeof(v));
    cr_assert_eq(lt_invoke(b, fn, NULL, &r, &e), LM_OK, "%s: %s", e.type, e.message);
    cJSON *j = cJSON_Parse(r.payload);
    cr_assert_not_null(j, "%s", r.payload);
    v.pid = num_field(j, "rc");
    v.uid = num_field(j, "errno");
    cJSON_Delete(j);
    lm_invoke_result_finish(&r);
    cr_assert_gt(v.pid, 0);
    cr_assert_gt(v.uid, 0, "the worker runs as root");
    read_tmp(v.pid, v.tmp, sizeof(v.tmp));
    read_cgroups(v.pid, &v);
    return v;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Mount entries at or under path in /proc/self/mounts. */
static int mounts_at(const char *path)
{
    FILE *f = fopen("/proc/self/mounts", "r");
    char line[1024], mp[512];
    size_t n = strlen(path);
    int count = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%*s %511s", mp) == 1 && strncmp(mp, path, n) == 0 &&
            (mp[n] == '\0' || mp[n] == '/')) {
            count++;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return count;
}

/* The tmp dir's parent, /tmp/lamina-<id>. */
static void tmp_base(const char *tmp, char *out, size_t cap)
{
    snprintf(out, cap, "%s", tmp);
    char *slash = strrchr(out, '/');
    cr_assert_not_null(slash);
    *slash = '\0';
}

static bool env_gone(void *arg)
{
    const env *v = arg;
    return kill((pid_t)v->pid, 0) != 0 && !exists(v->pids) && !exists(v->mem) &&
           mounts_at(v->tmp) == 0 && !exists(v->tmp);
}

/* ---- planted processes ---- */

typedef struct plant_spec {
    const env *join; /* join its pids and memory cgroups, NULL = no */
    const char *cwd; /* chdir here, NULL = stay */
    const char *hold; /* create this file and keep it open, NULL = none */
    long ruid, euid, suid; /* setresuid (and gid = euid); -1 = stay root */
} plant_spec;

static void join(const char *dir)
{
    char path[300], pid[32];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    int fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, pid, strlen(pid)) < 0) {
        _exit(10);
    }
    close(fd);
}

/* Fork a child of the test that makes itself part of an environment as
 * spec says, then sleeps; returns once it is in place. */
static pid_t plant(const plant_spec *spec)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t c = fork();
    cr_assert_geq(c, 0);
    if (c == 0) {
        close(p[0]);
        if (spec->join != NULL) {
            join(spec->join->pids);
            join(spec->join->mem);
        }
        if (spec->cwd != NULL && chdir(spec->cwd) != 0) {
            _exit(11);
        }
        if (spec->hold != NULL && open(spec->hold, O_WRONLY | O_CREAT, 0600) < 0) {
            _exit(12);
        }
        if (spec->euid >= 0 &&
            (setresgid((gid_t)spec->euid, (gid_t)spec->euid, (gid_t)spec->euid) != 0 ||
             setresuid((uid_t)spec->ruid, (uid_t)spec->euid, (uid_t)spec->suid) != 0)) {
            _exit(13);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        if (write(p[1], "k", 1) != 1) {
            _exit(14);
        }
        for (;;) {
            pause();
        }
    }
    close(p[1]);
    char k = 0;
    ssize_t n = read(p[0], &k, 1);
    close(p[0]);
    if (n != 1) {
        int st = 0;
        waitpid(c, &st, 0);
        cr_assert_fail("the planted process failed to set up (exit %d)",
                       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    return c;
}

typedef struct planted {
    pid_t pid;
    int status; /* valid once dead */
    bool dead;
} planted;

static bool planted_dead(void *arg)
{
    planted *p = arg;
    if (!p->dead && waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
        p->dead = true;
    }
    return p->dead;
}

static void expect_killed(planted *p, const char *what)
{
    cr_expect(lt_wait_until(planted_dead, p, 15000), "%s (pid %d) is still alive", what,
              (int)p->pid);
    if (p->dead) {
        cr_expect(WIFSIGNALED(p->status) && WTERMSIG(p->status) == SIGKILL,
                  "%s ended with status 0x%x, not SIGKILL", what, p->status);
    }
}

static void end_plant(planted *p)
{
    if (!planted_dead(p)) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &p->status, 0);
        p->dead = true;
    }
}

/* ---- the broker's view ---- */

static char *status_json(lt_broker *b)
{
    char *out = NULL;
    lm_error e;
    cr_assert_eq(lm_call(b->client, "status", "{}", NULL, 0, &out, &e), LM_OK, "%s", e.message);
    return out;
}

/* "…; N held, Q quarantined; …" from Sandbox.UidDrop. */
static int quarantined(lt_broker *b)
{
    char *out = status_json(b);
    cJSON *j = cJSON_Parse(out);
    free(out);
    const cJSON *sbx = cJSON_GetObjectItemCaseSensitive(j, "Sandbox");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(sbx, "UidDrop");
    int held = -1, q = -1;
    const char *p = cJSON_IsString(u) ? strstr(u->valuestring, " held, ") : NULL;
    while (p != NULL && p > u->valuestring && p[-1] != ' ') {
        p--;
    }
    if (p != NULL) {
        sscanf(p, "%d held, %d quarantined", &held, &q);
    }
    cJSON_Delete(j);
    cr_assert_geq(q, 0, "no quarantine count in the status");
    return q;
}

typedef struct q_wait {
    lt_broker *b;
    int want;
} q_wait;

static bool quarantine_is(void *arg)
{
    q_wait *w = arg;
    return quarantined(w->b) == w->want;
}

static void call_ok(lt_broker *b, const char *op, const char *args)
{
    char *out = NULL;
    lm_error e;
    cr_assert_eq(lm_call(b->client, op, args, NULL, 0, &out, &e), LM_OK, "%s %s: %s", op, args,
                 e.message);
    free(out);
}

/* The broker's log: harness.c writes it beside the state dir. */
static char *broker_log(const lt_broker *b, pid_t pid)
{
    char path[sizeof(b->state) + 64];
    snprintf(path, sizeof(path), "%s", b->state);
    char *slash = strrchr(path, '/');
    cr_assert_not_null(slash);
    snprintf(slash, sizeof(path) - (size_t)(slash - path), "/broker-%d.log", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 >= cap) {
            buf = realloc(buf, cap *= 2);
        }
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static bool no_workers(void *arg)
{
    char *out = status_json(arg);
    cJSON *j = cJSON_Parse(out);
    free(out);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "Workers");
    bool none = num_field(w, "Total") == 0;
    cJSON_Delete(j);
    return none;
}

/* The broker is done with every ended environment: a worker leaves the
 * pool only after its environment's cleanup, uid and slot included. */
static void settled(lt_broker *b)
{
    cr_assert(lt_wait_until(no_workers, b, 15000), "workers remain");
}

TestSuite(contain, .timeout = 120);

/* A process in the environment's cgroups, under a uid the broker would
 * not sweep, dies with the environment: only the cgroup kill reaches it.
 * The cgroups and the tmp mount go with it. */
Test(contain, a_process_in_the_cgroups_dies_with_the_environment)
{
    need_root_and_cgroups();
    lt_broker b;
    lt_broker_start(&b, NULL);
    lt_create(&b, "who", "hostile/whoami", NULL);
    env v = whoami(&b, "who");
    cr_assert_eq(mounts_at(v.tmp), 1, "the tmp dir is not a mount");
    plant_spec s = {.join = &v, .cwd = v.tmp, .ruid = NOBODY, .euid = NOBODY, .suid = NOBODY};
    planted p = {.pid = plant(&s)};
    call_ok(&b, "delete", "{\"FunctionName\":\"who\"}");
    expect_killed(&p, "the process planted in the cgroups");
    cr_expect(lt_wait_until(env_gone, &v, 15000),
              "the environment's cgroups or tmp dir remain: pids %d, memory %d, mounts %d",
              exists(v.pids), exists(v.mem), mounts_at(v.tmp));
    end_plant(&p);
    lt_broker_stop(&b, false);
}

/* A process outside the cgroups with the worker's uid is killed when the
 * environment ends (update-config retires it), and the uid, now clean,
 * goes to the next environment again. */
Test(contain, a_process_of_the_uid_dies_and_the_clean_uid_is_reused)
{
    need_root_and_cgroups();
    lt_broker b;
    lt_broker_start(&b, NULL);
    lt_create(&b, "who", "hostile/whoami", NULL);
    env v = whoami(&b, "who");
    plant_spec s = {.ruid = v.uid, .euid = v.uid, .suid = v.uid};
    planted p = {.pid = plant(&s)};
    call_ok(&b, "update-config", "{\"FunctionName\":\"who\",\"Timeout\":5}");
    expect_killed(&p, "the process planted with the worker's uid");
    cr_expect(lt_wait_until(env_gone, &v, 15000), "the old environment remains");
    settled(&b);
    env w = whoami(&b, "who");
    cr_expect_neq(w.pid, v.pid, "update-config did not retire the environment");
    cr_expect_eq(w.uid, v.uid, "the clean uid %ld was not reused (got %ld)", v.uid, w.uid);
    cr_expect_eq(quarantined(&b), 0);
    end_plant(&p);
    lt_broker_stop(&b, false);
}

/* A process the broker cannot kill — effective uid the worker's, real and
 * saved uid another (only root makes such a thing) — keeps that uid out of
 * use: the next environment gets another one, and the uid comes back once
 * the process is gone. */
Test(contain, a_uid_is_not_handed_out_while_a_process_of_it_lives)
{
    need_root_and_cgroups();
    lt_broker b;
    lt_broker_start(&b, NULL);
    lt_create(&b, "who", "hostile/whoami", NULL);
    env v = whoami(&b, "who");
    plant_spec s = {.ruid = NOBODY, .euid = v.uid, .suid = NOBODY};
    planted p = {.pid = plant(&s)};
    call_ok(&b, "delete", "{\"FunctionName\":\"who\"}");
    q_wait one = {&b, 1};
    cr_assert(lt_wait_until(quarantine_is, &one, 15000), "the uid was not quarantined");
    cr_expect(!planted_dead(&p), "the broker killed a process it should not be able to");
    lt_create(&b, "who2", "hostile/whoami", NULL);
    env w = whoami(&b, "who2");
    cr_expect_neq(w.uid, v.uid, "uid %ld was handed out while a process of it lives", v.uid);
    end_plant(&p);
    lt_create(&b, "who3", "hostile/whoami", NULL);
    env x = whoami(&b, "who3");
    cr_expect_eq(x.uid, v.uid, "uid %ld did not come back once clean (got %ld)", v.uid, x.uid);
    cr_expect_eq(quarantined(&b), 0);
    lt_broker_stop(&b, false);
}

/* Whatever was planted in an environment's tmp dir — files, a process
 * keeping it busy — is gone when the next function gets the same slot
 * (the first environment ends by idle timeout). */
Test(contain, the_next_function_in_the_slot_gets_a_fresh_empty_tmp)
{
    need_root_and_cgroups();
    lt_broker b;
    const char *args[] = {"--idle-timeout", "2", NULL};
    lt_broker_start(&b, args);
    lt_create(&b, "who", "hostile/whoami", NULL);
    env v = whoami(&b, "who");
    char file[300], held[300];
    snprintf(file, sizeof(file), "%s/planted", v.tmp);
    snprintf(held, sizeof(held), "%s/held", v.tmp);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("left for the next tenant\n", f);
    fclose(f);
    plant_spec s = {
        .join = &v, .cwd = v.tmp, .hold = held, .ruid = v.uid, .euid = v.uid, .suid = v.uid};
    planted p = {.pid = plant(&s)};
    expect_killed(&p, "the process holding the tmp dir");
    cr_assert(lt_wait_until(env_gone, &v, 15000), "the idle environment was not removed");
    settled(&b);
    lt_create(&b, "other", "hostile/whoami", NULL);
    env w = whoami(&b, "other");
    cr_expect_str_eq(w.tmp, v.tmp, "not the same slot: %s vs %s", w.tmp, v.tmp);
    cr_expect_eq(mounts_at(w.tmp), 1, "the new tmp dir is not exactly one fresh mount");
    DIR *d = opendir(w.tmp);
    cr_assert_not_null(d);
    struct dirent *de;
    int entries = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            cr_expect_fail("the new tenant's tmp dir holds %s", de->d_name);
            entries++;
        }
    }
    closedir(d);
    cr_expect_eq(entries, 0);
    end_plant(&p);
    lt_broker_stop(&b, false);
}

/* A broker stop ends planted processes too (each worker's reap empties
 * its environment), and leaves no mount, cgroup or tmp dir. */
Test(contain, a_clean_stop_ends_planted_processes_and_leaves_nothing)
{
    need_root_and_cgroups();
    lt_broker b;
    lt_broker_start(&b, NULL);
    lt_create(&b, "who", "hostile/whoami", NULL);
    env v = whoami(&b, "who");
    plant_spec in = {.join = &v, .ruid = NOBODY, .euid = NOBODY, .suid = NOBODY};
    plant_spec out = {.ruid = v.uid, .euid = v.uid, .suid = v.uid};
    planted p = {.pid = plant(&in)}, q = {.pid = plant(&out)};
    char base[256];
    tmp_base(v.tmp, base, sizeof(base));
    lt_broker_stop(&b, false);
    expect_killed(&p, "the process in the cgroups");
    expect_killed(&q, "the process with the worker's uid");
    cr_expect(env_gone(&v), "the environment's cgroups or tmp dir remain");
    cr_expect_eq(mounts_at(base), 0, "mounts remain under %s", base);
    cr_expect(!exists(base), "%s remains", base);
    end_plant(&p);
    end_plant(&q);
}

/* kill -9 of the broker leaves mounts, cgroups and processes behind; a
 * broker started on the same state dir reclaims all of it before it
 * serves. */
Test(contain, a_restarted_broker_reclaims_what_its_killed_predecessor_left)
{
    need_root_and_cgroups();
    lt_broker b;
    lt_broker_start(&b, NULL);
    env v[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "who%d", i);
        lt_create(&b, name, "hostile/whoami", NULL);
        v[i] = whoami(&b, name);
    }
    plant_spec in = {
        .join = &v[0], .cwd = v[0].tmp, .ruid = NOBODY, .euid = NOBODY, .suid = NOBODY};
    plant_spec out = {.ruid = v[1].uid, .euid = v[1].uid, .suid = v[1].uid};
    planted p = {.pid = plant(&in)}, q = {.pid = plant(&out)};
    char base[256];
    tmp_base(v[0].tmp, base, sizeof(base));
    lt_broker_kill(&b);
    /* what there is to reclaim (the workers die with the broker, by
     * PDEATHSIG; their mounts and cgroups do not) */
    cr_assert_eq(mounts_at(base), 3, "expected 3 tmp mounts left under %s", base);
    for (int i = 0; i < 3; i++) {
        cr_assert(exists(v[i].pids) && exists(v[i].mem), "cgroups of %d are gone already", i);
    }
    cr_assert(!planted_dead(&p) && !planted_dead(&q));
    lt_broker_start_in(&b, b.state, NULL);
    /* the api socket is up: reclaim is over */
    expect_killed(&p, "the process in the dead broker's cgroups");
    expect_killed(&q, "the process with a dead broker's worker uid");
    cr_expect_eq(mounts_at(base), 0, "mounts of the predecessor remain under %s", base);
    cr_expect(!exists(base), "%s remains", base);
    for (int i = 0; i < 3; i++) {
        cr_expect(!exists(v[i].pids) && !exists(v[i].mem), "cgroups of environment %d remain", i);
    }
    char *log = broker_log(&b, b.pid);
    cr_expect(strstr(log, "reclaimed what a previous broker left") != NULL, "%s", log);
    free(log);
    env w = whoami(&b, "who0"); /* and it serves */
    cr_expect_str_eq(w.tmp, v[0].tmp, "the same state dir names its tmp dirs the same");
    end_plant(&p);
    end_plant(&q);
    lt_broker_stop(&b, false);
    cr_expect_eq(mounts_at(base), 0);
}

/* Reclaim never touches another live broker: a second broker on the same
 * state dir is refused before it reclaims anything, and a broker
 * restarted on another state dir leaves this one's environment alone. */
Test(contain, reclaim_leaves_another_live_broker_alone)
{
    need_root_and_cgroups();
    lt_broker x, y;
    lt_broker_start(&x, NULL);
    lt_create(&x, "who", "hostile/whoami", NULL);
    env v = whoami(&x, "who");
    const char *argv[] = {getenv("LAMINA_BROKER_BIN"), "--state", x.state, NULL};
    cr_assert_not_null(argv[0]);
    char *out = NULL, *err = NULL;
    cr_expect_eq(lt_run(&x, argv, &out, &err), 1, "a second broker on the same state dir ran");
    cr_expect(strstr(err, "another broker is serving this state dir") != NULL, "%s", err);
    free(out);
    free(err);
    lt_broker_start(&y, NULL);
    lt_create(&y, "who", "hostile/whoami", NULL);
    env u = whoami(&y, "who");
    cr_expect_neq(u.uid, v.uid, "two live brokers' environments share uid %ld", u.uid);
    lt_broker_kill(&y);
    lt_broker_start_in(&y, y.state, NULL);
    cr_expect(lt_wait_until(env_gone, &u, 15000), "y's old environment was not reclaimed");
    cr_expect_eq(kill((pid_t)v.pid, 0), 0, "x's worker was killed");
    cr_expect(exists(v.pids) && exists(v.mem) && mounts_at(v.tmp) == 1,
              "x's environment lost its cgroups or tmp mount");
    env w = whoami(&x, "who");
    cr_expect_eq(w.pid, v.pid, "x's warm environment was replaced");
    lt_broker_stop(&y, false);
    lt_broker_stop(&x, false);
}

/* ---- the hello race (item 4 of issue #10) ---- */

#define BURST_FUNCTIONS 40
#define BURST_ROUNDS 4

typedef struct burst_call {
    lt_broker *b;
    pthread_barrier_t *go;
    char name[16];
    int rc;
    char err[640];
} burst_call;

static void *burst_one(void *arg)
{
    burst_call *c = arg;
    lm_invoke_result r;
    lm_error e;
    pthread_barrier_wait(c->go);
    c->rc = lt_invoke(c->b, c->name, "{\"n\":1}", &r, &e);
    if (c->rc == LM_OK) {
        if (r.function_error[0] != '\0') {
            c->rc = -1;
            snprintf(c->err, sizeof(c->err), "%s", r.payload);
        }
        lm_invoke_result_finish(&r);
    } else {
        snprintf(c->err, sizeof(c->err), "%s: %s", e.type, e.message);
    }
    return NULL;
}

/* Rounds of 40 cold starts at once: every invoke succeeds and the work
 * socket turns no worker away (a hello that came before the spawner had
 * recorded the worker's pid used to be rejected). */
Test(contain, a_burst_of_cold_starts_rejects_no_worker, .timeout = 240)
{
    lt_broker b;
    const char *args[] = {"--idle-timeout", "1", NULL};
    lt_broker_start(&b, args);
    static burst_call calls[BURST_FUNCTIONS];
    pthread_t th[BURST_FUNCTIONS];
    for (int i = 0; i < BURST_FUNCTIONS; i++) {
        snprintf(calls[i].name, sizeof(calls[i].name), "burst%d", i);
        lt_create(&b, calls[i].name, "echo", NULL);
    }
    for (int round = 0; round < BURST_ROUNDS; round++) {
        cr_assert(lt_wait_until(no_workers, &b, 30000), "workers did not idle out");
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, BURST_FUNCTIONS);
        for (int i = 0; i < BURST_FUNCTIONS; i++) {
            calls[i].b = &b;
            calls[i].go = &go;
            calls[i].rc = 0;
            calls[i].err[0] = '\0';
            cr_assert_eq(pthread_create(&th[i], NULL, burst_one, &calls[i]), 0);
        }
        for (int i = 0; i < BURST_FUNCTIONS; i++) {
            pthread_join(th[i], NULL);
            cr_expect_eq(calls[i].rc, LM_OK, "round %d, %s: %s", round, calls[i].name,
                         calls[i].err);
        }
        pthread_barrier_destroy(&go);
    }
    char *out = status_json(&b);
    cJSON *j = cJSON_Parse(out);
    cr_expect_eq(num_field(j, "ColdStarts"), BURST_FUNCTIONS * BURST_ROUNDS,
                 "not every invoke was a cold start: %s", out);
    cJSON_Delete(j);
    free(out);
    char *log = broker_log(&b, b.pid);
    cr_expect(strstr(log, "rejected a message") == NULL, "a worker was rejected:\n%s", log);
    cr_expect(strstr(log, "refused a connection") == NULL, "a worker was refused:\n%s", log);
    free(log);
    lt_broker_stop(&b, false);
}
