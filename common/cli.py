"""Shared pieces of the absl binaries: gin parsing, one-line errors, `--help`, Ctrl-C.

Every console script starts through `run_main`, which answers `--help` with the tool's own
description and flags (exit 0), refuses spellings that moved elsewhere with one line naming the
new one, and turns Ctrl-C into one line and exit status 130; `one_line_errors` turns user
mistakes and failed writes (a full disk) into `program: error: ...` and exit status 1.
"""
import contextlib
import errno
import os
import re
import signal
import sys
import threading
import tokenize

from absl import app
from absl import flags
from absl import logging
import gin

from common import gin_files

# What gin raises for a configuration it cannot take (an unclosed bracket is a TokenError).
GIN_ERRORS = (ValueError, SyntaxError, KeyError, TypeError, tokenize.TokenError)
# absl's spellings of a request for help.
HELP_FLAGS = ("--help", "-help", "-h", "--helpshort", "-helpshort", "-?")
HELPFULL_FLAGS = ("--helpfull", "-helpfull")
# Exit status of a program stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_STATUS = 130
# Seconds a program may take to wind down after Ctrl-C before it is ended regardless.
INTERRUPT_GRACE_SECONDS = 10.0
# errno values of writes that fail for lack of room or permission, not for a bug.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG)
# How TensorFlow's file errors say the same.
_TF_WRITE_PROBLEMS = ("No space left on device", "Disk quota exceeded", "Read-only file system",
                      "File too large")


class UsageError(Exception):
  """A mistake in the command line or the configuration (reported without a stack trace)."""


def first_line(error):
  """The first line of an error's message with white space collapsed.

  gin appends "In call to configurable ..." lines to errors raised inside configurables; the
  first line is what was wrong. An OSError that names a file reads `file: what went wrong`;
  TensorFlow's `{{function_node ...}}` prefix and `[Op:...]` suffix are left out.
  """
  if isinstance(error, OSError) and error.filename and error.strerror:
    return f"{error.filename}: {error.strerror}"
  lines = str(error).strip().splitlines()
  if not lines:
    return type(error).__name__
  line = " ".join(lines[0].split())
  line = re.sub(r"^\{\{[^}]*\}\}\s*", "", line)
  return re.sub(r"\s*\[Op:\w+\]$", "", line) or type(error).__name__


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
      raise UsageError(f"--gin_config {name}: {gin_problem(e)}") from e
  for binding in bindings or ():
    try:
      gin.parse_config(binding)
    except GIN_ERRORS + (OSError,) as e:
      raise UsageError(f"--gin_bindings {binding!r}: {gin_problem(e)}") from e
  gin.finalize()


def gin_problem(error):
  """What gin's error for a configuration it cannot parse says, as one line."""
  if isinstance(error, tokenize.TokenError):  # ('EOF in multi-line statement', (2, 0))
    return f"{error.args[0]} (an unclosed bracket or quote?)" if error.args else "cannot parse"
  return first_line(error)


def exit_with_error(program, error):
  """Prints `program: error: <first line>` as the last line on stderr and exits with status 1.

  The process ends at once, so that nothing TensorFlow prints while shutting down lands after
  the error line.
  """
  message = error if isinstance(error, str) else first_line(error)
  sys.stdout.flush()
  print(f"{program}: error: {message}", file=sys.stderr, flush=True)
  os._exit(1)  # pylint: disable=protected-access


def _tensorflow_write_problem(error):
  """TensorFlow's error for a failed file write (a full disk during a checkpoint or an export)
  as one line, or None for other errors. TensorFlow is not imported here: the error's class
  comes from the module that raised it."""
  tf = sys.modules.get("tensorflow")
  op_error = getattr(getattr(tf, "errors", None), "OpError", None)
  if op_error is None or not isinstance(error, op_error):
    return None
  text = str(error)
  if not any(problem in text for problem in _TF_WRITE_PROBLEMS):
    return None
  return first_line(error)


