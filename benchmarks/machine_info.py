"""What the benchmark scripts print about the machine, so recorded numbers say where they ran."""
import os
import platform


def cpu_model():
  """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
      for line in cpuinfo:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown CPU"


def usable_cores():
  """CPUs this process may run on (what `nproc` prints), which can be fewer than the machine's."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count()


def load_average():
  """The 1, 5 and 15 minute load averages as one string: the neighbours' share of the CPUs."""
  return "%.2f %.2f %.2f" % os.getloadavg()
