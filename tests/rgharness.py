"""rgharness.py - what the daemon suites of rcptguard share: TAP output, one
daemon (rcptguard-policyd or rcptguard-milter) in the foreground with its own
state and config, and the fault cases both front-ends must pass alike
(a corrupt or unwritable cache under each fail_mode, the privilege drop,
the background start, kill -9 under load).

Each fault case takes `ask(daemon, recipient)`: one decision through the
daemon's own protocol, as text ("pass", or the reply code and text of a
reject or defer); so the cases assert what a mail client would see.
"""
import grp
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP_BUILD = os.environ.get("top_builddir", ".")
RG = os.path.join(TOP_BUILD, "cli", "rcptguard")

n = 0
failed = 0


def ok(cond, name, *diag):
    global n, failed
    n += 1
    if cond:
        print(f"ok {n} - {name}")
    else:
        failed += 1
        print(f"not ok {n} - {name}")
        for d in diag:
            for line in str(d).splitlines():
                print(f"#   {line}")
    sys.stdout.flush()


def is_(got, want, name):
    ok(got == want, name, f"got:  {got!r}", f"want: {want!r}")


def skip(name, why):
    """A case that cannot run here: a TAP skip, never counted as a pass. With
    RG_REQUIRE_LAB=1 (CI) it is a failure instead."""
    global n, failed
    if os.environ.get("RG_REQUIRE_LAB") == "1":
        ok(False, f"{name}: {why} (and RG_REQUIRE_LAB=1)")
        return
    n += 1
    print(f"ok {n} - {name} # SKIP {why}")
    sys.stdout.flush()


def need_root(name):
    """True as root; otherwise the case named is skipped."""
    if os.geteuid() == 0:
        return True
    skip(name, "needs root")
    return False


def wait_until(pred, secs=60.0):
    """pred() once it holds, polled every 50 ms for at most secs of wall-clock
    time; its last value otherwise."""
    end = time.monotonic() + secs
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(0.05)


DAEMONS = []

# prog -> (binary, config section of its socket, socket file name)
PROGS = {
    "policyd": (os.path.join(TOP_BUILD, "policyd", "rcptguard-policyd"), "policyd", "policy.sock"),
    "milter": (os.path.join(TOP_BUILD, "milter", "rcptguard-milter"), "milter", "milter.sock"),
}

# Cached verdicts, one per class, that the protocol suites look up.
CLASS_VERDICTS = (
    ("ghost@dead.example", "undeliverable", "no_mailbox"),
    ("nodomain@gone.example", "undeliverable", "no_domain"),
    ("null@nullmx.example", "undeliverable", "null_mx"),
    ("alice@live.example", "deliverable", "accepted"),
    ("any@catchall.example", "risky", "catch_all"),
    ("grey@grey.example", "unknown", "greylisted"),
)


class Daemon:
    """One daemon in the foreground, its own state and config. RG_WRAP (for
    example "valgrind -q --error-exitcode=99") runs it under a wrapper."""

    def __init__(self, root, name, extra="", listen=None, prog="policyd"):
        DAEMONS.append(self)
        self.prog = prog
        self.binary, self.section, sockname = PROGS[prog]
        self.wrap = os.environ.get("RG_WRAP", "").split()
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, sockname)
        self.conf = os.path.join(self.dir, "rg.conf")
        self.log = os.path.join(self.dir, f"{prog}.log")
        self.listen = listen or f"unix:{self.sock}"
        self.proc = None
        self.write_conf(extra)

    def write_conf(self, extra):
        with open(self.conf, "w") as f:
            f.write(f"""[general]
state_dir = {self.dir}/state
user =
[dns]
dns_servers = 127.0.0.1:1
dns_timeout = 1s
dns_tries = 1
[lists]
providers_file =
disposable_domains_file =
role_accounts_file =
[{self.section}]
listen = {self.listen}
[policy]
wait_budget = 2s
{extra}
""")
        os.makedirs(f"{self.dir}/state", exist_ok=True)

    def _wait_ready(self, mark):
        # Under valgrind on a busy machine a start takes long: wait up to 120 s.
        wait_until(lambda: self.proc.poll() is not None or "ready:" in self.logtext()[mark:], 120)
        return self.proc.poll() is None and "ready:" in self.logtext()[mark:]

    def start(self, wait=True, argv_prefix=(), env=None):
        mark = len(self.logtext())
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(list(argv_prefix) + self.wrap + [self.binary, "-f", "-c", self.conf],
                                     stdout=logf, stderr=logf, env=env)
        logf.close()
        return self._wait_ready(mark) if wait else True

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def reload(self, extra):
        """Rewrite the config, SIGHUP, and wait for the daemon's word (bounded)."""
        before = self.logtext().count("configuration reloaded") + self.logtext().count("reload refused")
        if extra is not None:
            self.write_conf(extra)
        self.proc.send_signal(signal.SIGHUP)
        return bool(wait_until(lambda: self.logtext().count("configuration reloaded") +
                               self.logtext().count("reload refused") > before, 60))

    def wait_log(self, text, secs=30.0):
        """The log, once it holds text (a daemon may hold lines for a moment)."""
        wait_until(lambda: text in self.logtext(), secs)
        return self.logtext()

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def put(self, addr, cls, reason):
        subprocess.run([RG, "-c", self.conf, "cache", "put", addr, cls, reason],
                       check=True, stdout=subprocess.DEVNULL)

    def put_classes(self):
        """The verdicts of CLASS_VERDICTS in the cache: one per class the
        protocol suites check an answer for."""
        for addr, cls, reason in CLASS_VERDICTS:
            self.put(addr, cls, reason)

    def connect(self):
        # A full backlog answers EAGAIN to a unix socket connect: retry, as Postfix does.
        end = time.monotonic() + 30
        while True:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(30)
            try:
                s.connect(self.sock)
                return s
            except BlockingIOError:
                s.close()
                if time.monotonic() >= end:
                    raise OSError("the listen backlog stayed full for 30 s")
                time.sleep(0.05)