@contextlib.contextmanager
def one_line_errors(program):
  """Reports user mistakes as `program: error: ...` on stderr and exits with status 1.

  Besides the errors of bad input, failed writes (a full disk, a read-only file system) and
  (the gin edge turns values of the wrong type in gin bindings into such errors) end this way. Also lowers absl's default INFO
  verbosity (which would print TensorFlow's per-save notices) to WARNING unless --verbosity was
  given.
  """
  if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  try:
    yield
  except (UsageError, ValueError, FileNotFoundError, NotADirectoryError,
          PermissionError) as e:
    exit_with_error(program, e)
  except OSError as e:
    if e.errno not in _WRITE_ERRNOS:
      raise
    exit_with_error(program, e)
  except Exception as e:  # pylint: disable=broad-except
    message = _tensorflow_write_problem(e)
    if message is None:
      raise
    exit_with_error(program, message)


def help_text(program, module):
  """`--help`: the module's docstring, then the flags it defines, then where the rest are."""
  description = (module.__doc__ or "").strip()
  if not description.startswith(program):
    description = f"{program}: {description}" if description else program
  lines = [description, ""]
  # Its first line names the module.
  own = flags.FLAGS.module_help(module).strip("\n").splitlines()[1:]
  if own:
    lines += [f"Flags of {program}:", *own, ""]
  lines.append(f"absl's and TensorFlow's flags (logging, debugging): {program} --helpfull")
  return "\n".join(lines)


def print_help(text):
  """Prints a help text and exits with status 0 (also when a pager such as `head` closed the
  pipe early)."""
  try:
    print(text, flush=True)
  except BrokenPipeError:
    os._exit(0)  # pylint: disable=protected-access
  sys.exit(0)


def run_main(main, program, argv=None, moved=None):
  """Runs an absl `main` as the console script `program`.

  Args:
    main: the binary's main(argv); its module's docstring and flags make the `--help` text.
    program: the name the tool is called by (`zoo-train`, `zoo-study run`).
    argv: the command line (default sys.argv); argv[0] is the program.
    moved: {flag: the new spelling}: flags that moved to another tool or subcommand, refused
      with one line naming the new spelling.
  """
  argv = list(sys.argv if argv is None else argv)
  module = sys.modules[main.__module__]
  arguments = argv[1:argv.index("--")] if "--" in argv else argv[1:]
  if any(a in HELP_FLAGS for a in arguments):
    print_help(help_text(program, module))
  if any(a in HELPFULL_FLAGS for a in arguments):
    print_help(f"{help_text(program, module)}\n\n{flags.FLAGS.get_help()}")
  for argument in arguments:
    name = argument.split("=", 1)[0]
    for flag, new in (moved or {}).items():
      if name in (flag, "--no" + flag[2:], "-" + flag[2:]):
        print(f"{program}: error: {flag} is no longer a flag of {program}; use: {new}",
              file=sys.stderr)
        sys.exit(1)

  def parse_flags(arguments):
    try:
      return flags.FLAGS(arguments)
    except flags.Error as e:  # absl's own message takes two lines and no program name
      print(f"{program}: error: {first_line(e)} (`{program} --help` lists its flags)",
            file=sys.stderr)
      sys.exit(1)

  def exit_interrupted():
    sys.stdout.flush()
    print(f"{program}: interrupted", file=sys.stderr, flush=True)
    os._exit(INTERRUPTED_STATUS)  # pylint: disable=protected-access

  # A KeyboardInterrupt raised while a destructor runs (TensorFlow's objects have many) is
  # printed and dropped by Python, and the program carries on. So the first Ctrl-C also starts
  # a timer that ends the program if the interrupt has not done so by then.
  watchdog = threading.Timer(INTERRUPT_GRACE_SECONDS, exit_interrupted)
  watchdog.daemon = True

  def interrupt(unused_signum, unused_frame):
    if not watchdog.is_alive():
      watchdog.start()
    raise KeyboardInterrupt

  if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, interrupt)
  try:
    app.run(main, argv=argv, flags_parser=parse_flags)
  except KeyboardInterrupt:
    exit_interrupted()
