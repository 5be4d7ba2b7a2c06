"""The package works outside the checkout: the wheel, built offline and installed without network
into a fresh virtual environment, runs zoo-train (shipped configs by name, an `include`),
zoo-export, zoo-evaluate and a two-run zoo-study from a temporary directory.

The fresh environment sees the dependencies already installed in this one through a `.pth` line
naming this environment's site-packages. Python does not process the `.pth` files of a directory
added that way, so this environment's editable install of the checkout stays inactive there; the
test checks that every module it runs comes from the wheel.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import tensorflow as tf

from tiny_mlp import TINY_MLP_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 10

# Named shipped configs, one by its older checkout spelling, pulled in by `include`.
TRAIN_CONFIG = "\n".join([
    "include 'encoders/mlp.gin'",
    "include 'gin_configs/datasets/linear_gaussian.gin'",
    "model.latent_dim = 3",
    "training.batch_size = 16",
    f"training.num_steps = {STEPS}",
    f"training.checkpoint_every = {STEPS}",
    f"training.log_every = {STEPS}",
] + TINY_MLP_BINDINGS) + "\n"

STUDY = f"""
study.name = "from_the_wheel"
study.models = ["beta_vae"]
study.posteriors = ["factorized"]
study.encoders = ["mlp"]
study.dataset = "linear_gaussian"
study.seeds = [0, 1]
study.training_bindings = [
    "model.latent_dim = 3",
    "encoder.mlp_hidden_units = (32,)",
    "encoder.deep_units = 32",
    "decoder.mlp_hidden_units = (32,)",
    "training.batch_size = 16",
    "training.num_steps = {STEPS}",
    "training.checkpoint_every = {STEPS}",
    "training.log_every = {STEPS}",
]
study.metrics = "mig"
study.evaluation_config = "demo_evaluation.gin"
study.evaluation_bindings = ["mig.num_train = 300"]
"""

# Prints where the packages a user's commands run come from (found, not imported: a top-level
# package's spec imports nothing, and its modules are its folder's files).
WHERE_SCRIPT = """
import importlib.util, json
import common.gin_files
packages = ["binaries", "common", "evaluation", "export", "gin_configs", "studies", "zoo"]
print(json.dumps({"modules": [importlib.util.find_spec(name).origin for name in packages],
                  "shipped": common.gin_files.shipped_dir()}))
"""


def gin_files_under(directory):
  """The .gin files below `directory`, as paths relative to it."""
  return [os.path.relpath(os.path.join(root, name), directory)
          for root, _, names in os.walk(directory) for name in names if name.endswith(".gin")]


def package_folders():
  """The checkout's top-level folders that are Python packages (what setup.py can package)."""
  return sorted(name for name in os.listdir(REPO)
                if os.path.isfile(os.path.join(REPO, name, "__init__.py")))


class WheelOutsideTheCheckoutTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(prefix="test_wheel_")
    # Built from a copy: building writes build/ and *.egg-info beside setup.py.
    source = os.path.join(cls.root, "source")
    os.makedirs(source)
    shutil.copy(os.path.join(REPO, "setup.py"), source)
    for folder in package_folders():
      shutil.copytree(os.path.join(REPO, folder), os.path.join(source, folder),
                      ignore=shutil.ignore_patterns("__pycache__"))
    dist = os.path.join(cls.root, "dist")
    cls.check_call([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--wheel-dir", dist, source])
    (wheel,) = os.listdir(dist)
    cls.wheel = os.path.join(dist, wheel)

    venv = os.path.join(cls.root, "venv")
    cls.check_call([sys.executable, "-m", "venv", "--without-pip", venv])
    cls.python = os.path.join(venv, "bin", "python")
    cls.site_packages = cls.check_output(
        [cls.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    with open(os.path.join(cls.site_packages, "zoo_dependencies.pth"), "w") as f:
      f.write(sysconfig.get_paths()["purelib"] + "\n")
    cls.check_call([sys.executable, "-m", "pip", "--python", cls.python, "install", "--quiet",
                    "--no-deps", "--no-index", cls.wheel])
    cls.bin = os.path.join(venv, "bin")
    cls.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    cls.env["PATH"] = cls.bin + os.pathsep + os.environ.get("PATH", "")
    cls.work = os.path.join(cls.root, "work")  # the user's directory: no checkout in sight
    os.makedirs(cls.work)
    cls.runs = {}
    for name, text in (("tiny.gin", TRAIN_CONFIG), ("study.gin", STUDY)):
      with open(os.path.join(cls.work, name), "w") as f:
        f.write(text)
    # The study runs beside the other three: their processes spend much of their time starting
    # up on one core each.
    study = cls.start_script("zoo-study", "--study=study.gin", "--output_dir=study", "--jobs=2")
    try:
      cls.runs["train"] = cls.run_script(
          "zoo-train", "--model_dir=run", "--gin_config=models/beta_vae.gin",
          "--gin_config=posteriors/factorized.gin", "--gin_config=tiny.gin")
      cls.runs["export"] = cls.run_script("zoo-export", "--model_dir=run",
                                          "--export_dir=export")
      cls.runs["evaluate"] = cls.run_script(
          "zoo-evaluate", "--saved_model=export", "--output_dir=evaluation", "--metrics=mig",
          "--gin_config=demo_evaluation.gin", "--gin_bindings=mig.num_train = 300")
      stdout, stderr = study.communicate(timeout=300)
    finally:
      if study.poll() is None:
        study.kill()
        study.wait()
    cls.runs["study"] = subprocess.CompletedProcess(study.args, study.returncode, stdout, stderr)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  @classmethod
  def check_call(cls, argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=300, cwd=cls.root)

  @classmethod
  def check_output(cls, argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300,
                          cwd=cls.root).stdout

  @classmethod
  def start_script(cls, script, *flags):
    return subprocess.Popen([os.path.join(cls.bin, script), *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cls.work, env=cls.env)

  @classmethod
  def run_script(cls, script, *flags):
    return subprocess.run([os.path.join(cls.bin, script), *flags], capture_output=True,
                          text=True, timeout=300, cwd=cls.work, env=cls.env)

  def work_path(self, *parts):
    return os.path.join(self.work, *parts)

  def assert_succeeded(self, name):
    result = self.runs[name]
    self.assertEqual(result.returncode, 0, f"{name}: {result.stderr[-3000:]}")

  def test_the_wheel_ships_the_configs_and_the_code_runs_from_it(self):
    self.assertFalse(os.path.commonpath([self.root, REPO]) == REPO)
    where = json.loads(subprocess.run([self.python, "-c", WHERE_SCRIPT], capture_output=True,
                                      text=True, timeout=300, cwd=self.work, env=self.env,
                                      check=True).stdout)
    for path in where["modules"] + [where["shipped"]]:
      self.assertEqual(os.path.commonpath([path, self.site_packages]), self.site_packages, path)
    # The wheel carries exactly the gin files of the checkout.
    self.assertCountEqual(gin_files_under(where["shipped"]),
                          gin_files_under(os.path.join(REPO, "gin_configs")))
    self.assertIn(os.path.join("models", "beta_vae.gin"), gin_files_under(where["shipped"]))

  def test_zoo_train_finds_named_configs_and_includes(self):
    self.assert_succeeded("train")
    with open(self.work_path("run", "train_results.json")) as f:
      self.assertEqual(json.load(f)["final_step"], STEPS)
    with open(self.work_path("run", "operative_config.gin")) as f:
      config = f.read()
    for line in ("model.name = 'beta_vae'",          # models/beta_vae.gin
                 "beta_vae.beta = 4.0",
                 "posterior.name = 'factorized'",    # posteriors/factorized.gin
                 "dataset.name = 'linear_gaussian'", # included by its checkout spelling
                 "linear_gaussian.observation_dim = 8",
                 "encoder.kind = 'mlp'",             # included by name
                 "encoder.deep_units = 32"):         # tiny.gin after its includes
      self.assertIn(line + "\n", config)

  def test_zoo_export_and_zoo_evaluate(self):
    self.assert_succeeded("export")
    with open(self.work_path("export", "assets", "metadata.json")) as f:
      metadata = json.load(f)
    self.assertEqual((metadata["model"], metadata["encoder"], metadata["training_step"]),
                     ("beta_vae", "mlp", STEPS))
    with open(self.work_path("export", "README.md")) as f:
      self.assertIn("| encoder | mlp |\n", f.read())
    self.assert_succeeded("evaluate")
    with open(self.work_path("evaluation", "results.json")) as f:
      results = json.load(f)
    self.assertEqual(results["settings.mig.num_train"], 300)  # the binding after the file
    self.assertBetween(results["mig.discrete_mig"], 0.0, 1.0)

  def test_a_two_run_study(self):
    self.assert_succeeded("study")
    with open(self.work_path("study", "results.csv")) as f:
      rows = list(csv.DictReader(f))
    self.assertCountEqual([row["run"] for row in rows], ["beta_vae-factorized-mlp-seed0",
                                                        "beta_vae-factorized-mlp-seed1"])
    for row in rows:
      with open(self.work_path("study", "runs", row["run"], "DONE")) as f:
        done = json.load(f)
      # The shipped files the study named, from the wheel's copy.
      config = done["config"]
      self.assertLen(config["train_gin_files"] + config["evaluation_gin_files"], 5)
      for path in config["train_gin_files"] + config["evaluation_gin_files"]:
        self.assertEqual(os.path.commonpath([path, self.site_packages]), self.site_packages)
      with open(self.work_path("study", "runs", row["run"], "evaluation", "results.json")) as f:
        self.assertEqual(json.load(f)["settings.mig.num_train"], 300)

  def test_an_unknown_name_says_where_it_looked(self):
    result = self.run_script("zoo-study", "--study=study.gin", "--output_dir=never",
                             '--study_bindings=study.evaluation_config = "evaluation.gin"')
    self.assertEqual(result.returncode, 1, result.stderr[-3000:])
    (line,) = result.stderr.strip().splitlines()
    shipped = os.path.join(self.site_packages, "gin_configs")
    self.assertStartsWith(
        line, "zoo-study: error: study.evaluation_config: gin file evaluation.gin not found; "
              f"looked for {self.work_path('evaluation.gin')} and "
              f"{os.path.join(shipped, 'evaluation.gin')} (shipped: datasets/, demo.gin, "
              "demo_evaluation.gin, encoders/, models/, ")
    self.assertFalse(os.path.exists(self.work_path("never")))


if __name__ == "__main__":
  tf.test.main()
