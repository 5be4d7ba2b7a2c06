"""Memory and input speed of the data sets read from files, on generated files of the real size.

For each data set asked for, writes a file (or folder) of the published size in the published
layout (MPI3D: 1,036,800 x 64 x 64 x 3 uint8 in a stored .npz, 12.7 GB; 3D Shapes: 480,000
images in an HDF5 file with h5py's automatic gzip chunks, as DeepMind's; dSprites: the whole
737,280-image grid rendered by the procedural dSprites into a compressed .npz, or the .hdf5;
SmallNORB: the six binary matrix files; Cars3D: 183 .mat files), then measures, each in a fresh
process:

* the input pipeline alone (zoo.data.make_dataset, random batches of 64, tf.data's parallel
  calls) reading the published file directly, and reading the prepared layout with a cold page
  cache (posix_fadvise DONTNEED on the file: its pages are dropped) and a warm one (the file read
  once beforehand);
* `zoo-data prepare` (time, peak memory);
* a 200-step conv64 beta-VAE zoo-train on the prepared layout (and, for MPI3D and dSprites, on
  the published file): peak anonymous memory (RssAnon, the process's own) and peak file-backed
  memory (RssFile: mapped file pages, which are page cache shared by every process mapping the
  file), sampled every 50 ms from /proc/<pid>/status; and its training rate.

The generated files are removed afterwards unless --keep. Needs free disk of twice the largest
file (MPI3D: 25.5 GB).

  .venv/bin/python benchmarks/data_memory.py --work_dir=/var/tmp/zoo_data_memory \\
      --datasets=mpi3d,shapes3d,dsprites,dsprites_hdf5,smallnorb,cars3d --json=results.json
  .venv/bin/python benchmarks/data_memory.py --render results.json   # the tables again
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np

from machine_info import cpu_model
from machine_info import load_average
from machine_info import usable_cores

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
import published_layouts as layouts  # noqa: E402  pylint: disable=wrong-import-position

BATCH = 64
# Each data set: its registry name for zoo-train, the published layout's writer, and where the
# data set's prepared layout goes.
DATASETS = ("mpi3d", "shapes3d", "dsprites", "dsprites_hdf5", "smallnorb", "cars3d")
REGISTRY_NAME = {"mpi3d": "mpi3d_real", "shapes3d": "shapes3d", "dsprites": "dsprites_file",
                 "dsprites_hdf5": "dsprites_file", "smallnorb": "smallnorb", "cars3d": "cars3d"}
TRAINED = {"mpi3d": ("prepared", "published"), "shapes3d": ("prepared",),
           "dsprites": ("prepared", "published")}
CHUNK_ROWS = 15000


def log(message):
  print(f"[data_memory] {time.strftime('%H:%M:%S')} {message}", flush=True)


# ----------------------------------------------------------------------------- generators


def _write_npy_member(archive, key, shape, dtype, chunks, compress):
  info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
  info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
  with archive.open(info, "w", force_zip64=True) as member:
    np.lib.format.write_array_header_1_0(member, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
        "shape": tuple(shape)})
    for chunk in chunks:
      member.write(np.ascontiguousarray(chunk, dtype=dtype).data)


def write_mpi3d(path):
  """images uint8 [1036800, 64, 64, 3], stored (np.savez), random bytes streamed to disk."""
  rng = np.random.default_rng(0)
  count = 1036800
  rows = 20000

  def chunks():
    for start in range(0, count, rows):
      n = min(rows, count - start)
      yield np.frombuffer(rng.bytes(n * 64 * 64 * 3), dtype=np.uint8)

  with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
    _write_npy_member(archive, "images", (count, 64, 64, 3), np.uint8, chunks(), False)
  return path


def _render_shapes3d(factors):
  """Render-like uint8 images [n, 64, 64, 3] of 3D Shapes factors: a wall, a floor and an
  object of the factors' hues, size and place (flat colours, as the real renders compress)."""
  hues = np.array([[230, 60, 50], [240, 150, 40], [220, 220, 60], [120, 210, 60],
                   [50, 200, 120], [50, 200, 200], [60, 120, 230], [110, 70, 230],
                   [200, 70, 220], [230, 70, 140]], dtype=np.uint8)
  n = len(factors)
  images = np.empty((n, 64, 64, 3), dtype=np.uint8)
  images[:, :40] = hues[factors[:, 1]][:, None, None, :]
  images[:, 40:] = hues[factors[:, 0]][:, None, None, :]
  rows, cols = np.mgrid[0:64, 0:64]
  half = (6 + factors[:, 3])[:, None, None]
  centre = (20 + 2 * factors[:, 5])[:, None, None]
  inside = (np.abs(rows[None] - 44) <= half) & (np.abs(cols[None] - centre) <= half)
  images[inside] = np.repeat(hues[factors[:, 2]], inside.reshape(n, -1).sum(1), axis=0)
  return images


