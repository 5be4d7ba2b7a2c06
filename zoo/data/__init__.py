"""Ground-truth data sets by registry name, and the tf.data pipeline that feeds training.

  data = get_dataset("dsprites", image_size=32)
  dataset = make_dataset(data, batch_size=64, seed=0)   # for model.fit or zoo.training

Each data set takes its own keyword arguments (`dataset_arguments(name)` lists them with their
defaults): `image_size` for the dSprites variants, `path` and `factor_sizes` for the file-based
ones, `num_factors`, `noise_std`, ... for `linear_gaussian`.
"""
import inspect

from zoo.data.dsprites import ColorDSprites, DSprites, NoisyDSprites
from zoo.data.dsprites_file import DSpritesFile
from zoo.data.ground_truth_data import GroundTruthData
from zoo.data.linear_gaussian import LinearGaussian
from zoo.data.mpi3d import MPI3D
from zoo.data.pipeline import make_dataset, make_pair_dataset
from zoo.data.shapes3d import Shapes3D

REGISTRY = {cls.name: cls for cls in (DSprites, ColorDSprites, NoisyDSprites, DSpritesFile,
                                      Shapes3D, MPI3D, LinearGaussian)}
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
           "DSprites",
           "ColorDSprites", "NoisyDSprites", "DSpritesFile", "Shapes3D", "MPI3D",
           "LinearGaussian"]
