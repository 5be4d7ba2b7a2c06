"""File writing that never leaves a half-written file behind."""
import json
import os
import tempfile


def write_json_atomically(path, obj):
  """Writes obj as JSON to path via a temporary file in the same directory and a rename."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".json", dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(obj, f, indent=2, sort_keys=True)
      f.write("\n")
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
