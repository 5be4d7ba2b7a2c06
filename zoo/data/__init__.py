"""Ground-truth data sets by registry name, and the tf.data pipeline that feeds training.

  data = get_dataset("dsprites", image_size=32)
  dataset = make_dataset(data, batch_size=64, seed=0)   # for model.fit or zoo.training

Each data set takes its own keyword arguments (`dataset_arguments(name)` lists them with their
defaults): `image_size` for the procedural dSprites, `path` (and `tfds_data_dir`) for the ones
read from published files, `num_factors`, `noise_std`, ... for `linear_gaussian`. The data
sets read from published files find them under DISENTANGLEMENT_LIB_DATA unless their `path` is
set, and read the memory-mapped layout `zoo-data prepare` writes when there is one
(`zoo.data.prepare`).
"""
import inspect

from zoo.data.cars3d import Cars3D
from zoo.data.dsprites import DSprites
from zoo.data.dsprites_file import DSpritesFile, DSpritesNoShape
from zoo.data.dsprites_variants import ColorDSprites, NoisyDSprites, ScreamDSprites
from zoo.data.ground_truth_data import GroundTruthData
from zoo.data.linear_gaussian import LinearGaussian
from zoo.data.mpi3d import MPI3DReal, MPI3DRealistic, MPI3DToy
from zoo.data.pipeline import make_dataset, make_pair_dataset
from zoo.data.shapes3d import Shapes3D
from zoo.data.smallnorb import SmallNORB

REGISTRY = {cls.name: cls for cls in (
    DSprites, DSpritesFile, DSpritesNoShape, ColorDSprites, NoisyDSprites, ScreamDSprites,
    Shapes3D, MPI3DToy, MPI3DRealistic, MPI3DReal, SmallNORB, Cars3D, LinearGaussian)}
DATASET_NAMES = tuple(REGISTRY)


def _check_name(name):
  if name not in REGISTRY:
    raise ValueError(f"name={name!r}: expected one of {sorted(REGISTRY)}")
  return REGISTRY[name]


def constructor_defaults(cls):
  """{argument: default} of a data set class's constructor."""
  return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
          if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD}


def dataset_arguments(name, **arguments):
  """{"name": name, every constructor argument}: `arguments` over the constructor's defaults,
  what `get_dataset(**dataset_arguments(...))` builds and a run records."""
  accepted = constructor_defaults(_check_name(name))
  unknown = sorted(set(arguments) - set(accepted))
  if unknown:
    raise ValueError(f"dataset {name!r}: unknown parameters {unknown}; expected some of "
                     f"{list(accepted)}")
  return dict(accepted, **arguments, name=name)


def get_dataset(name, **arguments):
  """The data set registered as `name`, built from its constructor arguments.

  Args:
    name: one of DATASET_NAMES.
    **arguments: the data set's own arguments (`dataset_arguments(name)` has them with their
      defaults), e.g. image_size=32 for dsprites.
  """
  arguments = dataset_arguments(name, **arguments)
  data = REGISTRY[name](**{k: v for k, v in arguments.items() if k != "name"})
  # What rebuilds it, for the records a model trained on it keeps (run configs, exports).
  data.arguments = arguments
  return data


__all__ = ["DATASET_NAMES", "REGISTRY", "GroundTruthData", "constructor_defaults",
           "dataset_arguments", "get_dataset", "make_dataset", "make_pair_dataset",
           "DSprites", "DSpritesFile", "DSpritesNoShape", "ColorDSprites", "NoisyDSprites",
           "ScreamDSprites", "Shapes3D", "MPI3DToy", "MPI3DRealistic", "MPI3DReal", "SmallNORB",
           "Cars3D", "LinearGaussian"]
