#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run one QEMU VM of the hvcarve tests to completion.

The guest side is tests/guest/ (init + lib.sh). It talks on its second serial
port (ttyS1), which QEMU connects to a unix socket served here:

  guest -> host   @@HVT BOOT gen=G release=R
                  @@HVT RESULT KEY VALUE...      -> results.txt "G KEY VALUE..."
                  @@HVT CKPT NAME gen=G [BASE SIZE]...
                  @@HVT LOG TEXT...
                  @@HVT DONE | @@HVT FAIL MSG...
  host -> guest   GO NAME          after the ranges of CKPT NAME were dumped
                  ACK DONE | ACK FAIL

On CKPT the VM is stopped (QMP "stop"), every range is saved with QMP
"pmemsave" and the parts are concatenated in order into dumps/NAME.bin
(dumps/NAME.ranges lists them), the VM is resumed ("cont") and GO NAME is
sent. No guest instruction runs between the CKPT line and the dump.

Artifacts (--artifacts DIR):
  console.log   serial 0 (kernel console), written by QEMU itself
  control.log   every control line, with host time since start
  results.txt   one "GEN KEY VALUE..." line per RESULT
  timeline.txt  host-side events (boots, checkpoints, end) with times
  dumps/        NAME.bin and NAME.ranges per checkpoint
  qemu.log      QEMU's own stdout/stderr;  cmdline.txt  its argv
  status.txt    "RC REASON"

Exit codes: 0 guest DONE, 1 guest FAIL, 2 usage/setup error, 3 timeout,
4 kernel panic/oops/BUG in the console, 5 QEMU ended unexpectedly.

