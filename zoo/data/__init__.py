"""Ground-truth data sets by registry name, and the tf.data pipeline that feeds training.

Each data set's own parameters are gin-configurable under its registry name
(`dsprites.image_size`, `shapes3d.path`, `linear_gaussian.noise_std`, ...). The data sets read
from published files find them under DISENTANGLEMENT_LIB_DATA unless their `path` is set, and
read the memory-mapped layout `zoo-data prepare` writes when there is one (`zoo.data.prepare`).
"""
import inspect

import gin

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


@gin.configurable("dataset")
def get_dataset(name=None, **overrides):
  """A GroundTruthData instance by registry name (gin: `dataset.name`).

  Args:
    name: one of REGISTRY's keys.
    **overrides: constructor arguments; they take precedence over gin bindings.
  """
  if name not in REGISTRY:
    raise ValueError(f"dataset.name={name!r}: expected one of {sorted(REGISTRY)}")
  cls = REGISTRY[name]
  accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
  unknown = sorted(set(overrides) - set(accepted))
  if unknown:
    raise ValueError(f"dataset {name!r}: unknown parameters {unknown}; expected some of {accepted}")
  return cls(**overrides)


__all__ = ["REGISTRY", "GroundTruthData", "get_dataset", "make_dataset", "make_pair_dataset",
           "DSprites", "DSpritesFile", "DSpritesNoShape", "ColorDSprites", "NoisyDSprites",
           "ScreamDSprites", "Shapes3D", "MPI3DToy", "MPI3DRealistic", "MPI3DReal", "SmallNORB",
           "Cars3D", "LinearGaussian"]
