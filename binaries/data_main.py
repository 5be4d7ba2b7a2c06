"""zoo-data: prepares the published data-set files once, and says what is found where.

  zoo-data info
  zoo-data prepare --dataset=dsprites_file
  zoo-data prepare --dataset=shapes3d --path=/data/3dshapes.h5 --output_dir=/scratch/zoo
  zoo-data prepare --dataset=smallnorb --tfds_data_dir=~/tensorflow_datasets

`prepare` checks the published file (layout, and sha256 where one is published) and writes a
memory-mappable copy (`zoo_prepared_<key>/`) beside it, where the data sets find it, or into
--output_dir (then bind `<dataset>.path` to the folder it prints). Files are found as the data
sets find them: --path, else under $DISENTANGLEMENT_LIB_DATA. `info` lists every data set read
from files: where it looks, what it found, and whether it is prepared.
"""
import os
import sys
import time

from absl import app
from absl import flags

from common import cli
from common import io_utils

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", None, "prepare: the data set (dsprites_file, color_dsprites, "
                    "shapes3d, mpi3d_real, smallnorb, cars3d, ...); info: only this one.")
flags.DEFINE_string("path", None, "The published file or folder (default: found under "
                    "$DISENTANGLEMENT_LIB_DATA).")
flags.DEFINE_string("output_dir", None, "prepare: where the prepared folder goes (default: "
                    "beside the published file).")
flags.DEFINE_string("tfds_data_dir", None, "prepare: read the data set from this TFDS data "
                    "folder (array_record) instead of a file.")
flags.DEFINE_bool("overwrite", False, "prepare: write it again even if it is up to date.")

COMMANDS = ("prepare", "info")


class ProgressLine:
  """progress(stage, done, total) as one self-updating line on a terminal, else a line every
  10 seconds."""

  def __init__(self, stream=sys.stderr):
    self.stream = stream
    self.tty = stream.isatty()
    self.stage, self.started, self.shown = None, 0.0, 0.0

  def __call__(self, stage, done, total):
    now = time.time()
    if stage != self.stage:
      self.stage, self.started, self.shown = stage, now, 0.0
    if done < total and now - self.shown < (0.5 if self.tty else 10.0):
      return
    self.shown = now
    fraction = done / total if total else 1.0
    elapsed = now - self.started
    eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
    bar = "#" * int(30 * fraction)
    text = (f"[zoo-data] {stage} [{bar:<30}] {100 * fraction:5.1f}% "
            f"({done:,}/{total:,}) {_duration(elapsed)} elapsed, {_duration(eta)} left")
    if self.tty:
      self.stream.write("\r" + text + ("\n" if done >= total else ""))
    else:
      self.stream.write(text + "\n")
    self.stream.flush()


def _duration(seconds):
  return io_utils.format_duration(seconds)


def _megabytes(num_bytes):
  return f"{num_bytes / 1e6:,.1f} MB"


def print_info(prepare, dataset, path):
  root = os.environ.get("DISENTANGLEMENT_LIB_DATA")
  print(f"DISENTANGLEMENT_LIB_DATA={root}" if root else "DISENTANGLEMENT_LIB_DATA is not set")
  keys = list(prepare.FAMILIES) if dataset is None else [prepare.family_key(dataset,
                                                                            "--dataset")]
  rows = [prepare.describe(key, path, "--path") for key in keys]
  if dataset is None or dataset == "scream_dsprites":
    rows.append(prepare.describe_scream(None))
  for row in rows:
    print(f"\n{', '.join(row['datasets'])}: {row['what']}")
    if "error" in row:
      print(f"  not found: {row['error']}")
      continue
    published = row.get("published")
    print(f"  published: {published['path']} ({_megabytes(published['bytes'])})" if published
          else "  published: not there (only its prepared layout)")
    entry = row.get("prepared")
    if row["key"] == "scream":
      continue
    if entry is None:
      print(f"  prepared:  no (read directly; `zoo-data prepare --dataset={row['datasets'][0]}`"
            " writes a memory-mappable copy)")
    elif "error" in entry:
      print(f"  prepared:  {entry['path']} is damaged: {entry['error']}")
    else:
      state = "up to date" if entry["current"] else "out of date: the file changed since"
      sizes = " x ".join(str(s) for s in entry["factor_sizes"])
      print(f"  prepared:  {entry['path']} ({_megabytes(entry['bytes'])}, grid {sizes}, "
            f"{state})")


def main(argv):
  with cli.one_line_errors("zoo-data"):
    if len(argv) != 2 or argv[1] not in COMMANDS:
      raise cli.UsageError(f"expected one command, {' or '.join(COMMANDS)}; got "
                           f"{' '.join(argv[1:]) or 'none'}")
    # Imports after the flag checks keep `--help` and mistakes fast.
    from zoo.data import prepare  # pylint: disable=g-import-not-at-top
    if argv[1] == "info":
      print_info(prepare, FLAGS.dataset, FLAGS.path)
      return
    if not FLAGS.dataset:
      raise cli.UsageError("--dataset is required")
    prepare.family_key(FLAGS.dataset, "--dataset")
    result = prepare.prepare(FLAGS.dataset, path=FLAGS.path, output_dir=FLAGS.output_dir,
                             tfds_data_dir=FLAGS.tfds_data_dir, overwrite=FLAGS.overwrite,
                             progress=ProgressLine(), path_label="--path",
                             tfds_label="--tfds_data_dir", output_label="--output_dir")
  if result["status"] == "up to date":
    print(f"[zoo-data] {result['target']} is up to date ({result.get('note') or 'nothing to do'};"
          " --overwrite prepares it again)")
  else:
    checksum = result["checksum"]
    checked = (f", {checksum['algorithm']} matches the published file"
               if checksum and checksum.get("checked") else "")
    sizes = " x ".join(str(s) for s in result["factor_sizes"])
    print(f"[zoo-data] wrote {result['target']}: {result['images']:,} images (grid {sizes}), "
          f"{_megabytes(result['bytes'])}, in {_duration(result['seconds'])}{checked}")
  default = None
  if not FLAGS.output_dir and not FLAGS.tfds_data_dir:
    default = "the data sets find it beside the published file"
  print(f"[zoo-data] {default}" if default else
        f"[zoo-data] use it with --gin_bindings='{FLAGS.dataset}.path = \"{result['target']}\"'")


def run():
  app.run(main)


if __name__ == "__main__":
  run()