def write_shapes3d(path):
  import h5py  # pylint: disable=g-import-not-at-top
  sizes = (10, 10, 10, 8, 4, 15)
  count = int(np.prod(sizes))
  values = [np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10),
            np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30, 30, 15)]
  with h5py.File(path, "w") as h5:
    images = h5.create_dataset("images", shape=(count, 64, 64, 3), dtype=np.uint8,
                               chunks=True, compression="gzip")
    labels = h5.create_dataset("labels", shape=(count, 6), dtype=np.float64)
    for start in range(0, count, CHUNK_ROWS):
      factors = np.stack(np.unravel_index(np.arange(start, min(count, start + CHUNK_ROWS)),
                                          sizes), 1)
      images[start:start + len(factors)] = _render_shapes3d(factors)
      labels[start:start + len(factors)] = np.stack(
          [values[i][factors[:, i]] for i in range(6)], 1)
  return path


def _dsprites_grid_images():
  from zoo.data import dsprites  # pylint: disable=g-import-not-at-top
  renderer = dsprites.DSprites(64)
  count = 737280
  for start in range(0, count, 23040):
    factors = np.stack(np.unravel_index(np.arange(start, start + 23040), (3, 6, 40, 32, 32)), 1)
    yield renderer.render(factors)


def _dsprites_classes():
  grid = np.stack(np.unravel_index(np.arange(737280), (3, 6, 40, 32, 32)), 1)
  return np.concatenate([np.zeros((737280, 1), np.int64), grid], 1)


def write_dsprites(path):
  """The published .npz: the whole grid rendered in grid order, compressed."""
  classes = _dsprites_classes()
  with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
    _write_npy_member(archive, "imgs", (737280, 64, 64), np.uint8, _dsprites_grid_images(),
                      True)
    _write_npy_member(archive, "latents_classes", classes.shape, np.int64, [classes], True)
    _write_npy_member(archive, "latents_values", classes.shape, np.float64,
                      [classes.astype(np.float64)], True)
  return path


def write_dsprites_hdf5(path):
  import h5py  # pylint: disable=g-import-not-at-top
  classes = _dsprites_classes()
  with h5py.File(path, "w") as h5:
    images = h5.create_dataset("imgs", shape=(737280, 64, 64), dtype=np.uint8, chunks=True,
                               compression="gzip")
    for i, chunk in enumerate(_dsprites_grid_images()):
      images[i * 23040:(i + 1) * 23040] = chunk
    h5.create_dataset("latents/classes", data=classes)
    h5.create_dataset("latents/values", data=classes.astype(np.float64))
  return path


def write_smallnorb(folder):
  return layouts.write_smallnorb(folder, layouts.smallnorb_halves((5, 10, 9, 18, 6),
                                                                  np.random.RandomState(0)))


def write_cars3d(folder):
  layouts.write_cars3d(folder, 183, np.random.RandomState(0))
  return folder


WRITERS = {
    "mpi3d": ("mpi3d_real.npz", write_mpi3d),
    "shapes3d": ("3dshapes.h5", write_shapes3d),
    "dsprites": (f"{layouts.DSPRITES_STEM}.npz", write_dsprites),
    "dsprites_hdf5": (f"{layouts.DSPRITES_STEM}.hdf5", write_dsprites_hdf5),
    "smallnorb": ("small_norb", write_smallnorb),
    "cars3d": ("cars", write_cars3d),
}


