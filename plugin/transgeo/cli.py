"""Run the transgeo command from an argv list and report to a Processing feedback.

    argv = with_progress(['/usr/bin/transgeo', 'index', 'a.tif', '--db', 'x.sqlite'])
    result = run_command(argv, feedback)
    result.returncode, result.stdout, result.messages, result.canceled

- No shell: the argv list goes to the process as is (file names with spaces or
  quotes stay intact).
- Progress: with_progress() adds --progress=json to the commands that report
  progress (index, locate, eval); they then write one JSON object per line to
  stderr (transgeo(1), PROGRESS):
      {"done":72,"total":456,"stage":"tiles","item":1,"items":2,"message":"..."}
  and each such line sets feedback.setProgress(100 * (item - 1 + done / total)
  / items). Every other stderr line is a message: shown in the log and kept
  for the error report. stderr is a plain pipe.
- Cancel: feedback.isCanceled() is polled every 0.1 s; when set, the command
  (on POSIX: its whole process group, as it runs in a session of its own) gets
  SIGTERM, then SIGKILL after TERM_GRACE_S. On SIGTERM transgeo stops at its
  next progress step and keeps what it has committed (its writes are
  transactional), so a cancelled "index" is finished by running it again.
- stdout is collected (and shown in the log).
"""
import codecs
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time

TERM_GRACE_S = 10.0  # time for transgeo to reach its next progress step and commit
POLL_S = 0.1
PROGRESS_OPTION = '--progress=json'
PROGRESS_COMMANDS = ('index', 'locate', 'eval')  # the subcommands that take PROGRESS_OPTION


class CommandResult:
    def __init__(self, returncode, stdout, messages, canceled):
        self.returncode = returncode  # exit status; negative: killed by that signal
        self.stdout = stdout          # everything the command printed on stdout (text)
        self.messages = messages      # stderr lines that are not progress objects
        self.canceled = canceled      # True when stopped because feedback was cancelled


def with_progress(argv):
    """argv with --progress=json after the subcommand when it reports progress."""
    argv = list(argv)
    if len(argv) > 1 and argv[1] in PROGRESS_COMMANDS and PROGRESS_OPTION not in argv:
        argv.insert(2, PROGRESS_OPTION)
    return argv


def parse_progress(line):
    """Percent (0..100) for a --progress=json line, or None for a message line."""
    line = line.strip()
    if not line.startswith('{'):
        return None
    try:
        obj = json.loads(line)
        done, total = float(obj['done']), float(obj['total'])
        item, items = int(obj.get('item', 1)), int(obj.get('items', 1))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if items < 1 or not 1 <= item <= items:
        item, items = 1, 1
    frac = min(1.0, max(0.0, done / total)) if total > 0 else 0.0
    return max(0.0, min(100.0, 100.0 * (item - 1 + frac) / items))


class _StderrParser:
    """Splits the stderr byte stream into progress objects and message lines."""

    def __init__(self, on_progress, on_message):
        self._decoder = codecs.getincrementaldecoder('utf-8')(errors='replace')
        self._pending = ''
        self._on_progress = on_progress
        self._on_message = on_message
        self._last_pct = None

    def feed(self, data, final=False):
        self._pending += self._decoder.decode(data, final)
        lines = self._pending.split('\n')
        self._pending = '' if final else lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, raw):
        text = raw.strip()
        if not text:
            return
        pct = parse_progress(text)
        if pct is None:
            self._on_message(text)
        elif pct != self._last_pct:
            self._last_pct = pct
            self._on_progress(pct)


def _reader(fd, tag, out_queue):
    """Thread body: forward chunks read from fd until EOF."""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            out_queue.put((tag, None))
            return
        out_queue.put((tag, data))


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

    read_err, child_err = os.pipe()
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