def main(prog, run):
    """Run run(root) in a fresh directory against the daemon prog; no daemon
    outlives it. Prints the plan."""
    if not os.access(PROGS[prog][0], os.X_OK):
        print(f"Bail out! no rcptguard-{prog} at {PROGS[prog][0]}")
        return 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    root = tempfile.mkdtemp(prefix=f"rg-{prog}-")
    os.chmod(root, 0o755)
    try:
        run(root)
    finally:
        for d in DAEMONS:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
        for binary, _, _ in PROGS.values():
            subprocess.run(["pkill", "-KILL", "-f", f"{os.path.basename(binary)} -c {root}/"])
        if os.environ.get("RG_KEEP"):
            print(f"# kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"1..{n}")
    return 1 if failed else 0


# ---- fault cases both front-ends share ---------------------------------------

def faults_cache(root, prog, ask, want):
    """A corrupt, then an unwritable cache: every recipient follows fail_mode.
    want maps "pass"/"defer" to the prefix of the answer expected."""
    for mode in ("pass", "defer"):
        f = Daemon(root, f"corrupt-{mode}", extra=f"fail_mode = {mode}\n", prog=prog)
        with open(f"{f.dir}/state/cache.lmdb", "wb") as fh:
            fh.write(os.urandom(65536))
        ok(f.start(), f"a corrupt cache does not stop the daemon (fail_mode={mode})", f.logtext())
        for rcpt in ("ghost@dead.example", "new@nowhere.example", "other@elsewhere.example"):
            r = ask(f, rcpt)
            ok(r.startswith(want[mode]), f"corrupt cache, fail_mode={mode}: {rcpt}: {want[mode]}", r)
        ok("fail_mode=yes" in f.wait_log("fail_mode=yes") and "unusable" in f.logtext(),
           f"corrupt cache, fail_mode={mode}: logged loudly")
        is_(f.stop(), 0, f"corrupt cache, fail_mode={mode}: clean exit")
        log = f.logtext()
        ok("source=probe" not in log and "probe " not in log,
           f"corrupt cache, fail_mode={mode}: nothing is probed", log)
        is_(log.count("error: cache:"), 1, f"corrupt cache, fail_mode={mode}: the failure is logged once")
        ok("fail_mode=3 " in log, f"corrupt cache, fail_mode={mode}: the fail_mode answers are counted", log)

    if not need_root("the unwritable cache case"):
        return
    for mode in ("pass", "defer"):
        ro = Daemon(root, f"readonly-{mode}", extra=f"fail_mode = {mode}\n", prog=prog)
        state = f"{ro.dir}/state"
        # The state directory is a read-only mount in a private mount namespace.
        ro.start(argv_prefix=[
            "unshare", "-m", "sh", "-c",
            f'mount --bind "{state}" "{state}" && mount -o remount,bind,ro "{state}" && exec "$@"',
            "sh"])
        r = ask(ro, "ghost@dead.example")
        ok(r.startswith(want[mode]), f"unwritable cache, fail_mode={mode}: {want[mode]}", r, ro.logtext())
        is_(ro.stop(), 0, f"unwritable cache, fail_mode={mode}: clean exit")


def faults_privs(root, prog, ask, want_probe, owner_key="socket_group"):
    """Started as root with user = nobody: ids, socket and cache ownership."""
    if not need_root("the privilege drop"):
        return
    section = PROGS[prog][1]
    pv = Daemon(root, "privs", prog=prog, extra=f"""[general]
user = nobody
[{section}]
{owner_key} = nogroup
socket_mode = 0666
""")
    # [general] appears twice; inih merges sections, the later value wins.
    ok(pv.start(), "starts as root with user = nobody", pv.logtext())
    with open(f"/proc/{pv.proc.pid}/status") as fh:
        ids = [l.split()[1:] for l in fh if l.startswith(("Uid:", "Gid:"))]
    nobody = pwd.getpwnam("nobody")
    ok(all(int(x) == nobody.pw_uid for x in ids[0]) and all(int(x) == nobody.pw_gid for x in ids[1]),
       "the daemon runs as nobody (real, effective, saved, fs ids)", ids)
    st = os.stat(pv.sock)
    ok(st.st_mode & 0o777 == 0o666 and st.st_uid == nobody.pw_uid and
       st.st_gid == grp.getgrnam("nogroup").gr_gid, "the unix socket has the configured owner, group and mode",
       oct(st.st_mode), st.st_uid, st.st_gid)
    ok(os.stat(f"{pv.dir}/state/cache.lmdb").st_uid == nobody.pw_uid, "the cache belongs to the user")
    r = ask(pv, "new@nowhere.example")
    ok(r.startswith(want_probe) and "(dns_error)" in r,
       "after the drop the cache is written (a probe verdict)", r)
    is_(pv.stop(), 0, "clean exit after the drop")
    bad = Daemon(root, "nouser", extra="[general]\nuser = rg-no-such-user\n", prog=prog)
    ok(not bad.start() and "does not exist" in bad.logtext(), "a user that does not exist is fatal")
    bad.stop()


def faults_state(root, prog):
    """Started as root with user = nobody on a state directory nobody owns:
    links planted there never reach root-owned files, and an unsafe state
    stops the start with a message that names the path."""
    if not need_root("the state directory attacks"):
        return
    nobody = pwd.getpwnam("nobody")
    secret = os.path.join(root, f"secret-{prog}")
    os.makedirs(secret, mode=0o700, exist_ok=True)

    def target(name, text):
        path = os.path.join(secret, name)
        with open(path, "w") as fh:
            fh.write(text)
        os.chmod(path, 0o600)
        return path

    def untouched(path, text):
        st = os.lstat(path)
        with open(path) as fh:
            body = fh.read()
        return st.st_uid == 0 and st.st_gid == 0 and st.st_mode & 0o777 == 0o600 and body == text

    def daemon(name):
        d = Daemon(root, name, prog=prog, extra="[general]\nuser = nobody\n")
        state = f"{d.dir}/state"
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        os.chmod(state, 0o750)
        return d, state

    # The attack: both cache files are links to root's files.
    d, state = daemon("symlinks")
    data = target("data", "root data file\n" * 4)
    lock = target("lock", "root lock file\n" * 4)
    os.symlink(data, f"{state}/cache.lmdb")
    os.symlink(lock, f"{state}/cache.lmdb-lock")
    started = d.start()
    rc = d.stop() if started else d.proc.wait(30)
    ok(not started and rc != 0, "a cache file that is a symlink stops the start", d.logtext())
    ok(f"{state}/cache.lmdb is a symbolic link" in d.logtext(), "the message names the link", d.logtext())
    ok(untouched(data, "root data file\n" * 4) and untouched(lock, "root lock file\n" * 4),
       "the link targets keep their owner, mode and bytes", os.lstat(data), os.lstat(lock))

    # Only the lock file is a link (the data file is missing).
    d, state = daemon("locklink")
    os.symlink(lock, f"{state}/cache.lmdb-lock")
    started = d.start()
    rc = d.stop() if started else d.proc.wait(30)
    ok(not started and rc != 0 and f"{state}/cache.lmdb-lock is a symbolic link" in d.logtext(),
       "a lock file that is a symlink stops the start", d.logtext())
    ok(untouched(lock, "root lock file\n" * 4), "the lock target is untouched", os.lstat(lock))

    # A hard link to a root-owned file.
    d, state = daemon("hardlink")
    os.link(data, f"{state}/cache.lmdb")
    started = d.start()
    rc = d.stop() if started else d.proc.wait(30)
    ok(not started and rc != 0 and "more than one hard link" in d.logtext(),
       "a cache file with another hard link stops the start", d.logtext())
    ok(untouched(data, "root data file\n" * 4), "the hard-linked file is untouched", os.lstat(data))

    # The state directory itself is a link.
    d, state = daemon("dirlink")
    os.rmdir(state)
    os.symlink(secret, state)
    started = d.start()
    rc = d.stop() if started else d.proc.wait(30)
    ok(not started and rc != 0 and f"{state} is a symbolic link" in d.logtext(),
       "a state directory that is a symlink stops the start", d.logtext())
    ok(sorted(os.listdir(secret)) == ["data", "lock"] and os.stat(secret).st_uid == 0,
       "nothing is created in the link's target", os.listdir(secret))

    # A foreign owner, and write permission for others.
    d, state = daemon("foreign")
    os.chown(state, 1, 1)
    started = d.start()
    rc = d.stop() if started else d.proc.wait(30)
    ok(not started and rc != 0 and "owned by neither root nor the service user" in d.logtext(),
       "a state directory of another user stops the start", d.logtext())
    d, state = daemon("groupwritable")
    os.chmod(state, 0o770)
    started = d.start()
    rc = d.stop() if started else d.proc.wait(30)
    ok(not started and rc != 0 and "writable by group or others" in d.logtext() and "chmod go-w" in d.logtext(),
       "a group-writable state directory stops the start, with the fix", d.logtext())

    # Root's own cache files (left by the command line run as root) go to the user.
    d, state = daemon("rootfiles")
    os.chown(state, 0, 0)
    subprocess.run([RG, "-c", d.conf, "cache", "put", "ghost@dead.example", "undeliverable",
                    "no_mailbox"], check=False, capture_output=True)
    # The command line dropped to nobody: what it made is nobody's already.
    ok(os.stat(f"{state}/cache.lmdb").st_uid == nobody.pw_uid and
       os.stat(f"{state}/cache.lmdb-lock").st_uid == nobody.pw_uid,
       "the command line as root leaves files the user owns",
       os.stat(f"{state}/cache.lmdb"), os.stat(f"{state}/cache.lmdb-lock"))
    for f in ("cache.lmdb", "cache.lmdb-lock"):
        os.chown(f"{state}/{f}", 0, 0)
    ok(d.start(), "root-owned cache files do not stop the start", d.logtext())
    ok(all(os.stat(f"{state}/{f}").st_uid == nobody.pw_uid for f in ("cache.lmdb", "cache.lmdb-lock")),
       "they are handed to the user")
    is_(d.stop(), 0, "root-owned cache files: clean exit")


def faults_background(root, prog, ask, want_syntax, bad_listen):
    """Without -f: the start command reports success only once serving."""
    bg = Daemon(root, "background", prog=prog)
    p = subprocess.run([bg.binary, "-c", bg.conf], capture_output=True, text=True, timeout=30)
    is_(p.returncode, 0, "without -f it goes to the background and reports success")
    is_(ask(bg, "bad@@x"), want_syntax, "the background daemon serves")
    subprocess.run(["pkill", "-TERM", "-f", f"{os.path.basename(bg.binary)} -c {bg.conf}"])
    bad = Daemon(root, "badlisten", listen=bad_listen, prog=prog)
    p = subprocess.run([bad.binary, "-c", bad.conf], capture_output=True, text=True, timeout=30)
    ok(p.returncode != 0 and "listen" in p.stderr, "a socket that cannot be opened fails the start", p.stderr)


def faults_systemd(root, prog, ask, want_syntax):
    """Under a service manager (NOTIFY_SOCKET, as systemd sets it for
    Type=notify): READY=1 once the daemon serves; `rcptguard reload`, the
    units' ExecReload=, waits for the reload and says how it went, with
    RELOADING=1 then READY=1 sent meanwhile; a refused configuration fails
    the reload and the running one keeps serving."""
    d = Daemon(root, "notify", prog=prog)
    nsock = os.path.join(d.dir, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(nsock)
    got = []

    def until(word, secs=120):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            ns.settimeout(max(0.05, end - time.monotonic()))
            try:
                got.append(ns.recv(4096).decode(errors="replace"))
            except socket.timeout:
                break
            if word in got[-1]:
                return got[-1]
        return None

    d.start(wait=False, env=dict(os.environ, NOTIFY_SOCKET=nsock))
    ready = until("READY=1")
    ok(ready is not None and "STATUS=serving" in ready, "READY=1 reaches the service manager", got)
    # The word comes after the socket listens and the cache is open: ask at once.
    is_(ask(d, "bad@@x"), want_syntax, "at READY=1 the daemon answers")
    reload = [RG, "-c", d.conf, "reload", prog, str(d.proc.pid)]
    r = subprocess.run(reload, capture_output=True, text=True, timeout=120)
    ok(r.returncode == 0 and "configuration reloaded" in r.stdout, "rcptguard reload: done, exit 0",
       r.stdout, r.stderr)
    ready = until("READY=1")
    ok(any("RELOADING=1" in g for g in got) and ready is not None and
       [i for i, g in enumerate(got) if "RELOADING=1" in g][-1] < len(got) - 1,
       "RELOADING=1, then READY=1 again", got)
    r = subprocess.run([RG, "-c", d.conf, "reload", prog, "999999999"], capture_output=True, text=True,
                       timeout=30)
    ok(r.returncode == 1 and "999999999" in r.stderr, "rcptguard reload of no such process: exit 1",
       r.stderr)
    # A file the daemon refuses: the command says why, the daemon keeps serving.
    with open(d.conf, "a") as f:
        f.write("bogus_key = 1\n")
    r = subprocess.run(reload, capture_output=True, text=True, timeout=120)
    ok(r.returncode == 1 and "reload refused" in r.stderr and "bogus_key" in r.stderr,
       "a refused configuration: the reload fails and says why", r.stdout, r.stderr)
    is_(ask(d, "bad@@x"), want_syntax, "after the refused reload it still serves")
    # Under systemd the status lives in RUNTIME_DIRECTORY, for the daemon and the command alike.
    run = os.path.join(d.dir, "run")
    os.makedirs(run)
    d.write_conf("")
    d.stop()
    # What the stopped daemon sent last (the refused reload's READY=1) must
    # not pass for the new one's: the socket is emptied before the start.
    ns.setblocking(False)
    while True:
        try:
            got.append(ns.recv(4096).decode(errors="replace"))
        except (BlockingIOError, InterruptedError):
            break
    d.start(wait=False, env=dict(os.environ, NOTIFY_SOCKET=nsock, RUNTIME_DIRECTORY=run))
    ok(until("READY=1") is not None, "READY=1 after a restart with RUNTIME_DIRECTORY", got)
    r = subprocess.run(reload[:3] + ["reload", prog, str(d.proc.pid)], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, RUNTIME_DIRECTORY=run))
    ok(r.returncode == 0 and os.path.exists(os.path.join(run, f"rcptguard-{prog}.status")),
       "the reload's status is in RUNTIME_DIRECTORY", r.stdout, r.stderr)
    is_(d.stop(), 0, "under NOTIFY_SOCKET: a clean exit")
    ns.close()


LOAD_LOOP = """
end = time.monotonic() + 3
i = 0
while time.monotonic() < end:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(3)
        s.connect(SOCK)
        i = session(s, i)
        s.close()
    except OSError:
        time.sleep(0.05)
"""


def faults_kill9(root, prog, ask, session_code, want_ghost):
    """kill -9 under load, a clean cache after it, and a restart that serves.
    session_code defines session(s, i): requests for new recipients on the
    connected socket s, numbered from i; it returns the next number."""
    k = Daemon(root, "kill9", prog=prog)
    k.put("ghost@dead.example", "undeliverable", "no_mailbox")
    ok(k.start(), "the daemon starts for the kill -9 case", k.logtext())
    code = f"import socket, struct, time\nSOCK = {k.sock!r}\n" + session_code + LOAD_LOOP
    load = subprocess.Popen([sys.executable, "-c", code])
    # Killed once it is busy: twenty decisions logged (the log is buffered briefly).
    ok(wait_until(lambda: k.logtext().count("action=") >= 20, 60), "the load reaches the daemon")
    rc = k.stop(signal.SIGKILL)
    load.wait(20)
    is_(rc, -9, "the daemon is killed with SIGKILL under load")
    st = subprocess.run(["mdb_stat", "-n", "-a", f"{k.dir}/state/cache.lmdb"], capture_output=True, text=True)
    ok(st.returncode == 0 and "verdicts" in st.stdout, "mdb_stat reads the cache after kill -9", st.stderr)
    ok(k.start(), "it restarts over its stale socket", k.logtext())
    is_(ask(k, "ghost@dead.example"), want_ghost, "after the restart the cache answers")
    is_(k.stop(), 0, "clean exit after the restart")
