"""Processes and directories for the fault-injection tests: who is running, and read-only dirs."""
import os
import subprocess


def process_status(pid):
  """(state, parent pid) of a process from /proc, or None if there is no such process."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
  except OSError:
    return None
  return fields[0], int(fields[1])


def is_running(pid):
  """Whether a process exists and is no zombie (killed, not yet reaped by its new parent)."""
  status = process_status(pid)
  return status is not None and status[0] != "Z"


def child_processes(pid, command_part):
  """Pids of the processes whose parent is `pid` and whose command line contains command_part."""
  found = []
  for entry in filter(str.isdigit, os.listdir("/proc")):
    status = process_status(entry)
    try:
      with open(f"/proc/{entry}/cmdline", "rb") as f:
        command = f.read().decode(errors="replace")
    except OSError:
      continue
    if status and status[1] == pid and command_part in command:
      found.append(int(entry))
  return found


def kill_if_running(pid):
  if is_running(pid):
    os.kill(pid, 9)


def make_read_only(test, path):
  """Makes the empty directory `path` read-only for this process until the test ends.

  Root ignores permission bits, so for root it becomes a read-only tmpfs mount. Returns False
  where that cannot be done (root without the right to mount).
  """
  if os.geteuid() != 0:
    os.chmod(path, 0o555)
    test.addCleanup(os.chmod, path, 0o755)
    return True
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", path],
                           capture_output=True, check=False)
  if mounted.returncode != 0:
    return False
  test.addCleanup(subprocess.run, ["umount", path], check=True)
  return True


def small_file_system(test, path, size="2m"):
  """Mounts an empty tmpfs of `size` at the empty directory `path` until the test ends.

  For the full-disk cases (root only). Returns False where that cannot be done.
  """
  if os.geteuid() != 0:
    return False
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                           capture_output=True, check=False)
  if mounted.returncode != 0:
    return False
  test.addCleanup(subprocess.run, ["umount", "-l", path], check=True)
  return True


def fill(path, leave_bytes=0):
  """Fills the file system of the directory `path` with a file `path/filler` until at most
  `leave_bytes` stay free (tmpfs counts in pages of 4 KiB)."""
  free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
  with open(os.path.join(path, "filler"), "ab") as f:
    chunk = b"\0" * 4096
    while free - len(chunk) >= leave_bytes:
      try:
        f.write(chunk)
        f.flush()
      except OSError:
        break
      free -= len(chunk)
  return os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