# ----------------------------------------------------------------------------- measuring


class MemoryPeaks:
  """Samples /proc/<pid>/status every `interval` seconds: peaks of RssAnon, RssFile and VmRSS
  (kB); and every 10th sample /proc/<pid>/smaps for the resident pages mapped from the data
  files under `data_root` (RssFile also counts the ~0.5 GB of TensorFlow's mapped libraries)."""

  FIELDS = ("RssAnon", "RssFile", "VmRSS")

  def __init__(self, pid, data_root=None, interval=0.05):
    self.pid, self.interval, self.data_root = pid, interval, data_root
    self.peaks = {field: 0 for field in self.FIELDS}
    self.peaks["data_mapped"] = 0
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)
    self._thread.start()

  def _data_mapped(self):
    total, counting = 0, False
    with open(f"/proc/{self.pid}/smaps") as f:
      for line in f:
        first = line.split(None, 1)[0]
        if "-" in first and not first.endswith(":"):  # a mapping's header line
          counting = line.rstrip().endswith(tuple(self._paths)) if self._paths else False
        elif counting and first == "Rss:":
          total += int(line.split()[1])
    return total

  def _run(self):
    self._paths = []
    if self.data_root:
      root = os.path.abspath(self.data_root)
      self._paths = [root] if os.path.isfile(root) else [
          os.path.join(dirpath, name) for dirpath, _, names in os.walk(root) for name in names]
    count = 0
    while not self._stop.is_set():
      try:
        with open(f"/proc/{self.pid}/status") as f:
          for line in f:
            name, _, value = line.partition(":")
            if name in self.peaks:
              self.peaks[name] = max(self.peaks[name], int(value.split()[0]))
        if self._paths and count % 10 == 0:
          self.peaks["data_mapped"] = max(self.peaks["data_mapped"], self._data_mapped())
      except (OSError, ValueError):
        pass
      count += 1
      time.sleep(self.interval)

  def stop(self):
    self._stop.set()
    self._thread.join()
    return {f"peak_{name}_MB": kb / 1024 for name, kb in self.peaks.items()}


def run_measured(command, data_root=None, timeout=7200):
  """Runs `command`; returns (dict of its stdout, stderr, seconds; its memory peaks)."""
  # pylint: disable-next=consider-using-with
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
  peaks = MemoryPeaks(process.pid, data_root)
  start = time.time()
  stdout, stderr = process.communicate(timeout=timeout)
  seconds = time.time() - start
  memory = peaks.stop()
  if process.returncode != 0:
    raise RuntimeError(f"{' '.join(command[:4])} ... failed:\n{stderr[-3000:]}")
  return {"stdout": stdout, "stderr": stderr, "seconds": seconds}, memory


def cached_fraction(path):
  """The share of the file (or the folder's files) in the page cache, from fincore."""
  files = [path] if os.path.isfile(path) else [
      os.path.join(path, n) for n in os.listdir(path) if os.path.isfile(os.path.join(path, n))]
  resident = total = 0
  for name in files:
    try:
      out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE", name],
                           capture_output=True, text=True, check=True).stdout.split()
      resident, total = resident + int(out[0]), total + int(out[1])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
      return None
  return resident / total if total else None


def drop_from_cache(path):
  """posix_fadvise DONTNEED on the file or the folder's files: clean pages leave the cache."""
  files = [path] if os.path.isfile(path) else [
      os.path.join(path, n) for n in os.listdir(path) if os.path.isfile(os.path.join(path, n))]
  for name in files:
    fd = os.open(name, os.O_RDONLY)
    try:
      os.fdatasync(fd)
      os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
      os.close(fd)


def read_into_cache(path):
  files = [path] if os.path.isfile(path) else [
      os.path.join(path, n) for n in os.listdir(path) if os.path.isfile(os.path.join(path, n))]
  for name in files:
    with open(name, "rb") as f:
      while f.read(64 << 20):
        pass


