"""docs/PYTHON_API.md runs: every python code block, in order, in one namespace, in a fresh
directory, with no gin state and no gin in the code."""
import os
import re

import gin
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join(REPO, "docs", "PYTHON_API.md")


def code_blocks(text):
  return re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


class PythonApiGuideTest(tf.test.TestCase):

  def test_every_code_block_runs(self):
    with open(GUIDE, encoding="utf-8") as f:
      blocks = code_blocks(f.read())
    self.assertGreaterEqual(len(blocks), 8)
    for block in blocks:
      self.assertNotRegex(block, r"\bgin\b")
    gin.clear_config()
    directory = os.path.join(self.get_temp_dir(), "guide")
    os.makedirs(directory, exist_ok=True)
    previous = os.getcwd()
    os.chdir(directory)
    namespace = {"__name__": "python_api_guide"}
    try:
      for number, block in enumerate(blocks, 1):
        with self.subTest(block=number):
          exec(compile(block, f"{GUIDE} block {number}", "exec"), namespace)  # pylint: disable=exec-used
    finally:
      os.chdir(previous)
    for path in ("beta_vae.keras", "runs/beta_vae/run_config.json",
                 "exports/fitted/saved_model.pb", "exports/run/saved_model.pb"):
      self.assertTrue(os.path.exists(os.path.join(directory, path)), path)
    self.assertTrue(tf.io.gfile.glob(os.path.join(directory, "logs", "beta_vae", "events.*")))


if __name__ == "__main__":
  tf.test.main()
