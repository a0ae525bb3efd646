"""Child processes for the kernel boundary, without the subprocess module.

Importing subprocess pulls in signal, threading, selectors, locale and re: ~5 ms of CPU in an
init container whose whole run is a few tens of ms. The backends need little of it: start a
tool with three pipes (before_exec: see pdeath.py), give it its input, collect its output and
exit status. posix.fork + posix.execv and select.poll do that; the API is Popen's subset we use.
"""

from __future__ import annotations

import posix  # os's functions without os's import (~0.9 ms): see proxyinit/environ.py
import select

from proxyinit.environ import get as getenv

SIGKILL = 9  # without importing signal (see above)
CHUNK = 65536
DEFPATH = "/bin:/usr/bin"  # os.defpath


class Child:
    """A started tool: Popen's `args`, `pid`, `returncode`, `communicate`, `kill`, `wait`."""

    def __init__(self, args: list[str], pid: int, fds: tuple[int, int, int, int]) -> None:
        self.args, self.pid, self.returncode = args, pid, None
        self._stdin, self._stdout, self._stderr, self._exec_error = fds
        self._outputs = {self._stdout: bytearray(), self._stderr: bytearray()}

    def check_exec(self) -> None:
        """Wait until the child has exec'd; OSError (as Popen raises it) if it could not."""
        if self._exec_error < 0:
            return
        with open(self._exec_error, "rb") as reported:
            error = reported.read()  # empty: closed by the exec (close-on-exec)
        self._exec_error = -1
        if error:
            self.wait()
            for fd in (self._stdin, self._stdout, self._stderr):
                posix.close(fd)
            self._stdin = self._stdout = self._stderr = -1
            number = int(error)
            raise OSError(number, posix.strerror(number), self.args[0])

    def communicate(self, text: str | None = None) -> tuple[str, str]:
        """Write `text` and close stdin, read stdout and stderr to their end, wait."""
        self.check_exec()
        poller = select.poll()
        pending = memoryview((text or "").encode(errors="surrogateescape"))
        if pending and self._stdin >= 0:
            posix.set_blocking(self._stdin, False)
            poller.register(self._stdin, select.POLLOUT)
        else:
            self._close_stdin()
        open_outputs = {fd for fd in self._outputs if fd >= 0}
        for fd in open_outputs:
            poller.register(fd, select.POLLIN)
        while open_outputs or self._stdin >= 0:
            for fd, _ in poller.poll():
                if fd == self._stdin:
                    pending = self._write(pending, poller)
                elif fd in open_outputs:
                    chunk = posix.read(fd, CHUNK)
                    self._outputs[fd] += chunk
                    if not chunk:
                        poller.unregister(fd)
                        open_outputs.discard(fd)
                        posix.close(fd)
        self.wait()
        return tuple(  # type: ignore[return-value]
            bytes(self._outputs[fd]).decode(errors="surrogateescape")
            for fd in (self._stdout, self._stderr)
        )

    def _write(self, pending: memoryview, poller) -> memoryview:
        try:
            pending = pending[posix.write(self._stdin, pending[:CHUNK]) :]
        except BlockingIOError:
            return pending
        except BrokenPipeError:  # it stopped reading (it failed): its stderr says why
            pending = pending[:0]
        if not pending:
            poller.unregister(self._stdin)
            self._close_stdin()
        return pending

    def _close_stdin(self) -> None:
        if self._stdin >= 0:
            posix.close(self._stdin)
            self._stdin = -1

    def wait(self) -> int:
        if self.returncode is None:
            _, status = posix.waitpid(self.pid, 0)
            self.returncode = posix.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            posix.kill(self.pid, SIGKILL)
            if self._exec_error >= 0:  # never exec'd as far as we know: nothing to report
                posix.close(self._exec_error)
                self._exec_error = -1


def start(argv: list[str], before_exec=None) -> Child:
    """Fork, run `before_exec()` in the child, exec argv[0] (a path). Returns at once, so
    several children exec side by side; communicate() (or check_exec()) raises OSError if the
    exec failed: the child reports its errno on a close-on-exec pipe."""
    stdin_r, stdin_w = posix.pipe()  # close-on-exec; dup2 below makes 0-2 inheritable
    stdout_r, stdout_w = posix.pipe()
    stderr_r, stderr_w = posix.pipe()
    error_r, error_w = posix.pipe()
    pid = posix.fork()
    if pid == 0:  # the child: only the plumbing, before_exec and the exec
        try:
            posix.dup2(stdin_r, 0)
            posix.dup2(stdout_w, 1)
            posix.dup2(stderr_w, 2)
            for fd in (0, 1, 2):  # dup2 onto itself (a parent without 0-2) keeps close-on-exec
                posix.set_inheritable(fd, True)
            if before_exec is not None:
                before_exec()
            posix.execv(argv[0], argv)
        except OSError as err:
            posix.write(error_w, str(err.errno or 0).encode())
        finally:
            posix._exit(127)
    for fd in (stdin_r, stdout_w, stderr_w, error_w):
        posix.close(fd)
    return Child(argv, pid, (stdin_w, stdout_r, stderr_r, error_r))


def which(name: str) -> str | None:
    """The executable `name` on PATH, else in /usr/sbin or /sbin (shutil.which's search, minus
    the imports of shutil and os: os.path.join's rule, as a string)."""
    for directory in getenv("PATH", DEFPATH).split(":") + ["/usr/sbin", "/sbin"]:
        path = f"{directory}{name}" if directory[-1:] in ("", "/") else f"{directory}/{name}"
        if posix.access(path, posix.X_OK):
            return path
    return None
