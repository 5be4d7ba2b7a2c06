"""Shared pieces of the absl binaries: gin parsing and turning user mistakes into one line."""
import contextlib
import os
import sys

from absl import flags
from absl import logging
import gin

from common import gin_files

# What gin raises for a configuration it cannot take.
GIN_ERRORS = (ValueError, SyntaxError, KeyError, TypeError)


class UsageError(Exception):
  """A mistake in the command line or the configuration (reported without a stack trace)."""


def first_line(error):
  """The first line of an error's message with white space collapsed.

  gin appends "In call to configurable ..." lines to errors raised inside configurables; the
  first line is what was wrong.
  """
  lines = str(error).strip().splitlines()
  return " ".join(lines[0].split()) if lines else type(error).__name__


def parse_gin(config_files, bindings):
  """Parses gin files, then bindings, in order; a bad one becomes a UsageError naming it.

  A file, and every `include` in it, is a path or a name among the shipped configs
  (`models/beta_vae.gin`), found by `gin_files.resolve`.
  """
  paths = []
  for name in config_files or ():
    try:
      paths.append((name, gin_files.resolve(name)))
    except FileNotFoundError as e:
      raise UsageError(f"--gin_config {name}: {first_line(e)}") from e
  gin_files.use_for_includes()
  for name, path in paths:
    try:
      gin.parse_config_file(path)
    except GIN_ERRORS + (OSError,) as e:
      raise UsageError(f"--gin_config {name}: {first_line(e)}") from e
  for binding in bindings or ():
    try:
      gin.parse_config(binding)
    except GIN_ERRORS + (OSError,) as e:
      raise UsageError(f"--gin_bindings {binding!r}: {first_line(e)}") from e
  gin.finalize()


def exit_with_error(program, error):
  """Prints `program: error: <first line>` as the last line on stderr and exits with status 1.

  The process ends at once, so that nothing TensorFlow prints while shutting down lands after
  the error line.
  """
  sys.stdout.flush()
  print(f"{program}: error: {first_line(error)}", file=sys.stderr, flush=True)
  os._exit(1)  # pylint: disable=protected-access


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
  except (UsageError, ValueError, FileNotFoundError, NotADirectoryError,
          PermissionError) as e:
    exit_with_error(program, e)
