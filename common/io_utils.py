"""File writing that never leaves a half-written file behind, locks for one writer per target,
and durations for progress lines.

Temporary files and staging directories are named after the process that made them
(`<prefix><pid>@<host>-<random>`), so that the next writer to the same place can remove those
of processes that died (`kill -9`) without touching those of a writer still at work, on this
machine or on another one sharing the file system.
"""
import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import tempfile
import time

# This machine's name as it appears in owner tags: letters, digits and `_` only.
_HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "localhost"
# What follows a prefix in the name of something a process made: its pid, optionally its host
# (staging directories of exports before hosts were recorded have none), then `-`.
_OWNER = re.compile(r"^(\d+)(?:@(\w+))?-")


def current_umask():
  """The process's umask, read without changing it (Linux reports it in /proc/self/status)."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("Umask:"):
          return int(line.split()[1], 8)
  except OSError:
    pass
  mask = os.umask(0o022)  # Elsewhere: the only portable way to read it is to set it.
  os.umask(mask)
  return mask


def owner_tag():
  """`<pid>@<host>`: names what this process makes, for `remove_stale`."""
  return f"{os.getpid()}@{_HOST}"


def pid_is_running(pid):
  """Whether a process with this pid runs on this machine (a zombie counts as running)."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's process
    return True
  return True


def stale_owner(name, prefix):
  """The pid that made the entry `name` (`<prefix><pid>@<host>-...`) if that process was on this
  machine and no longer runs, else None (also for names of another form)."""
  if not name.startswith(prefix):
    return None
  match = _OWNER.match(name[len(prefix):])
  if not match or match.group(2) not in (None, _HOST):
    return None
  pid = int(match.group(1))
  return None if pid_is_running(pid) else pid


def remove_stale(directory, prefix, log_fn=None, what="a process"):
  """Removes the files and directories in `directory` named `<prefix><pid>@<host>-...` whose
  process died; says so through log_fn. Returns the paths removed."""
  removed = []
  try:
    names = os.listdir(directory)
  except OSError:
    return removed
  for name in sorted(names):
    pid = stale_owner(name, prefix)
    if pid is None:
      continue
    path = os.path.join(directory, name)
    try:
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      else:
        os.remove(path)
    except FileNotFoundError:  # another writer removed it first
      continue
    except OSError:
      continue
    removed.append(path)
    if log_fn is not None:
      log_fn(f"removed {path}, left by {what} (pid {pid}) that did not finish")
  return removed


def _temporary_prefix(path):
  return f".{os.path.basename(path)}.tmp-"


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding="utf-8"):
  """Yields a file that replaces `path` only when the block finishes without an exception.

  The file is written next to `path` (same file system, so the final rename is atomic) and gets
  the permissions a plain `open` would give it under the current umask; readers never see a
  partial file, and a failure leaves neither a partial `path` nor the temporary file. Temporary
  files of `path` left by writers that were killed are removed first. A failed write (a full
  disk, say) raises an OSError that names `path`.
  """
  directory = os.path.dirname(os.path.abspath(path))
  prefix = _temporary_prefix(path)
  remove_stale(directory, prefix)
  fd, tmp = tempfile.mkstemp(prefix=f"{prefix}{owner_tag()}-", dir=directory)
  try:
    os.fchmod(fd, 0o666 & ~current_umask())
    with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
      yield f
    os.replace(tmp, path)
  except BaseException as e:
    if os.path.exists(tmp):
      os.remove(tmp)
    if isinstance(e, OSError) and e.filename is None and e.errno is not None:
      raise OSError(e.errno, e.strerror, path) from e
    raise


def write_json_atomically(path, obj):
  """Writes obj as indented, key-sorted JSON to path via `atomic_write`."""
  with atomic_write(path) as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write("\n")


def write_text_atomically(path, text):
  with atomic_write(path) as f:
    f.write(text)


def format_duration(seconds):
  """`1h02m` from an hour on, else `3m05s` (rounded to whole seconds; negative counts as 0)."""
  seconds = int(round(max(seconds, 0)))
  if seconds >= 3600:
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
  return f"{seconds // 60}m{seconds % 60:02d}s"


def check_writable_directory(path, what):
  """Raises ValueError unless `path` is a writable directory or can be created as one.

  `what` names the input in the message (`--output_dir`). Writability is probed by creating
  and removing a file, since permission bits say nothing on a read-only mount and nothing for
  root.
  """
  if not path:
    raise ValueError(f"{what}: expected a directory path, got an empty string")
  target = os.path.abspath(path)
  existing = target
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    where = "exists and is not a directory" if existing == target else (
        f"lies under {existing}, which is not a directory")
    raise ValueError(f"{what} {path}: {where}")
  try:
    fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=existing)
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    where = "is not writable" if existing == target else (
        f"cannot be created: {existing} is not writable")
    raise ValueError(f"{what} {path}: {where} ({e.strerror})") from None


def try_lock(path):
  """Takes an exclusive lock on the file `path` (created if missing) without waiting.

  The lock lasts while the returned file is open and dies with the process, so a killed holder
  leaves no stale lock. The holder's pid is written into the file for others to name.

  Returns:
    (open file, None) when the lock was taken, or (None, the holder's pid as text) when another
    process holds it.
  """
  lock = open(path, "a+")  # pylint: disable=consider-using-with
  try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    # The holder writes its pid just after taking the lock: wait a moment for a whole line.
    holder = ""
    for _ in range(50):
      lock.seek(0)
      holder = lock.read()
      if holder.endswith("\n"):
        break
      time.sleep(0.01)
    lock.close()
    return None, holder.strip() or "unknown"
  lock.seek(0)
  lock.truncate()
  lock.write(f"{os.getpid()}\n")
  lock.flush()
  return lock, None


def file_state(path):
  """What identifies the file at `path` as written (device, inode, size, modification time), or
  None where there is none; equal states mean no writer replaced it in between."""
  try:
    status = os.stat(path)
  except OSError:  # none there (or no directory to hold one: the writer says so later)
    return None
  return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def check_unchanged(path, state, flag, target, program):
  """Raises ValueError if the file at `path` is no longer in `state` (from `file_state` when
  this process started): another `program` published `target` meanwhile, and the first to
  finish wins. `state` False skips the check."""
  if state is not False and file_state(path) != state:
    raise ValueError(f"{flag} {target}: {os.path.basename(path)} was written by another "
                     f"{program} after this one started; not replacing it (run it again to "
                     "replace it)")


def lock_target(path, flag, program):
  """Makes this process the one writer of the file or directory `path`, or raises.

  The lock is the file `.<name>.<program>.lock` beside `path` (its parent is created if
  missing), so that two processes publishing the same target cannot both succeed while writers
  of other targets in the same directory do not wait for each other. It is held while the
  returned file is open and dies with the process.

  Raises:
    ValueError naming `flag`, `path` and the pid of the process that holds the lock.
  """
  target = os.path.abspath(path)
  parent = os.path.dirname(target)
  os.makedirs(parent, exist_ok=True)
  lock, holder = try_lock(os.path.join(parent, f".{os.path.basename(target)}.{program}.lock"))
  if lock is None:
    raise ValueError(f"{flag} {path}: another {program} (pid {holder}) is writing it; wait for "
                     "it to finish or stop it")
  return lock