def pipeline_child(name, path, batches, max_seconds):
  """In a fresh process: constructs the data set and times make_dataset's batches."""
  start = time.time()
  from zoo import data as zoo_data  # pylint: disable=g-import-not-at-top
  imported = time.time()
  data = zoo_data.get_dataset(name, path=path)
  constructed = time.time()
  iterator = iter(zoo_data.make_dataset(data, BATCH, seed=0))
  next(iterator)  # the first batch starts the pipeline's threads
  first = time.time()
  done = 0
  while done < batches and time.time() - first < max_seconds:
    next(iterator)
    done += 1
  elapsed = time.time() - first
  print(json.dumps({"construct_seconds": constructed - imported,
                    "first_batch_seconds": first - constructed,
                    "batches": done, "images_per_second": done * BATCH / elapsed,
                    "where": data.grid.description, "import_seconds": imported - start}))


def measure_pipeline(name, path, batches, max_seconds, cache=None, cached_path=None):
  if cache == "cold":
    drop_from_cache(cached_path)
  elif cache == "warm":
    read_into_cache(cached_path)
  before = cached_fraction(cached_path) if cached_path else None
  result, memory = run_measured([sys.executable, __file__, "--child_pipeline", name, path,
                                 str(batches), str(max_seconds)], data_root=path)
  out = json.loads(result["stdout"].strip().splitlines()[-1])
  out.update(memory)
  out["cached_before"] = before
  return out


def measure_training(name, path, steps, model_dir):
  bindings = ["model.name = 'beta_vae'", "beta_vae.beta = 4.0", "model.latent_dim = 10",
              "posterior.name = 'factorized'", "encoder.kind = 'conv64'",
              "decoder.kind = 'conv64'", f"dataset.name = '{name}'", f"{name}.path = '{path}'",
              f"training.num_steps = {steps}", f"training.batch_size = {BATCH}",
              f"training.checkpoint_every = {steps}", "training.log_every = 50"]
  command = [os.path.join(os.path.dirname(sys.executable), "zoo-train"),
             f"--model_dir={model_dir}"] + [f"--gin_bindings={b}" for b in bindings]
  result, memory = run_measured(command, data_root=path)
  with open(os.path.join(model_dir, "train_results.json")) as f:
    train_results = json.load(f)
  shutil.rmtree(model_dir, ignore_errors=True)
  memory.update(seconds=result["seconds"],
                training_images_per_second=train_results["images_per_second"])
  return memory


def measure_prepare(name, path):
  command = [os.path.join(os.path.dirname(sys.executable), "zoo-data"), "prepare",
             f"--dataset={name}", f"--path={path}", "--overwrite"]
  result, memory = run_measured(command)
  memory["seconds"] = result["seconds"]
  memory["summary"] = result["stdout"].strip().splitlines()[0]
  return memory


def size_of(path):
  if os.path.isfile(path):
    return os.path.getsize(path)
  return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path)
             if os.path.isfile(os.path.join(path, n)))


def benchmark(kind, work_dir, args):
  folder = os.path.join(work_dir, kind)
  os.makedirs(folder, exist_ok=True)
  file_name, writer = WRITERS[kind]
  path = os.path.join(folder, file_name)
  name = REGISTRY_NAME[kind]
  out = {"dataset": kind, "registry_name": name}
  if not os.path.exists(path):
    log(f"{kind}: writing {path}")
    start = time.time()
    writer(path)
    out["generate_seconds"] = time.time() - start
  out["published_bytes"] = size_of(path)
  log(f"{kind}: {out['published_bytes'] / 1e9:.2f} GB; pipeline on the published file")
  out["pipeline_published"] = measure_pipeline(name, path, args.pipeline_batches,
                                                args.max_seconds)
  if args.steps and "published" in TRAINED.get(kind, ()):
    # Before preparing: once the prepared layout is beside the file, the data set reads it.
    log(f"{kind}: {args.steps}-step zoo-train on the published file")
    out["train_published"] = measure_training(name, path, args.steps,
                                              os.path.join(work_dir, f"train_{kind}_published"))
  log(f"{kind}: zoo-data prepare")
  out["prepare"] = measure_prepare(name, path)
  prepared = os.path.join(folder if os.path.isfile(path) else path, f"zoo_prepared_"
                          f"{'dsprites' if kind.startswith('dsprites') else name}")
  images = os.path.join(prepared, "images.npy")
  out["prepared_bytes"] = os.path.getsize(images)
  for cache in ("cold", "warm"):
    log(f"{kind}: pipeline on the prepared layout, {cache} cache")
    out[f"pipeline_prepared_{cache}"] = measure_pipeline(name, prepared, args.pipeline_batches,
                                                         args.max_seconds, cache, images)
  if args.steps and "prepared" in TRAINED.get(kind, ()):
    log(f"{kind}: {args.steps}-step zoo-train on the prepared layout")
    out["train_prepared"] = measure_training(name, prepared, args.steps,
                                             os.path.join(work_dir, f"train_{kind}_prepared"))
  if not args.keep:
    shutil.rmtree(folder, ignore_errors=True)
  return out


