"""Where a gin file named on a command line, in an `include` line or in a study is found.

A gin file is given either as a path (absolute, or relative to the working directory) or as a
name relative to the configs that ship with the package, the `gin_configs` folder:
`models/beta_vae.gin`, `datasets/dsprites.gin`, `demo.gin`. The README's older spelling from
the checkout's root, `gin_configs/models/beta_vae.gin`, names the same shipped file. An existing
path wins over a shipped name. `resolve` is the one place that decides; every binary (through
`cli.parse_gin`), gin's `include` lines (`use_for_includes`), the study spec and its Ray workers
go through it, so where the package is installed and where it runs from change nothing.
"""
import importlib.resources
import os

from gin import config as gin_config

# The package holding the shipped gin files (package data of the wheel, the folder of a checkout).
SHIPPED_PACKAGE = "gin_configs"


def shipped_dir():
  """The directory of the gin files installed with the package."""
  return os.fspath(importlib.resources.files(SHIPPED_PACKAGE))


def _shipped_relative(name):
  """`name` as a path inside the shipped folder: without a leading `gin_configs/`."""
  relative = os.path.normpath(name)
  prefix = SHIPPED_PACKAGE + os.sep
  return relative[len(prefix):] if relative.startswith(prefix) else relative


def candidates(name):
  """The files `name` may stand for, in the order they are tried (absolute paths)."""
  found = [os.path.abspath(name)]
  if not os.path.isabs(name):
    shipped = os.path.join(shipped_dir(), _shipped_relative(name))
    if shipped not in found:
      found.append(shipped)
  return found


def shipped_names(folder):
  """The names of the shipped gin files in `folder` (e.g. "models"), without `.gin`, sorted."""
  directory = os.path.join(shipped_dir(), folder)
  if not os.path.isdir(directory):
    return []
  return sorted(f[:-len(".gin")] for f in os.listdir(directory) if f.endswith(".gin"))


def _shipped_entries():
  """The shipped folders (`models/`, ...) and top-level gin files (`demo.gin`), sorted."""
  directory = shipped_dir()
  entries = [f"{entry}/" for entry in os.listdir(directory)
             if os.path.isdir(os.path.join(directory, entry)) and entry[0] not in "._"]
  entries += [entry for entry in os.listdir(directory) if entry.endswith(".gin")]
  return sorted(entries)


def resolve(name):
  """The absolute path of the gin file that `name` (a path or a shipped name) stands for.

  Raises:
    FileNotFoundError: no such file; the message lists every place looked and, where `name`
      points into a shipped folder, the names that folder holds.
  """
  if not isinstance(name, str) or not name:
    raise FileNotFoundError(f"gin file {name!r}: expected a path or a name such as "
                            "models/beta_vae.gin")
  tried = candidates(name)
  for path in tried:
    if os.path.isfile(path):
      return path
  message = f"gin file {name} not found; looked for {' and '.join(tried)}"
  if not os.path.isabs(name):
    folder = os.path.dirname(_shipped_relative(name))
    known = shipped_names(folder) if folder else []
    message += (f" (the shipped {folder}/ holds {', '.join(known)})" if known
                else f" (shipped: {', '.join(_shipped_entries())})")
  raise FileNotFoundError(message)


def _open_resolved(name):
  return open(resolve(name), encoding="utf-8")


def _always(name):  # pylint: disable=unused-argument
  """Readability check of `_open_resolved`: it takes every name and explains a missing one."""
  return True


def use_for_includes():
  """Makes gin's `include` lines (and `gin.parse_config_file`) find files like `resolve`.

  gin tries its readers in order: `open` on a path from the working directory first, then
  this one, which finds shipped names or raises FileNotFoundError listing where it looked. It
  goes right after `open`, before gin's package-resource reader, which would log an error line
  for every shipped name (it takes `models/beta_vae.gin` for a file of a Python package
  `models`). Registering again is a no-op.
  """
  entry = (_open_resolved, _always)
  readers = getattr(gin_config, "_FILE_READERS", None)
  if readers is None:  # another gin: its public call, which appends
    gin_config.register_file_reader(*entry)
  elif entry not in readers:
    readers.insert(1, entry)
