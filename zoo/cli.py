"""Shared pieces of the absl binaries: gin parsing and turning user mistakes into one line."""
import contextlib
import os
import sys

from absl import flags
from absl import logging
import gin


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class UsageError(Exception):
  """A mistake in the command line or the configuration (reported without a stack trace)."""


def parse_gin(config_files, bindings):
  """Parses gin files and bindings; a missing file or bad binding becomes a UsageError."""
  for path in config_files or ():
    if not os.path.isfile(path):
      raise UsageError(f"--gin_config {path}: file not found")
  # `include 'gin_configs/...'` lines resolve from the working directory or the repository root.
  gin.add_config_file_search_path(REPO_ROOT)
  try:
    gin.parse_config_files_and_bindings(config_files or [], bindings or [])
  except (ValueError, SyntaxError, KeyError, TypeError) as e:
    message = " ".join(str(e).split())
    raise UsageError(f"bad gin configuration: {message}") from e


@contextlib.contextmanager
def one_line_errors(program):
  """Reports user mistakes as `program: error: ...` on stderr and exits with status 1.

  Also lowers absl's default INFO verbosity (which would print TensorFlow's per-save notices)
  to WARNING unless --verbosity was given.
  """
  if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  try:
    yield
  except (UsageError, ValueError, FileNotFoundError) as e:
    # gin appends "In call to configurable ..." lines; the first line says what was wrong.
    lines = str(e).strip().splitlines() or [type(e).__name__]
    message = " ".join(lines[0].split())
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(1)