Python 3 standard library only.
"""

import argparse
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

EXIT_DONE, EXIT_FAIL, EXIT_SETUP, EXIT_TIMEOUT, EXIT_PANIC, EXIT_QEMU = 0, 1, 2, 3, 4, 5

PANIC_RE = re.compile(r"Kernel panic|BUG:|Oops:|kernel BUG at|general protection fault")
# Lines our own guest scripts print; a message text must not look like a crash.
OURS_RE = re.compile(r"^(\[[ \d.]+\] )?(hvt:|@@HVT)")
PANIC_END_RE = re.compile(r"---\[ end (Kernel panic|trace)")
BOOT_RE = re.compile(r"Linux version \S+")
PANIC_GRACE = 5.0      # seconds to collect the rest of an oops/panic
END_GRACE = 30.0       # seconds for the guest to power off after DONE/FAIL


class SetupError(Exception):
    pass


def kvm_usable():
    if os.environ.get("HVT_ACCEL") == "tcg":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = set()
            for line in f:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[1].split())
        if not flags & {"vmx", "svm"}:
            return False
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        return True
    except OSError:
        return False


class Qmp:
    def __init__(self, sock, log):
        self.sock = sock
        self.buf = b""
        self.log = log

    def _lines(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise SetupError("QMP timeout")
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                data = self.sock.recv(65536)
                if not data:
                    raise SetupError("QMP connection closed")
                self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def read_msg(self, timeout=60.0):
        msg = self._lines(timeout)
        if "event" in msg:
            self.log("qmp-event %s" % msg["event"])
        return msg

    def pending_events(self):
        """Consume whatever QEMU sent unasked (events)."""
        try:
            data = self.sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        if not data:
            return False
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "event" in msg:
                self.log("qmp-event %s" % msg["event"])
        return True

    def cmd(self, name, timeout=600.0, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self.read_msg(timeout)
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise SetupError("QMP %s: %s" % (name, msg["error"].get("desc")))


class Run:
    def __init__(self, args):
        self.args = args
        self.art = os.path.abspath(args.artifacts)
        os.makedirs(os.path.join(self.art, "dumps"), exist_ok=True)
        for name in ("console.log", "control.log", "results.txt", "timeline.txt",
                     "qemu.log", "status.txt", "cmdline.txt"):
            p = os.path.join(self.art, name)
            if os.path.exists(p):
                os.unlink(p)
        for name in os.listdir(os.path.join(self.art, "dumps")):
            os.unlink(os.path.join(self.art, "dumps", name))
        self.rundir = tempfile.mkdtemp(prefix="vmrun.")
        self.t0 = time.monotonic()
        self.ctl_log = open(os.path.join(self.art, "control.log"), "w")
        self.results = open(os.path.join(self.art, "results.txt"), "w")
        self.timeline = open(os.path.join(self.art, "timeline.txt"), "w")
        self.proc = None
        self.ctl = None
        self.qmp = None
        self.gen = 0
        self.boots = 0
        self.status = None        # "DONE" / "FAIL"
        self.fail_msg = ""
        self.end_deadline = None
        self.panic_lines = []
        self.panic_deadline = None
        self.panic_ended = False
        self.con_off = 0
        self.con_tail = b""
        self.ctl_buf = b""
        self.allow = [re.compile(r) for r in args.allow]

    # --- logging -------------------------------------------------------
    def now(self):
        return time.monotonic() - self.t0

    def event(self, text):
        self.timeline.write("%9.3f %s\n" % (self.now(), text))
        self.timeline.flush()

    # --- setup ---------------------------------------------------------
    def make_initrd(self):
        path = os.path.join(self.rundir, "initrd.cpio")
        with open(path, "wb") as out:
            for part in self.args.initrd:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
                pad = (-out.tell()) % 4
                out.write(b"\0" * pad)
        return path

    def listen(self, name):
        path = os.path.join(self.rundir, name)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(1)
        return s, path

    def accept(self, lsock, what):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r, _, _ = select.select([lsock], [], [], 0.2)
            if r:
                conn, _ = lsock.accept()
                return conn
            if self.proc.poll() is not None:
                raise SetupError("QEMU exited (rc=%s) before connecting %s; see %s"
                                 % (self.proc.returncode, what,
                                    os.path.join(self.art, "qemu.log")))
        raise SetupError("QEMU did not connect %s" % what)

    def start(self):
        a = self.args
        for k in (a.kernel, *a.initrd):
            if not os.path.isfile(k):
                raise SetupError("no such file: %s" % k)
        initrd = self.make_initrd()
        ctl_l, ctl_path = self.listen("ctl.sock")
        qmp_l, qmp_path = self.listen("qmp.sock")
        append = a.append or ""
        if not re.search(r"(^|\s)console=ttyS0", append):
            append = ("console=ttyS0 " + append).strip()
        accel = a.accel
        if accel == "auto":
            accel = "kvm" if kvm_usable() else "tcg"
        con = os.path.join(self.art, "console.log")
        cmd = [a.qemu,
               "-machine", a.machine, "-cpu", a.cpu, "-accel", accel,
               "-m", a.mem, "-smp", str(a.smp),
               "-nodefaults", "-nographic", "-no-reboot",
               "-kernel", a.kernel, "-initrd", initrd, "-append", append,
               "-chardev", (("stdio,id=con0,mux=on,signal=off,logfile=%s" if a.interactive
                             else "file,id=con0,path=%s") % con),
               "-serial", "chardev:con0",
               "-chardev", "socket,id=ctl0,path=%s" % ctl_path, "-serial", "chardev:ctl0",
               "-chardev", "socket,id=qmp0,path=%s" % qmp_path,
               "-mon", "chardev=qmp0,mode=control"]
        for n in a.numa:
            cmd += ["-numa", n]
        for q in a.qemu_arg:
            cmd += shlex.split(q)
        with open(os.path.join(self.art, "cmdline.txt"), "w") as f:
            f.write(" ".join(shlex.quote(c) for c in cmd) + "\n")
        self.qemu_log = open(os.path.join(self.art, "qemu.log"), "wb")
        self.event("start accel=%s" % accel)
        if a.interactive:
            # The console is this terminal (and still logged); ^A x quits.
            self.proc = subprocess.Popen(cmd, stderr=self.qemu_log)
        else:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=self.qemu_log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.ctl = self.accept(ctl_l, "the control socket")
        qsock = self.accept(qmp_l, "the QMP socket")
        ctl_l.close()
        qmp_l.close()
        self.qmp = Qmp(qsock, self.event)
        greeting = self.qmp.read_msg(60)
        if "QMP" not in greeting:
            raise SetupError("unexpected QMP greeting %r" % greeting)
        self.qmp.cmd("qmp_capabilities")

    # --- console -------------------------------------------------------
    def poll_console(self):
        path = os.path.join(self.art, "console.log")
        try:
            with open(path, "rb") as f:
                f.seek(self.con_off)
                data = f.read()
        except FileNotFoundError:
            return
        if not data:
            return
        self.con_off += len(data)
        data = self.con_tail + data
        lines = data.split(b"\n")
        self.con_tail = lines.pop()
        for raw in lines:
            self.console_line(raw.decode("utf-8", "replace").rstrip("\r"))

    def console_line(self, line):
        if BOOT_RE.search(line) and "Command line" not in line:
            self.boots += 1
            self.event("console boot #%d: %s" % (self.boots, line.strip()[:120]))
        if (PANIC_RE.search(line) and not OURS_RE.search(line)
                and not any(r.search(line) for r in self.allow)):
            if not self.panic_lines:
                self.event("console crash: %s" % line.strip())
                self.panic_deadline = time.monotonic() + PANIC_GRACE
            self.panic_lines.append(line)
        if self.panic_lines and PANIC_END_RE.search(line):
            self.panic_ended = True
        if line.startswith("@@HVT FAIL") and self.status is None:
            self.status = "FAIL"
            self.fail_msg = line[len("@@HVT FAIL"):].strip() + " (console)"
            self.event("FAIL (console) %s" % self.fail_msg)
            self.end_deadline = time.monotonic() + END_GRACE

    # --- control channel -----------------------------------------------
    def send(self, text):
        self.ctl_log.write("%9.3f > %s\n" % (self.now(), text))
        self.ctl_log.flush()
        try:
            self.ctl.sendall(text.encode() + b"\n")
        except OSError as e:
            self.event("control send failed: %s" % e)

    def poll_ctl(self):
        try:
            data = self.ctl.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            if self.proc.poll() is None:
                return
            data = b""
        except OSError:
            data = b""
        if not data:
            self.ctl.close()
            self.ctl = None
            self.event("control channel closed")
            return
        self.ctl_buf += data
        while b"\n" in self.ctl_buf:
            raw, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
            line = raw.decode("utf-8", "replace").replace("\r", "")
            self.ctl_log.write("%9.3f < %s\n" % (self.now(), line))
            self.ctl_log.flush()
            idx = line.find("@@HVT ")
            if idx >= 0:
                self.message(line[idx + 6:].strip())

    def message(self, msg):
        word, _, rest = msg.partition(" ")
        if word == "BOOT":
            m = re.search(r"gen=(\d+)", rest)
            if m:
                self.gen = int(m.group(1))
            self.event("BOOT %s" % rest)
            if self.gen != self.boots - 1:
                self.event("note: gen=%d but %d kernel boots seen in the console"
                           % (self.gen, self.boots))
        elif word == "RESULT":
            key, _, value = rest.partition(" ")
            self.results.write("%d %s %s\n" % (self.gen, key, value))
            self.results.flush()
        elif word == "CKPT":
            self.checkpoint(rest)
        elif word == "LOG":
            if self.args.narrate:
                sys.stderr.write("  [gen %d] %s\n" % (self.gen, rest))
                sys.stderr.flush()
        elif word in ("DONE", "FAIL"):
            if self.status is None:
                self.status = word
                self.fail_msg = rest
                self.end_deadline = time.monotonic() + END_GRACE
            self.event("%s gen=%d %s" % (word, self.gen, rest))
            self.send("ACK %s" % word)
        else:
            self.event("unknown message: %s" % msg)

    def checkpoint(self, rest):
        toks = rest.split()
        if not toks:
            self.event("CKPT without a name")
            return
        name = toks[0]
        safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
        nums = []
        gen = self.gen
        for t in toks[1:]:
            if t.startswith("gen="):
                gen = int(t[4:])
                continue
            nums.append(int(t, 0))
        if len(nums) % 2:
            self.event("CKPT %s: odd number of BASE SIZE values" % name)
            nums.pop()
        ranges = list(zip(nums[0::2], nums[1::2]))
        t = time.monotonic()
        dumps = os.path.join(self.art, "dumps")
        out = os.path.join(dumps, safe + ".bin")
        self.qmp.cmd("stop")
        try:
            with open(out, "wb") as f:
                for i, (base, size) in enumerate(ranges):
                    part = os.path.join(dumps, ".%s.part%d" % (safe, i))
                    if size > 0:
                        self.qmp.cmd("pmemsave", val=base, size=size, filename=part)
                        with open(part, "rb") as p:
                            shutil.copyfileobj(p, f, 1 << 20)
                        os.unlink(part)
            with open(os.path.join(dumps, safe + ".ranges"), "w") as f:
                f.write("gen %d\n" % gen)
                for base, size in ranges:
                    f.write("0x%x 0x%x\n" % (base, size))
        finally:
            self.qmp.cmd("cont")
        self.event("CKPT %s gen=%d %s dumped in %.2fs" % (
            name, gen, " ".join("0x%x+0x%x" % r for r in ranges),
            time.monotonic() - t))
        self.send("GO %s" % name)

    # --- main loop -----------------------------------------------------
    def loop(self):
        deadline = time.monotonic() + self.args.timeout
        while True:
            self.poll_console()
            now = time.monotonic()
            if self.panic_lines and (self.panic_ended or now >= self.panic_deadline):
                return EXIT_PANIC, "kernel crash in the console (gen %d)" % self.gen
            if self.proc.poll() is not None:
                self.event("qemu exited rc=%d" % self.proc.returncode)
                while self.ctl is not None:
                    self.poll_ctl()
                self.poll_console()
                if self.panic_lines:
                    return EXIT_PANIC, "kernel crash in the console (gen %d)" % self.gen
                if self.status == "DONE":
                    return EXIT_DONE, "guest DONE at gen %d" % self.gen
                if self.status == "FAIL":
                    return EXIT_FAIL, "guest FAIL at gen %d: %s" % (self.gen, self.fail_msg)
                return EXIT_QEMU, ("QEMU ended unexpectedly (rc=%d) at gen %d; see %s"
                                   % (self.proc.returncode, self.gen,
                                      os.path.join(self.art, "qemu.log")))
            if self.status and now >= self.end_deadline:
                self.event("guest did not power off after %s" % self.status)
                if self.status == "DONE":
                    return EXIT_DONE, "guest DONE at gen %d (no power off)" % self.gen
                return EXIT_FAIL, "guest FAIL at gen %d: %s" % (self.gen, self.fail_msg)
            if now >= deadline:
                return EXIT_TIMEOUT, "timeout after %ds at gen %d (%d kernel boots seen)" % (
                    self.args.timeout, self.gen, self.boots)
            socks = [s for s in (self.ctl, self.qmp.sock if self.qmp else None) if s]
            r, _, _ = select.select(socks, [], [], 0.1)
            if self.ctl is not None and self.ctl in r:
                self.poll_ctl()
            if self.qmp is not None and self.qmp.sock in r:
                if not self.qmp.pending_events():
                    self.qmp = None

    def stop_qemu(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.qmp is not None:
            try:
                self.qmp.cmd("quit", timeout=5)
            except (SetupError, OSError):
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.stop_qemu()
        self.poll_console()
        if self.con_tail:
            self.console_line(self.con_tail.decode("utf-8", "replace").rstrip("\r"))
            self.con_tail = b""
        for f in (self.ctl_log, self.results, self.timeline):
            f.flush()
        shutil.rmtree(self.rundir, ignore_errors=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", nargs="+", action="extend", default=[], required=True,
                   help="one or more cpio files, concatenated in order")
    p.add_argument("--append", default="console=ttyS0")
    p.add_argument("--mem", default="1G")
    p.add_argument("--smp", default="1")
    p.add_argument("--numa", action="append", default=[],
                   help="passed as -numa VALUE (repeatable)")
    p.add_argument("--qemu-arg", action="append", default=[],
                   help="extra QEMU arguments, shell-split (repeatable)")
    p.add_argument("--timeout", type=int, default=300, help="seconds for the whole run")
    p.add_argument("--artifacts", required=True)
    p.add_argument("--machine", default=os.environ.get("HVT_MACHINE", "q35"))
    p.add_argument("--cpu", default=os.environ.get("HVT_CPU", "max"))
    p.add_argument("--accel", default=os.environ.get("HVT_ACCEL", "auto"),
                   choices=["auto", "tcg", "kvm"])
    p.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"))
    p.add_argument("--allow", action="append", default=[], metavar="REGEX",
                   help="console lines matching REGEX are not crashes (repeatable)")
    p.add_argument("--narrate", action="store_true",
                   help="print the guest's LOG lines as they come (the demo)")
    p.add_argument("--interactive", action="store_true",
                   help="console on this terminal too (debugging; use a long --timeout)")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    run = Run(args)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    rc, reason = EXIT_SETUP, "setup failed"
    try:
        run.start()
        rc, reason = run.loop()
    except SetupError as e:
        rc, reason = EXIT_SETUP, str(e)
    except KeyboardInterrupt as e:
        rc, reason = EXIT_TIMEOUT, "interrupted (%s)" % (e or "SIGINT")
    finally:
        run.cleanup()
    if rc == EXIT_PANIC:
        for line in run.panic_lines[:20]:
            print("vmrun: console: %s" % line.strip(), file=sys.stderr)
    run.event("end rc=%d %s" % (rc, reason))
    with open(os.path.join(run.art, "status.txt"), "w") as f:
        f.write("%d %s\n" % (rc, reason))
    msg = "vmrun: %s (exit %d, %.1fs, %d kernel boot(s)); artifacts in %s" % (
        reason, rc, run.now(), run.boots, run.art)
    print(msg, file=sys.stderr if rc else sys.stdout)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
