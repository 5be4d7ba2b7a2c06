"""Progress lines of long metrics: what they say, and that a metric's announced work is the
work its fits count (so the ETA covers the whole metric, not the fits already started)."""
import time
from unittest import mock

import numpy as np
import tensorflow as tf

from evaluation import progress
from evaluation.metrics import downstream
from evaluation.metrics import reduced_downstream
from evaluation.metrics import strong_downstream

import identity_factors


def _first_line(lines, timeout=5.0):
  deadline = time.monotonic() + timeout
  while not lines and time.monotonic() < deadline:
    time.sleep(0.01)
  return lines[0] if lines else None


class ProgressLineTest(tf.test.TestCase):

  def test_lines_name_metric_stage_elapsed_and_eta(self):
    lines = []
    with progress.reporting("dci", lines.append, first_after=0.05, every=0.05):
      progress.begin("fitting logistic regressions (factors)", 10)
      for _ in range(5):
        progress.advance()
      progress.begin("fitting logistic regressions (factors)", 10)  # a second fit adds its work
      line = _first_line(lines)
    self.assertRegex(line, r"^\[zoo-evaluate\] dci: fitting logistic regressions \(factors\) "
                           r"5/20 \(elapsed 0m00s, stage ETA 0m\d\ds\)$")
    count = len(lines)
    progress.report("outside a metric")  # nothing to report to: no error, no line
    progress.advance()
    self.assertLen(lines, count)

  def test_planned_stage_ignores_the_fits_own_announcements(self):
    lines = []
    with progress.reporting("strong_downstream", lines.append, first_after=0.05,
                            every=0.05) as reporter:
      progress.plan("fitting boosted trees", 400, percent=True)
      progress.begin("fitting boosted trees", 100, percent=True)  # one fit of four
      progress.advance(100)
      line = _first_line(lines)
      self.assertEqual((reporter.done, reporter.total), (100, 400))
      # Another stage ends the plan: its own fits add up again.
      progress.begin("fitting logistic regressions (factors)", 2)
      progress.begin("fitting logistic regressions (factors)", 3)
      self.assertEqual((reporter.done, reporter.total), (0, 5))
    self.assertRegex(line, r"^\[zoo-evaluate\] strong_downstream: fitting boosted trees 25% "
                           r"\(elapsed 0m00s, stage ETA 0m\d\ds\)$")

  def test_quick_metric_prints_nothing(self):
    lines = []
    with progress.reporting("mig", lines.append, first_after=5.0):
      progress.report("drawing and encoding points", 1, 2)
    self.assertEqual(lines, [])


class AnnouncedWorkTest(tf.test.TestCase):
  """Each metric's plan counts exactly the work its fits report: done equals total at the end,
  and the total is the closed form of rows x trees per stage x 100 stages (boosted trees; the
  identity data's factors have 4 and 5 values, so 4 and 5 trees per stage) or of fits."""

  def run_metric(self, name, function, **settings):
    with progress.reporting(name, lambda line: None, first_after=1000.0) as reporter:
      function(identity_factors.IdentityFactorsData(), lambda x: x, np.random.RandomState(3),
               **settings)
    # Planned: the total was known before the first fit, and no fit's begin added to it.
    self.assertTrue(reporter.planned)
    return reporter.done, reporter.total

  def test_strong_downstream(self):
    # Per size n: the plain fit of both factors (4 + 5 trees), then one shifted fit per target
    # (4 + 5): 18 n trees per stage.
    reports = []
    report = progress.report

    def recorded(stage, done=None, total=None):
      reports.append((stage, done, total))
      report(stage, done, total)

    with mock.patch.object(progress, "report", recorded):
      done, total = self.run_metric("strong_downstream",
                                    strong_downstream.compute_strong_downstream,
                                    num_train=(50, 300), num_test=100, n_experiment=1, n_jobs=2)
    self.assertEqual(total, 18 * (50 + 300) * 100)
    self.assertEqual(done, total)
    # Before the fits, the points drawn: both sizes' plain sets and one shifted copy of each
    # per target, (50 + 100 + 300 + 100) x 3, reported after every shifted pair.
    self.assertEqual(reports[-1], ("drawing and encoding points", 1650, 1650))
    self.assertLen(reports, 4)

  def test_strong_downstream_logistic_regression(self):
    done, total = self.run_metric("strong_downstream",
                                  strong_downstream.compute_strong_downstream,
                                  num_train=(100,), num_test=30, n_experiment=1, n_jobs=1,
                                  predictor="logistic_regression_cv")
    self.assertEqual((done, total), (2 + 2, 2 + 2))  # plain: 2 factors; shifted: 1 per target

  def test_reduced_downstream(self):
    # Per size n: the importances of both factors, then both factors again per reduced factor.
    done, total = self.run_metric("reduced_downstream",
                                  reduced_downstream.compute_reduced_downstream,
                                  num_train=(60, 250), num_test=50, n_jobs=2)
    self.assertEqual(total, 3 * 9 * (60 + 250) * 100)
    self.assertEqual(done, total)

  def test_downstream_boosted_trees_over_all_sizes(self):
    done, total = self.run_metric("downstream_boosted_trees",
                                  downstream.compute_downstream_boosted_trees,
                                  num_train=(30, 220), num_test=40, n_jobs=2)
    self.assertEqual(total, 9 * (30 + 220) * 100)
    self.assertEqual(done, total)


if __name__ == "__main__":
  tf.test.main()
