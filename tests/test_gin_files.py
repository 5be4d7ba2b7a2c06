"""Gin files by path or by shipped name, the same for --gin_config, `include`, studies, stage
processes and Ray workers, from any working directory (common.gin_files)."""
import os
import shutil
import tempfile

import gin
import tensorflow as tf

from common import cli
from common import gin_files
from studies import run_dirs
from studies import spec
from studies import stages
from gin_edge import configurables  # noqa: F401  (the configurables the shipped files bind)

try:
  from studies import ray_executor
except ImportError:  # the optional extra: pip install '.[ray]' (make test installs it)
  ray_executor = None

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(REPO, "gin_configs")


def write_file(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(text)
  return path


class GinFilesTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    # A working directory outside the checkout, restored afterwards.
    self.addCleanup(os.chdir, os.getcwd())
    self.work = os.path.realpath(tempfile.mkdtemp(prefix="test_gin_files_"))
    self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)
    os.chdir(self.work)
    gin.clear_config()
    self.addCleanup(gin.clear_config)

  def test_names_paths_and_the_checkout_spelling(self):
    self.assertEqual(gin_files.shipped_dir(), SHIPPED)  # this checkout's editable install
    beta_vae = os.path.join(SHIPPED, "models", "beta_vae.gin")
    self.assertEqual(gin_files.resolve("models/beta_vae.gin"), beta_vae)
    self.assertEqual(gin_files.resolve("gin_configs/models/beta_vae.gin"), beta_vae)
    self.assertEqual(gin_files.resolve("demo.gin"), os.path.join(SHIPPED, "demo.gin"))
    self.assertEqual(gin_files.resolve(beta_vae), beta_vae)
    # A file where the name points from the working directory wins over the shipped one.
    own = write_file(os.path.join(self.work, "models", "beta_vae.gin"), "beta_vae.beta = 2.0\n")
    self.assertEqual(gin_files.resolve("models/beta_vae.gin"), own)
    self.assertEqual(gin_files.resolve("gin_configs/models/beta_vae.gin"), beta_vae)
    self.assertIn("beta_vae", gin_files.shipped_names("models"))
    self.assertIn("linear_gaussian", gin_files.shipped_names("datasets"))
    self.assertEqual(gin_files.shipped_names("no_such_folder"), [])

  def test_a_missing_file_names_every_place_looked(self):
    cases = {
        "models/beta_vea.gin": (f"gin file models/beta_vea.gin not found; looked for "
                                f"{self.work}/models/beta_vea.gin and "
                                f"{SHIPPED}/models/beta_vea.gin (the shipped models/ holds "
                                "ada_gvae, ada_ml_vae, annealed_vae, beta_tcvae, beta_vae, "),
        "gin_configs/encoders/conv.gin": (f"gin file gin_configs/encoders/conv.gin not found; "
                                          f"looked for {self.work}/gin_configs/encoders/conv.gin"
                                          f" and {SHIPPED}/encoders/conv.gin (the shipped "
                                          "encoders/ holds conv64, conv64_split, mlp, "),
        "nothing.gin": (f"gin file nothing.gin not found; looked for {self.work}/nothing.gin "
                        f"and {SHIPPED}/nothing.gin (shipped: datasets/, demo.gin, "),
        "/abs/x.gin": "gin file /abs/x.gin not found; looked for /abs/x.gin",
    }
    for name, message in cases.items():
      with self.subTest(name):
        with self.assertRaises(FileNotFoundError) as raised:
          gin_files.resolve(name)
        self.assertStartsWith(str(raised.exception), message)
        self.assertNotIn("\n", str(raised.exception))

  def test_parse_gin_resolves_flags_and_includes_alike(self):
    write_file(os.path.join(self.work, "mine.gin"),
               "include 'models/beta_vae.gin'\n"
               "include 'gin_configs/datasets/linear_gaussian.gin'\n"
               "beta_vae.beta = 8.0\n")
    cli.parse_gin(["posteriors/full_covariance.gin", "mine.gin"], ["model.latent_dim = 4"])
    self.assertEqual(gin.query_parameter("model.name"), "beta_vae")
    self.assertEqual(gin.query_parameter("beta_vae.beta"), 8.0)
    self.assertEqual(gin.query_parameter("dataset.name"), "linear_gaussian")
    self.assertEqual(gin.query_parameter("posterior.name"), "full_covariance")
    gin.clear_config()
    write_file(os.path.join(self.work, "broken.gin"), "include 'models/no_such_model.gin'\n")
    errors = {
        "broken.gin": "--gin_config broken.gin: gin file models/no_such_model.gin not found; "
                      f"looked for {self.work}/models/no_such_model.gin and {SHIPPED}/models/",
        "models/no_such_model.gin": "--gin_config models/no_such_model.gin: gin file "
                                    "models/no_such_model.gin not found; looked for ",
    }
    for config, message in errors.items():
      with self.subTest(config):
        with self.assertRaises(cli.UsageError) as raised:
          cli.parse_gin([config], [])
        self.assertStartsWith(cli.first_line(raised.exception), message)
        gin.clear_config()
    with self.assertRaisesRegex(cli.UsageError, "--gin_bindings \"include 'nope.gin'\": gin "
                                "file nope.gin not found"):
      cli.parse_gin([], ["include 'nope.gin'"])

  def test_studies_resolve_names_and_files_the_same_way(self):
    study = spec.load_study("studies/weak_vs_unsupervised_cpu.gin")  # a shipped study by name
    self.assertEqual(study.name, "weak_vs_unsupervised_cpu")
    own_model = write_file(os.path.join(self.work, "my_model.gin"), "model.name = 'vae'\n")
    runs = spec.expand_runs(spec.StudySpec(
        name="s", models=("beta_vae", "models/beta_tcvae.gin", "my_model.gin"),
        posteriors=("factorized",), encoders=("gin_configs/encoders/mlp.gin",),
        dataset="linear_gaussian", training_bindings=(), seeds=(0,), metrics="mig",
        evaluation_config="demo_evaluation.gin", evaluation_bindings=(), evaluation_seed=0))
    self.assertEqual([run.name for run in runs], ["beta_vae-factorized-mlp-seed0",
                                                  "beta_tcvae-factorized-mlp-seed0",
                                                  "my_model-factorized-mlp-seed0"])
    self.assertEqual([run.train_gin_files[0] for run in runs],
                     [f"{SHIPPED}/models/beta_vae.gin", f"{SHIPPED}/models/beta_tcvae.gin",
                      own_model])
    self.assertEqual(runs[0].train_gin_files[1:], (f"{SHIPPED}/posteriors/factorized.gin",
                                                   f"{SHIPPED}/encoders/mlp.gin",
                                                   f"{SHIPPED}/datasets/linear_gaussian.gin"))
    self.assertEqual(runs[0].evaluation_gin_files, (f"{SHIPPED}/demo_evaluation.gin",))
    # Cluster commands carry the study file's absolute path, wherever they run.
    (command,) = stages.cluster_commands("studies/weak_vs_unsupervised_cpu.gin", (), "out",
                                         runs[:1])
    self.assertIn(f"--study={SHIPPED}/studies/weak_vs_unsupervised_cpu.gin", command)
    with self.assertRaisesRegex(FileNotFoundError, "--study studies/nope.gin: gin file "
                                "studies/nope.gin not found; looked for .*posterior_correlation_cpu"
                                r".* \(expected a gin file binding study.\*\)"):
      spec.load_study("studies/nope.gin")

  def test_stages_run_where_the_study_runs_and_ignore_its_python_files(self):
    # A module of the working directory named like one of the package's must not replace it.
    write_file(os.path.join(self.work, "common", "__init__.py"), "raise ImportError('shadow')\n")
    run = spec.expand_runs(spec.StudySpec(
        name="s", models=("beta_vae",), posteriors=("factorized",), encoders=("mlp",),
        dataset="linear_gaussian", training_bindings=(), seeds=(0,), metrics="mig",
        evaluation_config=None, evaluation_bindings=(), evaluation_seed=0))[0]
    argv = stages.stage_commands(run, run_dirs.RunPaths.of("out", run.name))[0][1]
    probe = argv[:argv.index("-m")] + [
        "-c", "import os, common.gin_files as g; print(os.getcwd(), g.__file__)"]
    with open(os.path.join(self.work, "stage.log"), "w+") as log:
      self.assertEqual(stages.run_stage(probe, log, dict(os.environ)), 0)
      log.seek(0)
      cwd, module = log.read().splitlines()[-1].split()
    self.assertEqual(cwd, self.work)
    self.assertEqual(module, os.path.join(REPO, "common", "gin_files.py"))

  def test_ray_workers_use_their_own_installations_shipped_files(self):
    if ray_executor is None:
      self.skipTest("Ray is not installed (pip install '.[ray]')")
    driver = "/driver/venv/lib/python3.11/site-packages/gin_configs"
    run = spec.RunConfig(
        name="r", study="s", model="beta_vae", posterior="factorized",
        posterior_label="factorized", rho=0.0, encoder="mlp", dataset="linear_gaussian", seed=0,
        train_gin_files=(f"{driver}/models/beta_vae.gin", "/shared/my_encoder.gin"),
        train_gin_bindings=(), metrics="mig",
        evaluation_gin_files=(f"{driver}/demo_evaluation.gin",), evaluation_gin_bindings=(),
        evaluation_seed=0)
    moved = ray_executor._relocated(run, driver)  # pylint: disable=protected-access
    self.assertEqual(moved.train_gin_files, (f"{SHIPPED}/models/beta_vae.gin",
                                             "/shared/my_encoder.gin"))
    self.assertEqual(moved.evaluation_gin_files, (f"{SHIPPED}/demo_evaluation.gin",))
    self.assertEqual(moved.identity(), run.identity())


if __name__ == "__main__":
  tf.test.main()