def _rate(entry):
  return f"{entry['images_per_second']:,.0f}" if entry else "-"


def render(results):
  """The results as the markdown tables of docs/BENCHMARKS.md."""
  lines = [f"{results['cpu']}, {results['cores']} cores; load average before "
           f"{results['load_before']}, after {results['load_after']} ({results['started']}).",
           "", "| data set | published file | read directly: start, RssAnon, img/s | prepare "
           "| prepared, cold cache: img/s (data mapped) | prepared, warm: img/s | zoo-train "
           "200 steps: img/s, peak RssAnon, peak RssFile (data file's share) |",
           "|---|---|---|---|---|---|---|"]
  for d in results["datasets"]:
    published = d["pipeline_published"]
    trains = []
    for source in ("prepared", "published"):
      t = d.get(f"train_{source}")
      if t:
        trains.append(f"{source}: {t['training_images_per_second']:,.0f}, "
                      f"{t['peak_RssAnon_MB']:,.0f} MB, {t['peak_RssFile_MB']:,.0f} MB "
                      f"({t['peak_data_mapped_MB']:,.0f} MB)")
    cold, warm = d["pipeline_prepared_cold"], d["pipeline_prepared_warm"]
    lines.append(
        f"| {d['dataset']} | {d['published_bytes'] / 1e9:.2f} GB | "
        f"{published['construct_seconds']:.1f} s, {published['peak_RssAnon_MB']:,.0f} MB, "
        f"{_rate(published)} ({published['batches']} batches) | "
        f"{d['prepare']['seconds']:.0f} s, {d['prepared_bytes'] / 1e9:.2f} GB | "
        f"{_rate(cold)} ({cold['peak_data_mapped_MB']:,.0f} MB) | {_rate(warm)} | "
        f"{'; '.join(trains) or '-'} |")
  return "\n".join(lines)


def main():
  if len(sys.argv) > 1 and sys.argv[1] == "--render":
    with open(sys.argv[2]) as f:
      print(render(json.load(f)))
    return
  if len(sys.argv) > 1 and sys.argv[1] == "--child_pipeline":
    pipeline_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    return
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", required=True)
  parser.add_argument("--datasets", default=",".join(DATASETS))
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--pipeline_batches", type=int, default=1000000,
                      help="stop a pipeline measurement after this many batches")
  parser.add_argument("--max_seconds", type=float, default=20.0,
                      help="stop a pipeline measurement after this long (the usual end)")
  parser.add_argument("--keep", action="store_true", help="keep the generated files")
  parser.add_argument("--json", default=None, help="also write the results here")
  args = parser.parse_args()
  os.makedirs(args.work_dir, exist_ok=True)
  results = {"cpu": cpu_model(), "cores": usable_cores(), "load_before": load_average(),
             "started": time.strftime("%Y-%m-%d %H:%M:%S"), "datasets": []}
  for kind in args.datasets.split(","):
    results["datasets"].append(benchmark(kind, args.work_dir, args))
    results["datasets"][-1]["load_after"] = load_average()
    print(json.dumps(results["datasets"][-1], indent=1), flush=True)
  results["load_after"] = load_average()
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=1)
  print(json.dumps(results, indent=1))
  print(render(results))


if __name__ == "__main__":
  main()
