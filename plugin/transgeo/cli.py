"""Run the transgeo command from an argv list and report to a Processing feedback.

    result = run_command(['/usr/bin/transgeo', 'index', 'a.tif', '--db', 'x.sqlite'], feedback)
    result.returncode, result.stdout, result.messages, result.canceled

- No shell: the argv list goes to the process as is (file names with spaces or
  quotes stay intact).
- Progress: the CLI draws a progress bar on stderr when stderr is a terminal
  ("\\r[#####.....] 12/40 tiles  3.1/s  ETA 9s"). On POSIX the command's stderr
  is a pseudo-terminal so that it does; each redraw (split on \\r or \\n, ANSI
  codes removed) that starts with a "[...] DONE/TOTAL" bar sets
  feedback.setProgress(100 * DONE / TOTAL). Every other stderr line is a
  message: shown in the log and kept for the error report.
- Cancel: feedback.isCanceled() is polled every 0.1 s; when set, the command
  (on POSIX: its whole process group, as it runs in a session of its own) gets
  SIGTERM, then SIGKILL after TERM_GRACE_S. On SIGTERM transgeo stops at its
  next progress step and keeps what it has committed (its writes are
  transactional), so a cancelled "index" is finished by running it again.
- stdout is collected (and shown in the log).
"""
import codecs
import os
import queue
import re
import signal
import subprocess
import threading
import time

TERM_GRACE_S = 10.0  # time for transgeo to reach its next progress step and commit
POLL_S = 0.1

_ANSI_RE = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
_BAR_RE = re.compile(r'^\[[^\]]*\]\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)')
# A redraw not yet ended by \r or \n counts once its total is complete (followed
# by a blank or an escape): the bar stays on screen while the CLI works on.
_BAR_DONE_RE = re.compile(r'^\[[^\]]*\]\s*\d+(?:\.\d+)?\s*/\s*\d+(?:\.\d+)?[\s\x1b]')
_SPLIT_RE = re.compile(r'[\r\n]')


class CommandResult:
    def __init__(self, returncode, stdout, messages, canceled):
        self.returncode = returncode  # exit status; negative: killed by that signal
        self.stdout = stdout          # everything the command printed on stdout (text)
        self.messages = messages      # stderr lines that are not progress redraws
        self.canceled = canceled      # True when stopped because feedback was cancelled


def parse_progress(segment):
    """Percent (0..100) for a progress-bar redraw, or None for a message line."""
    m = _BAR_RE.match(segment)
    if not m:
        return None
    done, total = float(m.group(1)), float(m.group(2))
    if total <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * done / total))


class _StderrParser:
    """Splits the stderr byte stream into progress redraws and message lines."""

    def __init__(self, on_progress, on_message):
        self._decoder = codecs.getincrementaldecoder('utf-8')(errors='replace')
        self._pending = ''
        self._on_progress = on_progress
        self._on_message = on_message
        self._last_pct = None

    def feed(self, data, final=False):
        self._pending += self._decoder.decode(data, final)
        parts = _SPLIT_RE.split(self._pending)
        self._pending = '' if final else parts.pop()
        for part in parts:
            self._segment(part)
        if self._pending and _BAR_DONE_RE.match(self._pending):
            self._progress(parse_progress(_ANSI_RE.sub('', self._pending).strip()))

    def _segment(self, raw):
        text = _ANSI_RE.sub('', raw).strip()
        if not text:
            return
        pct = parse_progress(text)
        if pct is None:
            self._on_message(text)
        else:
            self._progress(pct)

    def _progress(self, pct):
        # A redraw seen first while pending and again once ended reports once.
        if pct is not None and pct != self._last_pct:
            self._last_pct = pct
            self._on_progress(pct)


def _reader(fd, tag, out_queue):
    """Thread body: forward chunks read from fd until EOF (or EIO on a pty)."""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the pty's other side is closed
            data = b''
        if not data:
            out_queue.put((tag, None))
            return
        out_queue.put((tag, data))


def _open_stderr():
    """(fd for the child, fd to read) - a pseudo-terminal on POSIX, else a pipe."""
    try:
        master, slave = os.openpty()  # POSIX only
        return slave, master
    except (AttributeError, OSError):
        r, w = os.pipe()
        return w, r


def run_command(argv, feedback=None, env=None, cwd=None):
    """Run argv to completion (or cancellation) and return a CommandResult.

    Raises OSError (e.g. FileNotFoundError) when the program cannot be started.
    feedback may be None. Progress is reported to feedback as 0..100.
    """
    messages = []
    stdout_chunks = []

    def on_progress(pct):
        if feedback is not None:
            feedback.setProgress(pct)

    def on_message(line):
        messages.append(line)
        if feedback is not None:
            feedback.pushConsoleInfo(line)

    child_err, read_err = _open_stderr()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=child_err, env=env, cwd=cwd, close_fds=True,
                                start_new_session=(os.name == 'posix'))
    except OSError:
        os.close(child_err)
        os.close(read_err)
        raise
    os.close(child_err)  # the child holds its copy; EOF comes when it exits

    q = queue.Queue()
    readers = [threading.Thread(target=_reader, args=(proc.stdout.fileno(), 'out', q), daemon=True),
               threading.Thread(target=_reader, args=(read_err, 'err', q), daemon=True)]
    for t in readers:
        t.start()
    parser = _StderrParser(on_progress, on_message)
    open_streams = {'out', 'err'}
    canceled = False
    exited_at = None
    try:
        while open_streams:
            try:
                tag, data = q.get(timeout=POLL_S)
            except queue.Empty:
                tag, data = None, None
            if tag == 'err':
                if data is None:
                    open_streams.discard('err')
                    parser.feed(b'', final=True)
                else:
                    parser.feed(data)
            elif tag == 'out':
                if data is None:
                    open_streams.discard('out')
                else:
                    stdout_chunks.append(data)
            if not canceled and feedback is not None and feedback.isCanceled():
                canceled = True
                _stop(proc)
            if proc.poll() is not None:
                # A grandchild holding our pipes must not keep us waiting forever.
                exited_at = exited_at or time.monotonic()
                if time.monotonic() - exited_at > 2.0:
                    break
    finally:
        if proc.poll() is None:
            _stop(proc)
        proc.wait()
        proc.stdout.close()
        os.close(read_err)

    stdout = b''.join(stdout_chunks).decode('utf-8', errors='replace')
    if feedback is not None:
        for line in stdout.splitlines():
            if line.strip():
                feedback.pushConsoleInfo(line)
    return CommandResult(proc.returncode, stdout, messages, canceled)


def _signal(proc, sig):
    """Signal the command's process group (its own session on POSIX), else the process."""
    if os.name == 'posix':
        try:
            os.killpg(proc.pid, sig)
            return
        except OSError:
            pass
    if proc.poll() is None:
        proc.send_signal(sig)


def _stop(proc):
    """SIGTERM, then SIGKILL if the command has not exited after TERM_GRACE_S."""
    if proc.poll() is not None:
        return
    _signal(proc, signal.SIGTERM)
    try:
        proc.wait(TERM_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        proc.wait()


def error_text(result, program='transgeo'):
    """The message to show for a failed run: the CLI's own stderr lines.

    Drops the "Try 'transgeo CMD --help'." hint (there is no terminal to try it
    in); falls back to the exit status when the command printed nothing.
    """
    lines = [m for m in result.messages if not re.match(r"^Try '.*--help'\.?$", m)]
    if lines:
        return '\n'.join(lines)
    if result.returncode < 0:
        return '{} was killed by signal {}'.format(program, -result.returncode)
    return '{} failed with exit status {} and no message'.format(program, result.returncode)
