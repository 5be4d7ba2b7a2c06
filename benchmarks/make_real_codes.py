"""Codes of trained models for the boosted-tree benchmarks, drawn the way DCI draws them.

Trains runs of the shipped CPU study (`gin_configs/studies/posterior_correlation_cpu.gin`: its
grid, its training settings, its seeds) in this process, one after another, and encodes the
points DCI would draw for each: `dci.compute_dci` with `RandomState(0)` (zoo-evaluate's seed)
draws the training set, then the test set, in batches of 16, then the seed of the boosted trees.
Points drawn from the finite factor grid repeat, so the codes do too, as in every real
evaluation. Two sizes are drawn per model: the reference study's 10,000 / 5,000 and the CPU
study's 1,000 / 500.

  # train and encode (about 85 s of one core per model; run two processes for two cores)
  .venv/bin/python benchmarks/make_real_codes.py encode --work_dir /tmp/real_codes --runs 0:10
  # pack the committed files of benchmarks/data/ from the encoded runs
  .venv/bin/python benchmarks/make_real_codes.py pack --work_dir /tmp/real_codes

`pack` writes `benchmarks/data/dsprites_codes_cpu_study_sizes.npz` (every encoded run at
1,000 / 500) and `benchmarks/data/dsprites_codes_reference_sizes.npz` (the runs named by
`--reference_runs` at 10,000 / 5,000). Arrays per run k: `codes_train_<k>` float32,
`factors_train_<k>` int8, `codes_test_<k>`, `factors_test_<k>`, plus `run_names`, `tree_seeds`
(the boosted trees' seed DCI would draw) and `num_active` (latents whose mean KL exceeds
0.1 nats on the training points, the usual count of active latents). No pickle: strings are a
fixed-width unicode array.
"""
import argparse
import os
import sys
import time

import gin
import numpy as np

from common import cli
from evaluation import trained_model
from evaluation.metrics import boosted_trees
from evaluation.metrics import utils
from studies import spec as study_spec
from gin_edge import training as gin_training  # registers every gin configurable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDY = os.path.join(REPO, "gin_configs", "studies", "posterior_correlation_cpu.gin")
DATA_DIR = os.path.join(REPO, "benchmarks", "data")
CPU_STUDY_FILE = os.path.join(DATA_DIR, "dsprites_codes_cpu_study_sizes.npz")
REFERENCE_FILE = os.path.join(DATA_DIR, "dsprites_codes_reference_sizes.npz")
SIZES = {"reference": (10000, 5000), "cpu_study": (1000, 500)}
# dci.batch_size's default.
DCI_BATCH = 16
# A latent counts as active when its mean KL to the prior exceeds this (nats).
ACTIVE_KL = 0.1
# Three kinds of posterior for the committed reference-size codes: factorized, strongly
# correlated noise, learned full covariance (beta-VAE, shared encoder, seed 0).
DEFAULT_REFERENCE_RUNS = ("beta_vae-factorized-conv64-seed0",
                          "beta_vae-correlated_noise_0.8-conv64-seed0",
                          "beta_vae-full_covariance-conv64-seed0")


def study_runs(encoder="conv64"):
  """The CPU study's runs with the given encoder, in the study's order."""
  return [run for run in study_spec.expand_runs(study_spec.load_study(STUDY))
          if run.encoder == encoder]


def dci_draws(model, num_train, num_test, seed=0):
  """(codes_train, factors_train, codes_test, factors_test, tree seed) as `compute_dci` draws."""
  random_state = np.random.RandomState(seed)
  train = utils.generate_batch_factor_code(model.ground_truth_data, model.mean, num_train,
                                           random_state, DCI_BATCH)
  test = utils.generate_batch_factor_code(model.ground_truth_data, model.mean, num_test,
                                          random_state, DCI_BATCH)
  tree_seed = int(random_state.randint(boosted_trees.SEED_BOUND))
  return train + test + (tree_seed,)


def num_active_latents(model, observations):
  """Latents whose KL(q(z_i|x) || N(0, 1)), averaged over `observations`, exceeds ACTIVE_KL."""
  mean, covariance = model.posterior(observations, batch_size=256)
  variance = np.diagonal(covariance, axis1=1, axis2=2)
  kl = 0.5 * (variance + mean ** 2 - 1.0 - np.log(variance))
  return int(np.sum(kl.mean(axis=0) > ACTIVE_KL))


