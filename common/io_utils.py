"""File writing that never leaves a half-written file behind, and durations for progress lines."""
import contextlib
import fcntl
import json
import os
import tempfile


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


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding="utf-8"):
  """Yields a file that replaces `path` only when the block finishes without an exception.

  The file is written next to `path` (same file system, so the final rename is atomic) and gets
  the permissions a plain `open` would give it under the current umask; readers never see a
  partial file, and a failure leaves neither a partial `path` nor the temporary file.
  """
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", dir=directory)
  try:
    os.fchmod(fd, 0o666 & ~current_umask())
    with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
      yield f
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
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
    lock.seek(0)
    holder = lock.read().strip() or "unknown"
    lock.close()
    return None, holder
  lock.seek(0)
  lock.truncate()
  lock.write(f"{os.getpid()}\n")
  lock.flush()
  return lock, None
