"""Shared pieces of the tests of the data sets read from files."""
import os
from unittest import mock

import numpy as np
import tensorflow as tf

from zoo.data import locations


class FileTestCase(tf.test.TestCase):
  """A temporary folder, a RandomState, and the one-line error assertion."""

  def setUp(self):
    super().setUp()
    self.dir = self.get_temp_dir()
    self.random_state = np.random.RandomState(0)
    # No test may see a DISENTANGLEMENT_LIB_DATA of the machine it runs on.
    patcher = mock.patch.dict(os.environ)
    patcher.start()
    self.addCleanup(patcher.stop)
    os.environ.pop(locations.ENV_VAR, None)

  def path(self, *names):
    path = os.path.join(self.dir, *names)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path

  def assert_one_line_error(self, error_type, pattern, fn, *args, **kwargs):
    """fn(...) raises error_type whose message is one line matching `pattern`."""
    with self.assertRaisesRegex(error_type, pattern) as context:
      fn(*args, **kwargs)
    # gin appends "In call to configurable ..." lines; the message itself must be one line.
    message = str(context.exception).split("\n  In call to configurable")[0]
    self.assertNotIn("\n", message)
    return message
