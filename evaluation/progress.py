"""Progress lines for long metrics: which metric, what it is doing, how long, how much longer.

zoo-evaluate runs each metric inside `reporting(metric, log_fn)`. A background thread prints a
line when the metric has run for `first_after` seconds and then every `every` seconds:

  [zoo-evaluate] dci: fitting boosted trees 42% (elapsed 1m05s, stage ETA 1m30s)

Library code says what it is doing with `report(stage, done, total)`, or `begin(stage, total)`
and `advance()` from any thread; outside `reporting` (a metric called directly) they do
nothing. The ETA is the stage's: elapsed time in the stage
divided by the work done, times the work left, shown once a tenth of the stage is done.

A stage that many fits share (each fit `begin`s its own part) only knows the work of the fits
already started, which makes the ETA far too short; a metric that knows its whole work up
front says so with `plan(stage, total)`, and the fits' own `begin`s then add nothing. Work
counted in units of unequal cost (boosted trees: rows times trees) is shown as a percentage.
"""
import contextlib
import threading
import time

from common import io_utils

_lock = threading.Lock()
_active = None


class _Reporter:

  def __init__(self, metric, log_fn, first_after, every):
    self.metric = metric
    self.log_fn = log_fn
    self.first_after = first_after
    self.every = every
    self.start = time.monotonic()
    self.stage = "running"
    self.stage_start = self.start
    self.done = None
    self.total = None
    self.planned = False
    self.percent = False
    self.stopped = threading.Event()
    self.thread = threading.Thread(target=self._run, name=f"progress-{metric}", daemon=True)

  def _run(self):
    if self.stopped.wait(self.first_after):
      return
    while True:
      self.log_fn(self.line())
      if self.stopped.wait(self.every):
        return

  def line(self):
    with _lock:
      now = time.monotonic()
      text = f"[zoo-evaluate] {self.metric}: {self.stage}"
      if self.done is not None and self.percent and self.total:
        text += f" {min(100.0, 100.0 * self.done / self.total):.0f}%"
      elif self.done is not None:
        text += f" {self.done:,}" + (f"/{self.total:,}" if self.total else "")
      text += f" (elapsed {io_utils.format_duration(now - self.start)}"
      if self.total and self.done and self.done >= 0.1 * self.total:
        left = (now - self.stage_start) / self.done * (self.total - self.done)
        text += f", stage ETA {io_utils.format_duration(left)}"
      return text + ")"


def report(stage, done=None, total=None):
  """Says what the running metric does: `stage` (text), optionally `done` of `total` units."""
  with _lock:
    reporter = _active
    if reporter is None:
      return
    if stage != reporter.stage:
      reporter.stage = stage
      reporter.stage_start = time.monotonic()
    reporter.done = done
    reporter.total = total
    reporter.planned = reporter.percent = False


def begin(stage, total, percent=False):
  """Adds `total` units of work to `stage`: a new stage starts counting from zero, the running
  one (several fits of one metric, maybe concurrent) adds to its total, a planned one (`plan`)
  already counts it. `percent`: show done/total as a percentage (units of unequal cost)."""
  with _lock:
    reporter = _active
    if reporter is None:
      return
    if reporter.stage == stage and reporter.total is not None:
      if not reporter.planned:
        reporter.total += total
      return
    _start(reporter, stage, total, planned=False, percent=percent)


def plan(stage, total, percent=False):
  """Starts `stage` with all of its `total` units announced: the `begin(stage, ...)` calls of
  the fits that make it up add nothing more, so the ETA covers the whole stage."""
  with _lock:
    if _active is not None:
      _start(_active, stage, total, planned=True, percent=percent)


def _start(reporter, stage, total, planned, percent):
  reporter.stage, reporter.stage_start = stage, time.monotonic()
  reporter.done, reporter.total = 0, total
  reporter.planned, reporter.percent = planned, percent


def advance(amount=1):
  """Counts `amount` more units of the current stage as done (safe from any thread)."""
  with _lock:
    if _active is not None and _active.done is not None:
      _active.done += amount


@contextlib.contextmanager
def reporting(metric, log_fn=print, first_after=5.0, every=15.0):
  """Prints progress lines for `metric` while the block runs (see the module docstring)."""
  global _active
  reporter = _Reporter(metric, log_fn, first_after, every)
  with _lock:
    previous, _active = _active, reporter
  reporter.thread.start()
  try:
    yield reporter
  finally:
    reporter.stopped.set()
    reporter.thread.join()
    with _lock:
      _active = previous