def encode(args):
  os.makedirs(args.work_dir, exist_ok=True)
  runs = study_runs()
  first, last = (int(x) for x in args.runs.split(":"))
  for run in runs[first:last]:
    out = os.path.join(args.work_dir, run.name + ".npz")
    if os.path.exists(out):
      print(f"{run.name}: done before", flush=True)
      continue
    model_dir = os.path.join(args.work_dir, "models", run.name)
    start = time.time()
    gin.clear_config()
    cli.parse_gin(list(run.train_gin_files), list(run.train_gin_bindings))
    gin_training.train(model_dir, log_fn=lambda line: None)
    gin.clear_config()
    model = trained_model.from_model_dir(model_dir, log_fn=lambda line: None)
    arrays = {}
    for size, (num_train, num_test) in SIZES.items():
      codes_train, factors_train, codes_test, factors_test, tree_seed = dci_draws(
          model, num_train, num_test)
      arrays.update({f"{size}_codes_train": codes_train.astype(np.float32),
                     f"{size}_factors_train": factors_train.astype(np.int8),
                     f"{size}_codes_test": codes_test.astype(np.float32),
                     f"{size}_factors_test": factors_test.astype(np.int8),
                     f"{size}_tree_seed": np.int64(tree_seed)})
    observations = model.ground_truth_data.sample_observations(2000, np.random.RandomState(1))
    arrays["num_active"] = np.int64(num_active_latents(model, observations))
    gin.clear_config()
    np.savez(out + ".tmp.npz", **arrays)
    os.replace(out + ".tmp.npz", out)
    print(f"{run.name}: {time.time() - start:.0f} s, {int(arrays['num_active'])} active "
          "latents", flush=True)


def pack(args):
  names = [run.name for run in study_runs()
           if os.path.exists(os.path.join(args.work_dir, run.name + ".npz"))]
  if not names:
    sys.exit(f"{args.work_dir}: no encoded runs")
  reference_runs = [n.strip() for n in args.reference_runs.split(",") if n.strip()]
  missing = sorted(set(reference_runs) - set(names))
  if missing:
    sys.exit(f"--reference_runs: not encoded: {missing}")
  os.makedirs(DATA_DIR, exist_ok=True)
  for path, size, chosen in ((CPU_STUDY_FILE, "cpu_study", names),
                             (REFERENCE_FILE, "reference", reference_runs)):
    packed = {"run_names": np.array(chosen), "tree_seeds": [], "num_active": []}
    for k, name in enumerate(chosen):
      with np.load(os.path.join(args.work_dir, name + ".npz"), allow_pickle=False) as run:
        for key in ("codes_train", "factors_train", "codes_test", "factors_test"):
          packed[f"{key}_{k}"] = run[f"{size}_{key}"]
        packed["tree_seeds"].append(int(run[f"{size}_tree_seed"]))
        packed["num_active"].append(int(run["num_active"]))
    packed["tree_seeds"] = np.array(packed["tree_seeds"], dtype=np.int64)
    packed["num_active"] = np.array(packed["num_active"], dtype=np.int64)
    np.savez_compressed(path, **packed)
    print(f"wrote {os.path.relpath(path, REPO)}: {len(chosen)} runs, "
          f"{os.path.getsize(path) / 2 ** 20:.2f} MiB")


def load_codes(path):
  """[(run name, codes_train, factors_train, codes_test, factors_test, tree seed, active)]."""
  with np.load(path, allow_pickle=False) as data:
    return [(str(name), data[f"codes_train_{k}"], data[f"factors_train_{k}"],
             data[f"codes_test_{k}"], data[f"factors_test_{k}"], int(data["tree_seeds"][k]),
             int(data["num_active"][k]))
            for k, name in enumerate(data["run_names"])]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("command", choices=("encode", "pack"))
  parser.add_argument("--work_dir", required=True, help="models and encoded runs go here")
  parser.add_argument("--runs", default="0:30",
                      help="slice first:last of the study's conv64 runs to train and encode")
  parser.add_argument("--reference_runs", default=",".join(DEFAULT_REFERENCE_RUNS),
                      help="comma list of runs packed at 10,000 / 5,000 points")
  args = parser.parse_args()
  {"encode": encode, "pack": pack}[args.command](args)


if __name__ == "__main__":
  main()
